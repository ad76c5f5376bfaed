"""Kernel layer against an independent reference: the numpy (de)quantizers of the `gguf` Python
package, and float64 numpy arithmetic.

Everything goes through the C driver ${LLM_BIN_DIR}/llm_kern_driver (tests/kernels/kern_driver.c),
which reads raw blocks / float32 arrays from files and writes float32 results.

Tolerances and why:
  * llm_dequantize_row: BITWISE equal to gguf.quants.dequantize. Both compute each value with the
    same f32 operations in the same order (f16 -> f32 is exact; e.g. Q4_K is (d*sc)*q - dmin*m,
    one IEEE rounding per operation in both), and C is built with -std=c11, so no FMA
    contraction. Signed zeros included (compared as uint32 bits).
  * llm_vec_dot and llm_matmul with n_tok == 1: BITWISE equal to a numpy float32 emulation of the
    documented reference order (kernels/cpu/scalar/scalar.h: groups of 32; in each group 16
    lanes, lane k adding elements k and k+16 and adding that to its running total; the 16
    totals combined pairwise in a fixed order), and within the rigorous error bound of that
    order against the float64 dot of the dequantized weights:
        |c - ref| <= (ceil(n/32) + 7) * 2^-24 * sum|w*x|
    (one rounding per product, 1 add inside a lane, at most ceil(n/32) - 1 inexact adds into a
    lane total, 4 combination adds: gamma(ceil(n/32) + 5); +2 covers the 1/(1 - m u) factor).
  * llm_matmul with n_tok >= 2 (BLIS sgemm on dequantized tiles; summation order is BLIS's):
    the general bound for any order of a float32 dot of k = cols terms,
        |c - ref| <= (cols + 2) * 2^-24 * sum|w*x|,
    and bitwise identical results for no pool, 1, 2 and 3 threads (and for two calls on one pool).
  * rmsnorm: double accumulation, then three f32 roundings: rtol 1e-6 (~8 ulp).
  * softmax: expf (< 1 ulp), double sum, one reciprocal and one product: rtol 2e-6.
  * silu: expf, one add, one divide: rtol 1e-6 (+ 1e-30 absolute for results that underflow).
  * gelu_tanh: 1 + tanh(z) cancels for very negative x, so the error is absolute in terms of x:
        |c - ref| <= 1e-6 * |ref| + 4e-7 * |x|.
"""
import os
import subprocess
import tempfile

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import quants

BIN = os.path.join(os.environ.get("LLM_BIN_DIR", ""), "llm_kern_driver")
FIX = os.path.join(os.environ.get("LLM_FIXTURES", tempfile.gettempdir()), "kernels")
U = 2.0 ** -24

# name: (type id, block elements, bytes per block, byte offsets of the f16 scale fields,
#        gguf can quantize it)
TYPES = {
    "F32": (0, 1, 4, [], True),
    "F16": (1, 1, 2, [], True),
    "BF16": (30, 1, 2, [], True),
    "Q4_0": (2, 32, 18, [0], True),
    "Q4_1": (3, 32, 20, [0, 2], True),
    "Q5_0": (6, 32, 22, [0], True),
    "Q5_1": (7, 32, 24, [0, 2], True),
    "Q8_0": (8, 32, 34, [0], True),
    "Q4_K": (12, 256, 144, [0, 2], False),
    "Q5_K": (13, 256, 176, [0, 2], False),
    "Q6_K": (14, 256, 210, [208], False),
}


def setup_module():
    os.makedirs(FIX, exist_ok=True)
    assert os.path.exists(BIN), f"{BIN} not built (cmake --build ... --target llm_kern_driver)"


def run(*args):
    r = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True)
    assert r.returncode == 0, f"driver {args} failed ({r.returncode}): {r.stderr}"
    return r.stdout


def path(name):
    return os.path.join(FIX, name)


def save(name, arr):
    p = path(name)
    np.ascontiguousarray(arr).tofile(p)
    return p


def load_f32(p):
    return np.fromfile(p, dtype=np.float32)


def random_f16(rng, n):
    """Finite f16 scales over a wide range, both signs, including subnormals and zero."""
    mag = rng.uniform(0.5, 2.0, n) * 10.0 ** rng.uniform(-7, 0, n)
    v = (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)
    v[rng.random(n) < 0.02] = 0
    return v


def raw_blocks(name, rows, cols, rng):
    """Random raw blocks: every bit pattern of the quants, valid finite f16 scales."""
    tid, bs, ts, f16_offs, _ = TYPES[name]
    if name in ("F16", "BF16"):
        bits = rng.integers(0, 1 << 16, rows * cols, dtype=np.uint32).astype(np.uint16)
        exp_mask = 0x7C00 if name == "F16" else 0x7F80
        bits[(bits & exp_mask) == exp_mask] &= np.uint16(~0x4000 & 0xFFFF)  # no inf / nan
        return bits.view(np.uint8).reshape(rows, -1)
    if name == "F32":
        return rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint8)
    nb = rows * cols // bs
    blk = rng.integers(0, 256, (nb, ts), dtype=np.uint16).astype(np.uint8)
    for off in f16_offs:
        blk[:, off:off + 2] = random_f16(rng, nb).view(np.uint8).reshape(nb, 2)
    return blk.reshape(rows, -1)


