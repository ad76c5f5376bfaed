"""Exact match on the shipped tokenizer test vectors (gguf-vocab/*.inp/.out).

The .inp file holds each test string followed by a line "__ggml_vocab_test__"; the .out file one
line per string with the ids, each preceded by a space. The ids were made without BOS, with
special tokens parsed (none of the strings contains one)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import make_vocab_gguf  # noqa: E402
import tokdrv  # noqa: E402

VOCAB_DIR = os.path.join(tokdrv.TESTDATA, "tokenizers", "gguf-vocab")
SEP = "\n__ggml_vocab_test__\n"


# Vocabularies shipped without vectors, tested with the vectors of a set that has the same tokens,
# merges and types (checked in test_shared_vocab): gpt-neox is the vocab of mpt (both are the
# gpt-neox-20b tokenizer), without a tokenizer.ggml.pre key, so it runs GPT-2's default
# pre-tokenizer; the inputs are all NFC, where mpt's NFC step changes nothing.
VECTORS_OF = {"gpt-neox": "mpt"}


def load_vectors(name):
    name = VECTORS_OF.get(name, name)
    raw = open(os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf.inp" % name), encoding="utf-8").read()
    assert raw.endswith(SEP)
    strings = raw[: -len(SEP)].split(SEP)
    lines = open(os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf.out" % name), encoding="utf-8").read()
    lines = lines.split("\n")
    assert lines[-1] == ""
    expected = [[int(x) for x in line.split()] for line in lines[:-1]]
    assert len(strings) == len(expected), (len(strings), len(expected))
    return strings, expected


def model_path(name):
    if name == "llama-bpe":
        return make_vocab_gguf.cached("llama3", tokdrv.TESTDATA, tokdrv.FIXTURES)
    if name in ("qwen2", "deepseek-r1-qwen"):
        # both sets are the Qwen 2 vocabulary (identical .out files), built from hf/qwen3
        return make_vocab_gguf.cached("qwen3", tokdrv.TESTDATA, tokdrv.FIXTURES)
    return os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf" % name)


VECTOR_SETS = ["llama-spm", "phi-3", "gpt-2", "llama-bpe", "falcon", "deepseek-llm", "deepseek-coder",
               "starcoder", "refact", "mpt", "gpt-neox", "qwen2", "deepseek-r1-qwen", "bert-bge"]


@pytest.mark.parametrize("name", VECTOR_SETS)
def test_vectors(name):
    strings, expected = load_vectors(name)
    res, _ = tokdrv.run(model_path(name), strings, special=True)
    bad = []
    for s, exp, (st, ids, _dec) in zip(strings, expected, res):
        if st != 0 or ids != exp:
            bad.append((s, exp, st, ids))
    print("%s: %d/%d strings match" % (name, len(strings) - len(bad), len(strings)))
    assert not bad, "\n".join("%r: expected %s got %s (status %d)" % (s, e, g, st) for s, e, st, g in bad[:10])


def _vocab_arrays(path):
    import gguf
    r = gguf.GGUFReader(path)
    out = []
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
        f = r.fields[key]
        out.append([bytes(f.parts[i]) for i in f.data])
    return out


@pytest.mark.parametrize("name", sorted(VECTORS_OF))
def test_shared_vocab(name):
    """The borrowed vectors are valid only if the two files hold the same vocabulary."""
    assert _vocab_arrays(model_path(name)) == _vocab_arrays(model_path(VECTORS_OF[name]))
    import unicodedata
    strings, _ = load_vectors(name)
    assert all(unicodedata.normalize("NFC", s) == s for s in strings)


def test_unknown_pre_tokenizer_is_unsupported(tmp_path):
    import gguf
    p = str(tmp_path / "bad-pre.gguf")
    w = gguf.GGUFWriter(p, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("no-such-pre")
    w.add_token_list(["a", "b", "ab"])
    w.add_token_types([1, 1, 1])
    w.add_token_merges(["a b"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    import subprocess
    r = subprocess.run([os.path.join(tokdrv.BIN_DIR, "tok_driver"), p, os.devnull, os.devnull],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "(5)" in r.stderr and "no-such-pre" in r.stderr, r.stderr
