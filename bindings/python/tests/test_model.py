"""The Model: loading (path, bytes, reader), properties, metadata, tokenizer, errors, lifetimes.
Mostly on small generated models (fast)."""
import gc
import io
import os
import subprocess
import sys

import pytest

import libllm
from libllm import _ffi
from conftest import child_env, make_model


def test_import_and_version():
    assert libllm.library_version() == "0.1.0" or libllm.library_version().startswith("0.")
    assert libllm.library_version_number() // 10000 == _ffi.BINDING_LIBLLM_VERSION[0]
    assert libllm.status_str(libllm.Status.FORMAT)
    assert os.path.exists(libllm.library_path) or libllm.library_path.startswith("lib")


def test_version_mismatch_message():
    with pytest.raises(libllm.LibraryVersionError) as e:
        _ffi.check_version(10203, "/x/libllm.so")
    msg = str(e.value)
    assert "0.1.0" in msg and "1.2.3" in msg and "/x/libllm.so" in msg
    _ffi.check_version(_ffi.BINDING_LIBLLM_VERSION[0] * 10000 + 99 * 100 + 7)  # same major: accepted


def test_library_env_points_nowhere():
    env = child_env()
    env["LIBLLM_LIBRARY"] = "/nonexistent/libllm.so"
    r = subprocess.run([sys.executable, "-c", "import libllm"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "LIBLLM_LIBRARY" in r.stderr and "/nonexistent/libllm.so" in r.stderr


def test_every_prototype_is_declared():
    import re
    header = open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "llm.h")).read()
    names = set(re.findall(r"LLM_API[^;(]*?\b(llm_\w+)\s*\(", header))
    assert names and names <= set(_ffi._PROTOTYPES), names - set(_ffi._PROTOTYPES)


def test_load_path_properties(tiny_path):
    with libllm.Model(tiny_path) as m:
        assert m.architecture == "llama"
        assert m.n_vocab == 300 and m.n_embd == 64 and m.n_layer == 2 and m.n_ctx_train == 256
        assert m.n_params > 0 and m.size_bytes > 0
        assert m.token_bos == 1 and m.token_eos == 2 and m.token_is_eog(2) and not m.token_is_eog(5)
        assert m.model_id == os.path.basename(tiny_path)
        assert "llama" in repr(m)
    assert m.closed and "closed" in repr(m)
    with pytest.raises(libllm.StateError):
        m.n_vocab


def test_metadata(tiny_path):
    with libllm.Model(tiny_path) as m:
        md = m.metadata
        assert md["general.architecture"] == "llama"
        assert md["llama.embedding_length"] == 64 and isinstance(md["llama.embedding_length"], int)
        assert isinstance(md["llama.attention.layer_norm_rms_epsilon"], float)
        assert md["tokenizer.ggml.add_bos_token"] == 1
        assert md["tokenizer.chat_template"].startswith("{% for m in messages %}")
        keys = m.metadata_keys()
        assert "tokenizer.ggml.tokens" in keys and "tokenizer.ggml.tokens" not in md  # arrays left out
        assert set(md) <= set(keys)
        with pytest.raises(libllm.NotFoundError):
            m.metadata_value("no.such.key")
        with pytest.raises(libllm.TypeMismatchError):
            m.metadata_value("tokenizer.ggml.tokens")


def test_load_bytes_and_reader(tiny_path):
    data = open(tiny_path, "rb").read()
    with libllm.Model(tiny_path) as a, libllm.Model(data) as b, libllm.Model(bytearray(data)) as c, \
            open(tiny_path, "rb") as f, libllm.Model(f) as d, libllm.Model(io.BytesIO(data)) as e:
        for m in (b, c, d, e):
            assert m.metadata == a.metadata
            assert m.tokenize("abc def") == a.tokenize("abc def")
        sa, sb = a.session(temperature=0), b.session(temperature=0)
        assert sa.generate("abc", max_tokens=6) == sb.generate("abc", max_tokens=6)


def test_progress_and_log(tiny_path):
    seen, logs = [], []
    with libllm.Model(tiny_path, progress=seen.append, log=lambda lvl, msg: logs.append((lvl, msg))):
        pass
    assert seen and seen[-1] == pytest.approx(1.0)
    with pytest.raises(libllm.AbortedError):
        libllm.Model(tiny_path, progress=lambda p: False)