def quantized(name, rows, cols, rng):
    """gguf-quantized random data where gguf can quantize the type, raw blocks otherwise."""
    tid, bs, ts, _, can_q = TYPES[name]
    if not can_q:
        return raw_blocks(name, rows, cols, rng)
    data = (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 3, (rows, 1))).astype(np.float32)
    q = quants.quantize(data, QT[name])
    return np.ascontiguousarray(q).view(np.uint8).reshape(rows, -1)


def gguf_dequant(name, blocks, rows, cols):
    if name in ("F32", "F16"):
        dt = np.float32 if name == "F32" else np.float16
        return blocks.reshape(-1).view(dt).astype(np.float32).reshape(rows, cols)
    return quants.dequantize(blocks, QT[name]).astype(np.float32).reshape(rows, cols)


def emulate_ref_dot(w, x):
    """float32 emulation of the reference order of kernels/cpu/scalar/scalar.h, vectorised over
    rows: w (rows, n), x (n,). Groups of 32; in each, lane k (0..15) adds a[b+k] + a[b+k+16]
    (those that exist) and adds that to its running total T_k (from +0.0); then
    u_k = T_k + T_{k+8} and the result is ((u0+u4)+(u2+u6)) + ((u1+u5)+(u3+u7))."""
    rows, n = w.shape
    a = w.astype(np.float32) * x.astype(np.float32)  # one rounding per product
    t = np.zeros((16, rows), np.float32)
    for g in range(0, n, 32):
        for k in range(16):
            if g + k >= n:
                continue
            p = a[:, g + k]
            if g + k + 16 < n:
                p = p + a[:, g + k + 16]
            t[k] = t[k] + p
    u = t[:8] + t[8:]
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]))


def cols_for(name):
    bs = TYPES[name][1]
    return {1: 417, 32: 32 * 13, 256: 512}[bs]


@pytest.mark.parametrize("name", list(TYPES))
@pytest.mark.parametrize("source", ["gguf_quantize", "raw_blocks"])
def test_dequantize_exact(name, source):
    rng = np.random.default_rng([TYPES[name][0], source == "raw_blocks"])
    rows, cols = 24, cols_for(name)
    gen = quantized if source == "gguf_quantize" else raw_blocks
    blocks = gen(name, rows, cols, rng)
    ref = gguf_dequant(name, blocks, rows, cols).reshape(-1)
    assert np.all(np.isfinite(ref))
    src = save(f"deq_{name}_{source}.bin", blocks)
    out = path(f"deq_{name}_{source}.out")
    run("dequant", TYPES[name][0], rows * cols, src, out)
    got = load_f32(out)
    assert got.shape == ref.shape
    bad = np.nonzero(got.view(np.uint32) != ref.view(np.uint32))[0]
    assert bad.size == 0, f"{bad.size} mismatches, first at {bad[0]}: {got[bad[0]]!r} vs {ref[bad[0]]!r}"


def test_f16_to_f32_all():
    """The branch-free inline conversion the kernels use equals the out-of-line one bit for bit
    on all 65536 inputs (NaN payloads included), and both equal numpy's exact f16 -> f32
    conversion on every non-NaN input."""
    out = path("f16_all.out")
    run("f16", out)
    got = np.fromfile(out, dtype=np.uint32)
    inline, outofline = got[:65536], got[65536:]
    assert np.array_equal(inline, outofline)
    ref = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    nan = np.isnan(ref)
    assert np.array_equal(inline[~nan], ref[~nan].view(np.uint32))
    assert np.all(np.isnan(inline[nan].view(np.float32)))


