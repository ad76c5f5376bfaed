"""Writes the token pieces of a Hugging Face tokenizer.json as the hex vocabulary file that
tests/grammar/grammar_bench (and grammar_walk) read: one line per token id, its bytes in hex;
an empty line for a token that adds no text (special tokens).

    python3 tests/grammar/vocab_from_hf.py ../shared/testdata/tokenizers/hf/gemma3/tokenizer.json /tmp/gemma3.hex

SentencePiece-style vocabularies (Gemma, Llama 2, Mistral): "▁" is a space and <0xXX> one byte;
byte-level BPE (Llama 3, Qwen): GPT-2's byte-to-unicode table is undone.
"""
import json
import sys


def gpt2_byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def pieces(tok):
    model = tok["model"]
    vocab = model["vocab"]
    if isinstance(vocab, list):  # Unigram: [piece, score]
        vocab = {p: i for i, (p, _) in enumerate(vocab)}
    byte_level = any(d.get("type") == "ByteLevel" for d in _decoders(tok))
    dec = gpt2_byte_decoder()
    special = {a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
    n = max(list(vocab.values()) + [a["id"] for a in tok.get("added_tokens", [])]) + 1
    out = [b""] * n
    for text, i in vocab.items():
        if i in special:
            continue
        if byte_level:
            out[i] = bytes(dec[c] for c in text if c in dec)
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            out[i] = bytes([int(text[3:5], 16)])
        else:
            out[i] = text.replace("\u2581", " ").encode("utf-8")
    for a in tok.get("added_tokens", []):
        if not a.get("special"):
            out[a["id"]] = a["content"].encode("utf-8")
    return out


def _decoders(tok):
    d = tok.get("decoder") or {}
    return d.get("decoders", [d])


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        tok = json.load(f)
    with open(sys.argv[2], "w") as f:
        for p in pieces(tok):
            f.write(p.hex() + "\n")
