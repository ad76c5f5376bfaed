"""The architectures beyond llama/gemma3 (qwen2, qwen3, gemma2, phi3, Mistral-style llama) and
the rope scalings (YaRN, longrope, attention factor) against the independent numpy reference,
their error paths, and what `llm info` prints for them.

Same method and tolerance as test_forward.py (whose helpers this file uses): random models from
tests/tools/make_model.py, the logits of every position from build/forward_driver compared with
tests/reference/numpy_model.py, max |diff| / max |ref| < 1e-4, for every weight type. Each case
runs the prompt as a 5-token prefill then token by token, and as one 2-thread call; TOKENS (12)
is longer than the sliding windows used here (4 or 5), and the long cases (600 tokens: more than
one 512-token chunk, windows of 70 and 200 across the 64-key attention blocks) check the window
and the long-rope factors at scale.
"""
import os
import subprocess

import numpy as np
import pytest

from test_forward import (BIN, DRIVER, K_TYPES, REL_TOL, TOKENS, TYPES, compare, make,  # noqa: E402
                          numpy_model, run_driver)

LLM = os.path.join(BIN, "llm")


def shapes(arch, qtype):
    """Small shapes whose rows fit the type's block (256 for K-quants). qwen3 and gemma2 use a
    head size other than n_embd / n_head, as the real models do."""
    k = qtype in K_TYPES
    args = ["--n-embd", "256" if k else "128", "--n-ff", "512" if k else "256",
            "--n-vocab", "512" if k else "384", "--n-head", "4"]
    odd_head = arch in ("qwen3", "gemma2")
    args += ["--head-dim", ("128" if odd_head else "64") if k else ("48" if odd_head else "32")]
    return args


def variant(arch, qtype):
    """Per-type variations, so that across the types every option of an architecture is met."""
    i = TYPES.index(qtype)
    extra = ["--n-head-kv", "1" if i % 3 == 0 else "2"]
    if arch == "qwen2":
        extra += ["--rope-base", "1000000"]
        if i % 2 == 0:
            extra += ["--untied"]
        if i % 4 == 1:
            extra += ["--rope-yarn", "4", "--orig-ctx", "64"]
    elif arch == "qwen3":
        extra += ["--rope-base", "1000000"]
        if i % 4 == 2:
            extra += ["--rope-yarn", "8", "--orig-ctx", "128", "--yarn-beta-fast", "16", "--yarn-beta-slow", "2"]
        if i % 4 == 3:
            extra += ["--n-rot", "32"]
    elif arch == "gemma2":
        extra += ["--window", "4"]
        if i % 2 == 0:  # caps that bite on these small random models (else the defaults 50 / 30)
            extra += ["--attn-softcap", "0.8", "--final-softcap", "0.5"]
    elif arch == "phi3":
        extra += ["--rope-factors", "--orig-ctx", "8", "--attn-factor", "1.19"]  # 12 tokens > 8: long
        if i % 2 == 1:
            extra += ["--window", "5"]
        if i % 4 == 2:
            extra += ["--separate-qkv"]
        if i % 4 == 3:
            extra += ["--n-rot", "16"]  # partial rotary, like Phi-4 mini
    elif arch == "mistral":
        extra += ["--window", "5"]
        if i % 2 == 1:
            extra += ["--rope-yarn", "8", "--orig-ctx", "64"]
    return extra


ARCHS = ["qwen2", "qwen3", "gemma2", "phi3", "mistral"]
CASES = [(a, t) for a in ARCHS for t in TYPES]


def arch_flag(arch):
    return "llama" if arch == "mistral" else arch


