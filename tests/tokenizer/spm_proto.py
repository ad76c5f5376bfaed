"""Writes a SentencePiece ModelProto (the .model file format) from a SentencePiece-style GGUF
vocab, so that the `sentencepiece` library can serve as the reference for GGUF vocabs that come
without test vectors. Only the fields the encoder reads are written, in protobuf wire format by
hand (sentencepiece's own _pb2 module needs the protobuf package, which tests do not install).

ModelProto: 1 pieces {1 piece, 2 score, 3 type}, 2 trainer_spec {3 model_type (2 = BPE),
35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id}, 3 normalizer_spec {1 name,
3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces}.
"""
import struct


def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint((field << 3) | wire)


def _bytes(field, data):
    return _key(field, 2) + _varint(len(data)) + data


def _int(field, v):
    return _key(field, 0) + _varint(v)


def _float(field, v):
    return _key(field, 5) + struct.pack("<f", v)


def model_proto(tokens, scores, types, unk_id, bos_id, eos_id, add_dummy_prefix):
    """tokens: list of bytes; types: GGUF token types (the same numbers as SentencePiece's)."""
    out = bytearray()
    for t, s, ty in zip(tokens, scores, types):
        out += _bytes(1, _bytes(1, t) + _float(2, s) + _int(3, ty))
    trainer = _int(3, 2) + _int(35, int(6 in types)) + _int(40, unk_id) + _int(41, bos_id) + _int(42, eos_id)
    out += _bytes(2, trainer)
    norm = _bytes(1, b"identity") + _int(3, int(add_dummy_prefix)) + _int(4, 0) + _int(5, 1)
    out += _bytes(3, norm)
    return bytes(out)


def from_gguf(path):
    """The ModelProto bytes for a GGUF with tokenizer.ggml.model "llama"."""
    import gguf
    r = gguf.GGUFReader(path)

    def arr(key):
        f = r.fields[key]
        return [f.parts[i] for i in f.data]

    def scalar(key, default):
        f = r.fields.get(key)
        return default if f is None else f.contents()

    tokens = [bytes(p) for p in arr("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in arr("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    unk = scalar("tokenizer.ggml.unknown_token_id", types.index(2) if 2 in types else 0)
    return model_proto(tokens, scores, types, unk, scalar("tokenizer.ggml.bos_token_id", 1),
                       scalar("tokenizer.ggml.eos_token_id", 2), scalar("tokenizer.ggml.add_space_prefix", True))
