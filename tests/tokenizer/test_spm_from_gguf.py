"""SentencePiece-style GGUF vocabs shipped without test vectors (baichuan) against the
`sentencepiece` library running a model built from the same GGUF (tests/tokenizer/spm_proto.py),
on the generated multilingual corpus. llama-spm, which has vectors, checks the builder: its
sentencepiece model must give the vectors' ids too."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
import spm_proto  # noqa: E402
import test_vectors  # noqa: E402
import tokdrv  # noqa: E402


def processor(name):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_proto=spm_proto.from_gguf(test_vectors.model_path(name)))


def test_builder_matches_vectors():
    sp = processor("llama-spm")
    strings, expected = test_vectors.load_vectors("llama-spm")
    assert [sp.encode(s) for s in strings] == expected


@pytest.mark.parametrize("name", ["baichuan", "llama-spm"])
def test_against_sentencepiece(name):
    sp = processor(name)
    strings = corpus.make()
    ref = [sp.encode(s) for s in strings]
    res, _ = tokdrv.run(test_vectors.model_path(name), strings, special=False)
    bad = [(s, r, ids, st) for s, r, (st, ids, _d) in zip(strings, ref, res) if st != 0 or ids != r]
    print("%s: %d/%d match" % (name, len(strings) - len(bad), len(strings)))
    assert not bad, "\n".join("%r\n  ref %s\n  got %s (status %d)" % b for b in bad[:8])