@pytest.mark.parametrize("arch,qtype", CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_architecture_vs_reference(arch, qtype):
    extra = variant(arch, qtype)
    model = make(f"arch_{arch}_{qtype}", "--arch", arch_flag(arch), "--type", qtype,
                 "--seed", str(7 + TYPES.index(qtype)), *shapes(arch, qtype), *extra)
    ref = numpy_model.forward(model, TOKENS)
    split, _ = run_driver(model, TOKENS, "--split", "5")
    whole, _ = run_driver(model, TOKENS, "--threads", "2")
    compare(f"{arch}/{qtype} split {' '.join(extra)}", split, ref, REL_TOL)
    compare(f"{arch}/{qtype} whole", whole, ref, REL_TOL)


def test_phi3_long_short_switch():
    """The long factors are used when the session's context exceeds the original context length
    (16 here), the short ones otherwise; and the two give different results."""
    model = make("phi3_switch", "--arch", "phi3", "--type", "F32", *shapes("phi3", "F32"), "--rope-factors",
                 "--orig-ctx", "16", "--attn-factor", "1.19", "--n-rot", "16")
    short_ref = numpy_model.forward(model, TOKENS, n_ctx=16)
    long_ref = numpy_model.forward(model, TOKENS, n_ctx=17)
    short, _ = run_driver(model, TOKENS, "--ctx", "16", "--split", "3")
    long_, _ = run_driver(model, TOKENS, "--ctx", "17", "--split", "3")
    compare("phi3 ctx 16 (short factors)", short, short_ref, REL_TOL)
    compare("phi3 ctx 17 (long factors)", long_, long_ref, REL_TOL)
    assert np.abs(short_ref - long_ref).max() > 100 * REL_TOL * np.abs(short_ref).max()


def test_llama3_rope_freqs_match_hf_definition():
    """Llama 3.1 files carry rope_freqs.weight; with the divisors the converter derives from
    rope_scaling (factor 8, low 1, high 4, original context 64 so that the three regimes occur
    in a small head), the C forward pass matches the reference run with HF's llama3 frequencies."""
    model = make("llama3_rope", "--arch", "llama", "--type", "F32", *shapes("llama", "F32"),
                 "--rope-base", "10000", "--rope-llama3", "8,1,4,64")
    ref_model = numpy_model.Model(model)
    ref_model.inv_freq_override = numpy_model.hf_llama3_inv_freq(10000.0, 32, 8.0, 1.0, 4.0, 64.0)
    ref = ref_model.forward(TOKENS)
    got, _ = run_driver(model, TOKENS, "--split", "4")
    compare("llama3 rope_freqs vs HF llama3", got, ref, REL_TOL)
    plain = numpy_model.Model(model)
    plain.inv_freq_override = 1.0 / (10000.0 ** (np.arange(0, 32, 2) / 32))
    assert np.abs(plain.forward(TOKENS) - ref).max() > 100 * REL_TOL * np.abs(ref).max()


@pytest.mark.parametrize("arch,n_layer", [("gemma2", 46), ("gemma3", 62)])
def test_gemma_27b_query_scale(arch, n_layer):
    """The 27B Gemmas scale queries by 1/sqrt(n_embd / n_head) (query_pre_attn_scalar), not by
    1/sqrt(head_dim); the GGUF does not say so, the depth identifies them."""
    model = make(f"deep_{arch}", "--arch", arch, "--type", "F16", "--n-layer", str(n_layer), "--n-embd", "128",
                 "--n-head", "4", "--head-dim", "48", "--n-ff", "128", "--n-vocab", "300", "--window", "4")
    ref = numpy_model.forward(model, TOKENS[:8])
    got, _ = run_driver(model, TOKENS[:8], "--split", "4")
    compare(f"{arch} {n_layer} layers", got, ref, REL_TOL)
    head_dim_scaled = numpy_model.Model(model)
    head_dim_scaled.q_scale = 1.0 / np.sqrt(48)  # what the other sizes use: must differ here
    assert np.abs(head_dim_scaled.forward(TOKENS[:8]) - ref).max() > 100 * REL_TOL * np.abs(ref).max()


LONG = [
    ("mistral", ["--arch", "llama", "--window", "70"]),
    ("gemma2", ["--arch", "gemma2", "--window", "70", "--attn-softcap", "0.8", "--final-softcap", "0.5"]),
    ("phi3", ["--arch", "phi3", "--window", "200", "--rope-factors", "--orig-ctx", "256", "--attn-factor", "1.1"]),
    ("qwen2", ["--arch", "qwen2", "--rope-yarn", "4", "--orig-ctx", "256", "--rope-base", "1000000"]),
]


@pytest.mark.parametrize("name,args", LONG, ids=[n for n, _ in LONG])
def test_long_context(name, args):
    """600 tokens (two chunks) against the reference, in one call and as 590 + 10 decode steps."""
    model = make(f"long_{name}", "--type", "F32", "--ctx", "1024", *shapes(name, "F32"), *args)
    rng = np.random.default_rng(11)
    toks = [int(t) for t in rng.integers(0, 384, 600)]
    ref = numpy_model.forward(model, toks)
    got, _ = run_driver(model, toks, "--threads", "2")
    compare(f"{name} 600 tokens", got, ref, REL_TOL)
    got2, _ = run_driver(model, toks, "--threads", "2", "--split", "590")
    compare(f"{name} 600 tokens split", got2, ref, REL_TOL)


@pytest.mark.parametrize("arch", ["gemma2", "phi3", "qwen2"])
def test_threads_identical(arch):
    model = make(f"threads_{arch}", "--arch", arch, "--type", "Q8_0", *shapes(arch, "Q8_0"), *variant(arch, "Q4_0"))
    for split in ("12", "1"):
        a, _ = run_driver(model, TOKENS, "--threads", "1", "--split", split)
        b, _ = run_driver(model, TOKENS, "--threads", "2", "--split", split)
        assert np.array_equal(a, b), f"{arch}: 1 and 2 threads differ (split {split})"


BAD = [
    ("qwen2_no_bias", "qwen2", ["--drop", "blk.1.attn_k.bias"], "FORMAT", "blk.1.attn_k.bias"),
    ("qwen2_bias_shape", "qwen2", ["--shape", "blk.0.attn_q.bias=64"], "FORMAT", "blk.0.attn_q.bias"),
    ("qwen3_no_knorm", "qwen3", ["--drop", "blk.0.attn_k_norm.weight"], "FORMAT", "blk.0.attn_k_norm.weight"),
    ("gemma2_no_post", "gemma2", ["--drop", "blk.3.post_ffw_norm.weight"], "FORMAT", "blk.3.post_ffw_norm.weight"),
    ("gemma2_nan_cap", "gemma2", ["--set", "gemma2.attn_logit_softcapping=f32:nan"], "FORMAT",
     "attn_logit_softcapping"),
    ("gemma2_neg_cap", "gemma2", ["--set", "gemma2.final_logit_softcapping=f32:-1"], "FORMAT",
     "final_logit_softcapping"),
    ("phi3_qkv_shape", "phi3", ["--shape", "blk.0.attn_qkv.weight=128,200"], "FORMAT", "blk.0.attn_qkv.weight"),
    ("phi3_no_qkv", "phi3", ["--drop", "blk.1.attn_qkv.weight"], "FORMAT", "blk.1.attn_qkv.weight"),
    ("phi3_up_not_fused", "phi3", ["--shape", "blk.0.ffn_up.weight=128,256"], "FORMAT", "blk.0.ffn_up.weight"),
    ("phi3_factor_len", "phi3", ["--rope-factors", "--shape", "rope_factors_long.weight=8"], "FORMAT",
     "rope_factors_long.weight"),
    ("yarn_zero_factor", "qwen2", ["--rope-yarn", "4", "--set", "qwen2.rope.scaling.factor=f32:0"], "FORMAT",
     "rope.scaling.factor"),
    ("yarn_bad_orig", "qwen3", ["--rope-yarn", "4", "--set", "qwen3.rope.scaling.original_context_length=u32:0"],
     "FORMAT", "original_context_length"),
    ("bad_attn_factor", "phi3", ["--set", "phi3.rope.scaling.attn_factor=str:x"], "FORMAT", "attn_factor"),
    ("window_wrong_type", "llama", ["--set", "llama.attention.sliding_window=str:x"], "FORMAT", "sliding_window"),
    ("unknown_arch", "qwen2", ["--arch-name", "qwen2moe"], "UNSUPPORTED", "unknown architecture 'qwen2moe'"),
]


@pytest.mark.parametrize("name,arch,args,status,text", BAD, ids=[b[0] for b in BAD])
def test_bad_models(name, arch, args, status, text):
    model = make("badarch_" + name, "--arch", arch, "--type", "F32", *shapes(arch, "F32"), *args)
    p = subprocess.run([DRIVER, model, "--tokens", "1,2,3"], capture_output=True, text=True)
    print(name, "->", p.stderr.strip())
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert f"error: {status} " in p.stderr and text in p.stderr, p.stderr


INFO = [
    ("qwen2", [], {"architecture:   qwen2", "layers:         2", "embedding size: 128",
                   "qwen2.rope.freq_base = 1e+06"}),
    ("qwen3", ["--rope-yarn", "4", "--orig-ctx", "64"], {"architecture:   qwen3", "qwen3.attention.key_length = 48",
                                                          "qwen3.rope.scaling.type = yarn",
                                                          "qwen3.rope.scaling.original_context_length = 64"}),
    ("gemma2", ["--attn-softcap", "50", "--final-softcap", "30"], {
        "architecture:   gemma2", "layers:         4", "gemma2.attention.sliding_window = 4",
        "gemma2.attn_logit_softcapping = 50", "gemma2.final_logit_softcapping = 30"}),
    ("phi3", ["--rope-factors", "--orig-ctx", "8", "--attn-factor", "1.5", "--ctx", "4096"], {
        "architecture:   phi3", "context length: 4096", "phi3.rope.scaling.original_context_length = 8",
        "phi3.rope.scaling.attn_factor = 1.5"}),
    ("mistral", ["--window", "5"], {"architecture:   llama", "llama.attention.sliding_window = 5"}),
]


@pytest.mark.parametrize("arch,args,expect", INFO, ids=[i[0] for i in INFO])
def test_llm_info(arch, args, expect):
    if not os.path.exists(LLM):
        pytest.fail(f"llm binary not found at {LLM} (build the llm-cli target)")
    extra = ["--rope-base", "1000000"] if arch == "qwen2" else []
    model = make(f"info_{arch}", "--arch", arch_flag(arch), "--type", "Q8_0", *shapes(arch, "Q8_0"), *extra, *args)
    r = subprocess.run([LLM, "info", "-m", model], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for line in expect:
        assert line in r.stdout, f"{line!r} not in:\n{r.stdout}"


def test_llm_info_unsupported_architecture():
    model = make("info_unsupported", "--arch", "llama", "--type", "F32", *shapes("llama", "F32"),
                 "--arch-name", "mamba")
    r = subprocess.run([LLM, "info", "-m", model], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "mamba" in r.stderr and "architecture" in r.stderr, r.stderr
