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


def load_vectors(name):
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
    return os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf" % name)


@pytest.mark.parametrize("name", ["llama-spm", "phi-3", "gpt-2", "llama-bpe"])
def test_vectors(name):
    strings, expected = load_vectors(name)
    res, _ = tokdrv.run(model_path(name), strings, special=True)
    bad = []
    for s, exp, (st, ids, _dec) in zip(strings, expected, res):
        if st != 0 or ids != exp:
            bad.append((s, exp, st, ids))
    print("%s: %d/%d strings match" % (name, len(strings) - len(bad), len(strings)))
    assert not bad, "\n".join("%r: expected %s got %s (status %d)" % (s, e, g, st) for s, e, st, g in bad[:10])


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