def test_load_errors(tmp_path, tiny_path):
    with pytest.raises(libllm.LlmIOError) as e:
        libllm.Model(str(tmp_path / "missing.gguf"))
    assert e.value.status == libllm.Status.IO and isinstance(e.value, OSError)
    assert "missing.gguf" in str(e.value) or e.value.message
    data = open(tiny_path, "rb").read()
    for cut in (3, 100, len(data) // 2, len(data) - 1):
        with pytest.raises(libllm.FormatError) as e:
            libllm.Model(data[:cut])
        assert e.value.status == libllm.Status.FORMAT and e.value.message
    with pytest.raises(libllm.FormatError):
        libllm.Model(b"not a gguf file at all" * 10)
    bad = tmp_path / "bad_arch.gguf"
    make_model(str(bad), "--arch", "llama", "--type", "F32", "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300",
               "--arch-name", "nosucharch")
    with pytest.raises(libllm.UnsupportedError):
        libllm.Model(str(bad))
    assert issubclass(libllm.FormatError, libllm.LlmError)


def test_tokenize_detokenize(tiny_path):
    with libllm.Model(tiny_path) as m:
        ids = m.tokenize("hello world")
        assert ids[0] == m.token_bos
        assert m.tokenize("hello world", add_bos=False) == ids[1:]
        assert m.detokenize(ids) == m.detokenize(ids[1:])
        assert m.tokenize(b"hello world") == ids
        long = "abc " * 5000  # bigger than the first buffer guess is not needed, but long input works
        assert len(m.tokenize(long)) > 1000
        assert isinstance(m.token_to_piece(ids[1]), bytes)
        with pytest.raises(libllm.InvalidUtf8Error) as e:
            m.tokenize(b"abc\xff\xfe")
        assert e.value.status == libllm.Status.INVALID_UTF8 and isinstance(e.value, ValueError)
        with pytest.raises(libllm.InvalidUtf8Error):
            m.tokenize("lone \udc80 surrogate")
        with pytest.raises(libllm.InvalidArgumentError):
            m.detokenize([10 ** 6])


def test_gemma_tokenizer_and_metadata(gemma):
    assert gemma.architecture == "gemma3"
    md = gemma.metadata
    assert md["general.architecture"] == "gemma3"
    assert md["gemma3.block_count"] == gemma.n_layer == 18
    ids = gemma.tokenize("Hello world")
    assert ids[0] == 2 and gemma.detokenize(ids) == "Hello world"
    assert gemma.tokenize("<start_of_turn>", add_bos=False, special=True) == [105]
    text = "Grüße, 世界! 🙂"
    assert gemma.detokenize(gemma.tokenize(text)) == text
    rendered = gemma.chat_render([{"role": "user", "content": "Hi"}])
    assert rendered.startswith("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")


def test_gc_of_model_with_live_sessions(tiny_path):
    m = libllm.Model(tiny_path)
    s1, s2 = m.session(temperature=0), m.session(temperature=0)
    del m
    gc.collect()
    assert s1.generate("abc", max_tokens=4) == s2.generate("abc", max_tokens=4)  # the sessions keep it alive
    model_handle = s1.model._h
    del s1
    gc.collect()
    assert model_handle.ptr
    del s2
    gc.collect()
    assert model_handle.ptr is None  # freed once the last session went away


def test_close_model_closes_sessions(tiny_path):
    m = libllm.Model(tiny_path)
    s = m.session()
    m.close()
    assert s.closed and m.closed
    with pytest.raises(libllm.StateError):
        s.generate("x", max_tokens=2)
    s.close()
    m.close()  # idempotent
    gc.collect()


def test_cycles_and_interpreter_exit(tiny_path):
    code = f"""
import gc, libllm
m = libllm.Model({tiny_path!r})
sessions = [m.session(temperature=0) for _ in range(3)]
sessions[0].generate("abc", max_tokens=3)
class Holder: pass
h = Holder(); h.self = h; h.model = m; h.s = sessions[1]; sessions[1].holder = h  # a cycle through both
del h
keep = (m, sessions)   # still alive at exit: freed by the finalizers at interpreter shutdown
it = sessions[2].generate("abc", max_tokens=50, stream=True)
next(it)              # a generator left suspended at exit
print("ok")
"""
    r = subprocess.run([sys.executable, "-X", "dev", "-c", code], env=child_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert "Exception ignored" not in r.stderr, r.stderr


def test_options_bounds():
    lo, hi = libllm.Options.bounds(libllm.Option.TOP_P)
    assert 0 <= lo < hi <= 1
    o = libllm.Options()
    o.set(libllm.Option.TEMPERATURE, 0.5)
    assert o.get(libllm.Option.TEMPERATURE) == 0.5
    with pytest.raises(libllm.InvalidArgumentError):
        o.set(libllm.Option.TOP_P, 7.0)
    o.close()


def test_quantize_errors_and_isa(tmp_path):
    import libllm
    with pytest.raises(libllm.LlmError) as e:
        libllm.quantize(str(tmp_path / "missing.gguf"), str(tmp_path / "out.gguf"), "Q8_0")
    assert "missing.gguf" in e.value.message
    with pytest.raises(libllm.InvalidArgumentError):
        libllm.quantize(str(tmp_path / "missing.gguf"), str(tmp_path / "out.gguf"), "Q9_9")