def dot_bound(w, x):
    n = w.shape[1]
    s = np.abs(w.astype(np.float64)) @ np.abs(x.astype(np.float64))
    return (-(-n // 32) + 7) * U * s


@pytest.mark.parametrize("name", list(TYPES))
def test_vec_dot(name):
    rng = np.random.default_rng(100 + TYPES[name][0])
    rows, cols = 37, cols_for(name)
    blocks = quantized(name, rows, cols, rng)
    w = gguf_dequant(name, blocks, rows, cols)
    x = rng.standard_normal(cols).astype(np.float32)
    run("vecdot", TYPES[name][0], rows, cols, save(f"vd_{name}.w", blocks), save(f"vd_{name}.x", x),
        path(f"vd_{name}.out"))
    got = load_f32(path(f"vd_{name}.out"))
    ref = w.astype(np.float64) @ x.astype(np.float64)
    assert np.all(np.abs(got - ref) <= dot_bound(w, x)), "outside the float32 error bound"
    emu = emulate_ref_dot(w, x)
    assert np.array_equal(got.view(np.uint32), emu.view(np.uint32)), "not in the documented order"


MATMUL_TYPES = list(TYPES)


@pytest.mark.parametrize("name", MATMUL_TYPES)
def test_matmul(name):
    rng = np.random.default_rng(200 + TYPES[name][0])
    tid = TYPES[name][0]
    # 300 rows: with cols <= 8192 the prefill tiles are 128 rows, so 3 tiles (128, 128, 44)
    # split unevenly over 2 and 3 threads; 67 rows for the decode path's uneven row split.
    for rows in (67, 300):
        cols = cols_for(name)
        blocks = quantized(name, rows, cols, rng)
        w = gguf_dequant(name, blocks, rows, cols)
        wp = save(f"mm_{name}_{rows}.w", blocks)
        for ntok in (1, 2, 7, 33):
            x = rng.standard_normal((ntok, cols)).astype(np.float32)
            xp = save(f"mm_{name}_{rows}_{ntok}.x", x)
            outs = []
            for nth in (0, 1, 2, 3):
                op = path(f"mm_{name}_{rows}_{ntok}_{nth}.out")
                run("matmul", tid, rows, cols, ntok, nth, wp, xp, op)
                outs.append(load_f32(op).reshape(ntok, rows))
            for o in outs[1:]:
                assert np.array_equal(o.view(np.uint32), outs[0].view(np.uint32)), \
                    f"thread count changes the result (rows={rows}, ntok={ntok})"
            got = outs[0]
            ref = x.astype(np.float64) @ w.astype(np.float64).T
            absum = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
            if ntok == 1:
                assert np.all(np.abs(got - ref) <= (-(-cols // 32) + 7) * U * absum)
                emu = emulate_ref_dot(w, x[0])
                assert np.array_equal(got[0].view(np.uint32), emu.view(np.uint32)), \
                    "decode path is not llm_vec_dot's order"
            else:
                err = np.abs(got - ref)
                lim = (cols + 2) * U * absum
                assert np.all(err <= lim), f"ntok={ntok}: worst err/bound {np.max(err / lim):.3g}"


def test_info():
    out = run("info").splitlines()
    assert out[0] in ("scalar", "avx2", "avx512", "amx", "neon"), out[0]  # the best path this CPU runs
    assert out[1].startswith("BLIS ") and "oneDNN " in out[1], out[1]


@pytest.mark.parametrize("with_weight", [False, True])
def test_rmsnorm(with_weight):
    rng = np.random.default_rng(7)
    n, eps = 1000, 1e-5
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    wt = rng.standard_normal(n).astype(np.float32)
    out = path("rms.out")
    run("rmsnorm", n, repr(eps), save("rms.x", x), save("rms.w", wt) if with_weight else "-", out)
    got = load_f32(out)
    x64 = x.astype(np.float64)
    # eps as the driver parses it: a float32
    ref = x64 / np.sqrt(np.mean(x64 * x64) + float(np.float32(eps)))
    if with_weight:
        ref = ref * wt
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", ["normal", "large", "masked", "single"])
def test_softmax(case):
    rng = np.random.default_rng(8)
    if case == "normal":
        x = (rng.standard_normal(777) * 4).astype(np.float32)
    elif case == "large":  # would overflow expf without the max subtraction
        x = (1000 + rng.standard_normal(100) * 20).astype(np.float32)
    elif case == "masked":
        x = rng.standard_normal(64).astype(np.float32)
        x[::3] = -np.inf
    else:
        x = np.array([3.5], np.float32)
    out = path("sm.out")
    run("softmax", x.size, save("sm.x", x), out)
    got = load_f32(out)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max())
    ref = e / e.sum()
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-37)
    if case == "masked":
        assert np.all(got[::3] == 0)


def test_softmax_all_masked():
    x = np.full(5, -np.inf, np.float32)
    out = path("sm0.out")
    run("softmax", 5, save("sm0.x", x), out)
    assert np.all(load_f32(out) == 0)


def act_inputs():
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(-10, 10, 2000), rng.standard_normal(500) * 0.01,
                        [0.0, -0.0, 1e-30, -1e-30, 50, -50, 100, -100, 88.5, -88.5]])
    return x.astype(np.float32)


def test_silu():
    x = act_inputs()
    out = path("silu.out")
    run("silu", x.size, save("silu.x", x), out)
    x64 = x.astype(np.float64)
    ref = x64 / (1 + np.exp(-x64))
    np.testing.assert_allclose(load_f32(out), ref, rtol=1e-6, atol=1e-30)


def test_gelu_tanh():
    x = act_inputs()
    out = path("gelu.out")
    run("gelu", x.size, save("gelu.x", x), out)
    x64 = x.astype(np.float64)
    ref = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)))
    got = load_f32(out).astype(np.float64)
    assert np.all(np.abs(got - ref) <= 1e-6 * np.abs(ref) + 4e-7 * np.abs(x64))
