#!/usr/bin/env python3
"""Generate small random-weight GGUF models for the forward-pass tests: llama (optionally
Mistral-style with a sliding window), gemma3, gemma2, qwen2, qwen3, phi3.

    make_model.py --arch llama --type Q4_K --out file.gguf [--seed N] [shape flags]

Every 2-D matrix gets --type (token_embd gets --embd-type, default the same); norm vectors are
F32 (or --norm-type). Types that gguf.quants can quantize are quantized from Gaussian weights;
the K-quants (and Q2_K/Q3_K, used for "unsupported type" tests) are written as random valid raw
blocks whose f16 scales are chosen so the weights have the intended spread.

Flags for broken files (error-path tests): --arch-name (general.architecture value), --drop
TENSOR, --shape TENSOR=ne0,ne1 (write a wrong shape), --set KEY=TYPE:VALUE (override metadata).
Architecture specifics: qwen2 gets q/k/v biases; qwen3 and gemma3 per-head q/k norms; gemma2
and gemma3 post-attention/FFN norms (gemma2: --attn-softcap/--final-softcap); phi3 a fused
attn_qkv (q, k, v rows stacked; --separate-qkv for three tensors) and a fused ffn_up (gate rows,
then up rows), and with --rope-factors rope_factors_short/long.weight. Rope scaling: --rope-linear
F, --rope-yarn F (with --orig-ctx, --yarn-beta-fast/slow), --attn-factor (rope.scaling.attn_factor).

The shape flags are general, so the same tool also produces Llama-3.2-1B-shaped files for
benchmarks, e.g. --n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --n-ff 8192
--n-vocab 128256 --rope-freqs --tied.

--vocab-from VOCAB.gguf replaces the made-up tokenizer with a real one: every tokenizer.* key of
that (vocab-only) GGUF is copied unchanged and n_vocab is its token count, so benchmarks whose
cost depends on the vocabulary (sampling, grammar masks, detokenizing) see the real tokens, e.g.
a Llama 3 vocabulary from tests/tokenizer/make_vocab_gguf.py llama3 VOCAB.gguf:

    make_model.py --arch llama --type Q4_0 --n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8
        --n-ff 8192 --rope-base 500000 --rope-llama3 32,1,4,8192 --tied
        --vocab-from llama3-vocab.gguf --out llama3vocab-1b-q4_0.gguf
"""
import argparse
import sys

import numpy as np
import gguf
from gguf import GGUFWriter
from gguf.constants import GGMLQuantizationType as QT
from gguf import quants

QUANTIZABLE = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "BF16"}
RAW_K = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def raw_k_blocks(rng, qtype, rows, cols, std):
    """Random valid blocks of a K-quant type, with scales set so the dequantized weights have
    roughly standard deviation `std` and mean near zero."""
    block, tsize = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // block
    raw = rng.integers(0, 256, size=(nb, tsize), dtype=np.uint8)
    # byte offsets of (d, dmin) f16 scales in each block layout
    if qtype in (QT.Q4_K, QT.Q5_K):
        d_off, m_off = 0, 2
    elif qtype == QT.Q2_K:
        d_off, m_off = tsize - 4, tsize - 2
    elif qtype == QT.Q3_K:
        d_off, m_off = tsize - 2, None
    elif qtype == QT.Q6_K:
        d_off, m_off = tsize - 2, None
    else:
        raise ValueError(qtype)

    def deq(d, m):
        r = raw.copy()
        r[:, d_off:d_off + 2] = f16_bytes(np.full(nb, d))
        if m_off is not None:
            r[:, m_off:m_off + 2] = f16_bytes(np.full(nb, m))
        return quants.dequantize(r.reshape(rows, -1), qtype).astype(np.float64)

    if m_off is not None:
        a = deq(1.0, 0.0)   # d * (scale * q) part
        b = -deq(0.0, 1.0)  # dmin * min part
        ratio = a.mean() / max(b.mean(), 1e-12)
    else:
        ratio = 0.0
    w = deq(1.0, ratio)
    scale = std / max(w.std(), 1e-12)
    d = rng.uniform(0.5, 1.5, size=nb) * scale
    raw[:, d_off:d_off + 2] = f16_bytes(d)
    if m_off is not None:
        raw[:, m_off:m_off + 2] = f16_bytes(d * ratio)
    return raw.reshape(rows, -1)


def make_matrix(rng, tname, rows, cols, std):
    """Returns (array, raw_dtype or None) for GGUFWriter.add_tensor; numpy shape (rows, ...).
    Large matrices (benchmark shapes) are generated in slices of rows to bound memory."""
    slice_rows = max(1, (1 << 22) // cols)
    if rows > slice_rows:
        parts = [make_matrix(rng, tname, min(slice_rows, rows - r), cols, std) for r in range(0, rows, slice_rows)]
        return np.concatenate([p[0] for p in parts]), parts[0][1]
    if tname == "F32":
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32), None
    if tname == "F16":
        return (rng.standard_normal((rows, cols)) * std).astype(np.float16), None
    qtype = QT[tname]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    if cols % block:
        sys.exit(f"make_model: {tname} needs ne[0] ({cols}) to be a multiple of {block}")
    if tname in QUANTIZABLE:
        w = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
        return quants.quantize(w, qtype), qtype
    if tname in RAW_K:
        return raw_k_blocks(rng, qtype, rows, cols, std), qtype
    sys.exit(f"make_model: cannot generate type {tname}")


def make_vector(rng, tname, n, mean, spread):
    v = mean + spread * rng.standard_normal(n)
    if tname == "F16":
        return v.astype(np.float16), None
    return v.astype(np.float32), None


def tokenizer_tokens(n_vocab):
    """A minimal SentencePiece-style vocabulary: <unk> <s> </s>, byte tokens when they fit,
    then pieces."""
    toks, types = ["<unk>", "<s>", "</s>"], [2, 3, 3]
    if n_vocab >= 3 + 256 + 8:
        for b in range(256):
            toks.append("<0x%02X>" % b)
            types.append(6)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    seen = set(toks)
    while len(toks) < n_vocab:
        if i < len(alphabet):
            p = alphabet[i]
        elif i < 2 * len(alphabet):
            p = "\u2581" + alphabet[i - len(alphabet)]
        else:
            j = i - 2 * len(alphabet)
            p = "\u2581" + alphabet[j % 26] + alphabet[(j // 26) % 26] + (str(j // 676) if j >= 676 else "")
        i += 1
        if p in seen:
            continue
        seen.add(p)
        toks.append(p)
        types.append(1)
    scores = [0.0] * 3 + [-float(k) for k in range(len(toks) - 3)]
    return toks[:n_vocab], scores[:n_vocab], types[:n_vocab]


DEFAULT_LAYERS = {"llama": 2, "gemma3": 6, "gemma2": 4, "qwen2": 2, "qwen3": 2, "phi3": 2}
DEFAULT_EPS = {"llama": 1e-5, "phi3": 1e-5}  # the others 1e-6


def llama3_divisors(a, head_dim):
    """Per-frequency divisors of a Llama 3.1 rope_scaling, the way the GGUF converter stores them:
    1 for short wavelengths, `factor` for long ones, a smooth blend in between."""
    factor, low, high, orig = (float(x) for x in a.rope_llama3.split(","))
    n_rot = a.n_rot if a.n_rot is not None else head_dim
    base = a.rope_base if a.rope_base is not None else 10000.0
    out = []
    for i in range(0, n_rot, 2):
        wavelen = 2 * np.pi * base ** (i / n_rot)
        if wavelen < orig / high:
            out.append(1.0)
        elif wavelen > orig / low:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def vocab_keys(path):
    """The tokenizer.* key/values of a GGUF as (key, value, type, sub_type) for
    GGUFWriter.add_key_value, in file order, plus the token count. Strings are kept as their raw
    bytes so that tokens reach the output byte for byte, whatever they contain."""
    r = gguf.GGUFReader(path)
    out, n_tokens = [], None
    for key, f in r.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = f.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = f.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                val = [bytes(f.parts[i]) for i in f.data]
            else:
                val = [f.parts[i].tolist()[0] for i in f.data]
            if len(f.types) > 2 or not val:
                sys.exit(f"make_model: {path}: {key}: nested or empty arrays are not copied")
            out.append((key, val, vtype, sub))
            if key == gguf.Keys.Tokenizer.LIST:
                n_tokens = len(val)
        elif vtype == gguf.GGUFValueType.STRING:
            out.append((key, bytes(f.parts[f.data[0]]), vtype, None))
        else:
            out.append((key, f.parts[f.data[0]].tolist()[0], vtype, None))
    if n_tokens is None:
        sys.exit(f"make_model: {path} has no {gguf.Keys.Tokenizer.LIST}")
    return out, n_tokens


def parse_set(spec):
    key, _, tv = spec.partition("=")
    typ, _, val = tv.partition(":")
    return key, typ, val


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(DEFAULT_LAYERS), required=True)
    ap.add_argument("--type", default="F32", help="type of the 2-D matrices")
    ap.add_argument("--embd-type", default=None, help="type of token_embd (default: --type)")
    ap.add_argument("--norm-type", default="F32", choices=["F32", "F16"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=None, help="default: 6 (gemma3), 4 (gemma2), else 2")
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-head-kv", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=None,
                    help="key/value length; written as attention.key_length when it differs from n_embd/n_head (always for gemma3)")
    ap.add_argument("--n-ff", type=int, default=256)
    ap.add_argument("--n-vocab", type=int, default=None, help="default: 512, or the --vocab-from token count")
    ap.add_argument("--ctx", type=int, default=512, help="context_length")
    ap.add_argument("--eps", type=float, default=None)
    ap.add_argument("--rope-base", type=float, default=None)
    ap.add_argument("--rope-local-base", type=float, default=None, help="gemma3.rope.local.freq_base")
    ap.add_argument("--n-rot", type=int, default=None, help="rope.dimension_count")
    ap.add_argument("--rope-freqs", action="store_true", help="llama: add rope_freqs.weight")
    ap.add_argument("--rope-linear", type=float, default=None, help="rope scaling type linear with this factor")
    ap.add_argument("--rope-llama3", default=None, metavar="FACTOR,LOW,HIGH,ORIG_CTX",
                    help="llama: rope_freqs.weight as the GGUF converter derives it from a Llama 3.1 rope_scaling")
    ap.add_argument("--rope-yarn", type=float, default=None, help="rope scaling type yarn with this factor")
    ap.add_argument("--orig-ctx", type=int, default=None, help="rope.scaling.original_context_length")
    ap.add_argument("--yarn-beta-fast", type=float, default=None)
    ap.add_argument("--yarn-beta-slow", type=float, default=None)
    ap.add_argument("--attn-factor", type=float, default=None, help="rope.scaling.attn_factor")
    ap.add_argument("--rope-factors", action="store_true", help="phi3: rope_factors_short/long.weight")
    ap.add_argument("--separate-qkv", action="store_true", help="phi3: attn_q/k/v instead of attn_qkv")
    ap.add_argument("--attn-softcap", type=float, default=None, help="gemma2.attn_logit_softcapping")
    ap.add_argument("--final-softcap", type=float, default=None, help="gemma2.final_logit_softcapping")
    ap.add_argument("--bias-std", type=float, default=0.5, help="qwen2 q/k/v bias spread")
    ap.add_argument("--window", type=int, default=None,
                    help="attention.sliding_window (gemma2/gemma3 default 4; llama and phi3: only when given)")
    ap.add_argument("--untied", action="store_true", help="write an output matrix (default tied)")
    ap.add_argument("--tied", action="store_true", help="no output matrix (the default)")
    ap.add_argument("--std", type=float, default=None, help="weight std (default 1/sqrt(cols))")
    ap.add_argument("--no-tokenizer", action="store_true")
    ap.add_argument("--vocab-from", default=None, metavar="VOCAB.gguf",
                    help="copy every tokenizer.* key of this GGUF (n_vocab: its token count)")
    ap.add_argument("--arch-name", default=None, help="value of general.architecture (default --arch)")
    ap.add_argument("--drop", action="append", default=[], help="omit this tensor")
    ap.add_argument("--shape", action="append", default=[], help="TENSOR=ne0,ne1: write a wrong shape")
    ap.add_argument("--set", action="append", default=[], help="KEY=TYPE:VALUE, TYPE in u32,i32,u64,f32,str,bool")
    a = ap.parse_args(argv)

    vocab = None
    if a.vocab_from is not None:
        if a.no_tokenizer:
            sys.exit("make_model: --vocab-from and --no-tokenizer contradict each other")
        vocab, n_tok = vocab_keys(a.vocab_from)
        # the embedding rows must match the token list, or loaders reject the file
        if a.n_vocab is not None and a.n_vocab != n_tok:
            sys.exit(f"make_model: --n-vocab {a.n_vocab} but {a.vocab_from} has {n_tok} tokens")
        a.n_vocab = n_tok
    elif a.n_vocab is None:
        a.n_vocab = 512

    rng = np.random.default_rng(a.seed)
    arch = a.arch
    n_layer = a.n_layer if a.n_layer is not None else DEFAULT_LAYERS[arch]
    window = a.window if a.window is not None else (4 if arch in ("gemma2", "gemma3") else None)
    head_dim = a.head_dim if a.head_dim is not None else a.n_embd // a.n_head
    embd_type = a.embd_type or a.type

    w = GGUFWriter(a.out, a.arch_name or arch)
    overrides = {}
    for spec in a.set:
        k, t, v = parse_set(spec)
        overrides[k] = (t, v)

    def put(key, typ, val):
        if key in overrides:
            typ, sval = overrides.pop(key)
            val = {"u32": int, "i32": int, "u64": int, "f32": float, "str": str,
                   "bool": lambda s: s.lower() in ("1", "true")}[typ](sval)
        {"u32": w.add_uint32, "i32": w.add_int32, "u64": w.add_uint64, "f32": w.add_float32,
         "str": w.add_string, "bool": w.add_bool}[typ](key, val)

    p = arch + "."
    w.add_name(f"random {arch} {a.type}")
    put(p + "context_length", "u32", a.ctx)
    put(p + "embedding_length", "u32", a.n_embd)
    put(p + "block_count", "u32", n_layer)
    put(p + "feed_forward_length", "u32", a.n_ff)
    put(p + "attention.head_count", "u32", a.n_head)
    put(p + "attention.head_count_kv", "u32", a.n_head_kv)
    eps = a.eps if a.eps is not None else DEFAULT_EPS.get(arch, 1e-6)
    put(p + "attention.layer_norm_rms_epsilon", "f32", eps)
    if arch in ("gemma3", "gemma2", "qwen3") or head_dim * a.n_head != a.n_embd:
        put(p + "attention.key_length", "u32", head_dim)
        put(p + "attention.value_length", "u32", head_dim)
    if a.rope_base is not None:
        put(p + "rope.freq_base", "f32", a.rope_base)
    elif arch == "gemma3":
        put(p + "rope.freq_base", "f32", 1000000.0)
    if a.n_rot is not None:
        put(p + "rope.dimension_count", "u32", a.n_rot)
    if a.rope_linear is not None:
        put(p + "rope.scaling.type", "str", "linear")
        put(p + "rope.scaling.factor", "f32", a.rope_linear)
    if a.rope_yarn is not None:
        put(p + "rope.scaling.type", "str", "yarn")
        put(p + "rope.scaling.factor", "f32", a.rope_yarn)
    if a.orig_ctx is not None:
        put(p + "rope.scaling.original_context_length", "u32", a.orig_ctx)
    if a.yarn_beta_fast is not None:
        put(p + "rope.scaling.yarn_beta_fast", "f32", a.yarn_beta_fast)
    if a.yarn_beta_slow is not None:
        put(p + "rope.scaling.yarn_beta_slow", "f32", a.yarn_beta_slow)
    if a.attn_factor is not None:
        put(p + "rope.scaling.attn_factor", "f32", a.attn_factor)
    if window is not None:
        put(p + "attention.sliding_window", "u32", window)
    if arch == "gemma3" and a.rope_local_base is not None:
        put(p + "rope.local.freq_base", "f32", a.rope_local_base)
    if a.attn_softcap is not None:
        put(p + "attn_logit_softcapping", "f32", a.attn_softcap)
    if a.final_softcap is not None:
        put(p + "final_logit_softcapping", "f32", a.final_softcap)
    for k, (t, v) in list(overrides.items()):
        put(k, t, None)

    if vocab is not None:
        set_keys = {parse_set(spec)[0] for spec in a.set}
        for key, val, vtype, sub in vocab:
            if key not in set_keys:  # --set already wrote its value for this key
                w.add_key_value(key, val, vtype, sub_type=sub)
    elif not a.no_tokenizer:
        toks, scores, types = tokenizer_tokens(a.n_vocab)
        w.add_tokenizer_model("llama")
        w.add_token_list(toks)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_unk_token_id(0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_add_bos_token(True)

    tensors = []  # (name, array, raw_dtype)

    def mat(name, rows, cols, tname=None):
        std = a.std if a.std is not None else 1.0 / np.sqrt(cols)
        arr, raw = make_matrix(rng, tname or a.type, rows, cols, std)
        tensors.append((name, arr, raw))

    def vec(name, n, mean=1.0, spread=0.1):
        arr, raw = make_vector(rng, a.norm_type, n, mean, spread)
        tensors.append((name, arr, raw))

    def stacked(name, parts, cols):
        """One matrix whose rows are the given blocks of rows, one after the other (fused
        tensors): each block generated like a matrix of its own."""
        std = a.std if a.std is not None else 1.0 / np.sqrt(cols)
        blocks = [make_matrix(rng, a.type, rows, cols, std) for rows in parts]
        tensors.append((name, np.concatenate([b[0] for b in blocks]), blocks[0][1]))

    e, kvd, qd = a.n_embd, a.n_head_kv * head_dim, a.n_head * head_dim
    embd_std = a.std if a.std is not None else (0.1 if arch == "llama" else 0.02)
    tensors.append(("token_embd.weight",) + make_matrix(rng, embd_type, a.n_vocab, e, embd_std))
    for i in range(n_layer):
        b = f"blk.{i}."
        vec(b + "attn_norm.weight", e)
        if arch == "phi3" and not a.separate_qkv:
            stacked(b + "attn_qkv.weight", [qd, kvd, kvd], e)
        else:
            mat(b + "attn_q.weight", qd, e)
            mat(b + "attn_k.weight", kvd, e)
            mat(b + "attn_v.weight", kvd, e)
        if arch == "qwen2":
            vec(b + "attn_q.bias", qd, 0.0, a.bias_std)
            vec(b + "attn_k.bias", kvd, 0.0, a.bias_std)
            vec(b + "attn_v.bias", kvd, 0.0, a.bias_std)
        mat(b + "attn_output.weight", e, qd)
        if arch in ("gemma3", "qwen3"):
            vec(b + "attn_q_norm.weight", head_dim)
            vec(b + "attn_k_norm.weight", head_dim)
        if arch in ("gemma3", "gemma2"):
            vec(b + "post_attention_norm.weight", e, 0.5, 0.1)
            vec(b + "post_ffw_norm.weight", e, 0.5, 0.1)
        vec(b + "ffn_norm.weight", e)
        if arch == "phi3":
            stacked(b + "ffn_up.weight", [a.n_ff, a.n_ff], e)  # gate rows, then up rows
        else:
            mat(b + "ffn_gate.weight", a.n_ff, e)
            mat(b + "ffn_up.weight", a.n_ff, e)
        mat(b + "ffn_down.weight", e, a.n_ff)
    vec("output_norm.weight", e)
    if a.untied and not a.tied:
        mat("output.weight", a.n_vocab, e)
    if a.rope_freqs:
        n_rot = a.n_rot if a.n_rot is not None else head_dim
        tensors.append(("rope_freqs.weight", rng.uniform(1.0, 8.0, n_rot // 2).astype(np.float32), None))
    if a.rope_llama3:
        tensors.append(("rope_freqs.weight", llama3_divisors(a, head_dim), None))
    if a.rope_factors:
        n_rot = a.n_rot if a.n_rot is not None else head_dim
        # short factors near 1, long ones growing with the wavelength (like Phi-3's)
        short = rng.uniform(1.0, 1.2, n_rot // 2).astype(np.float32)
        long_ = np.sort(rng.uniform(1.0, 16.0, n_rot // 2)).astype(np.float32)
        tensors.append(("rope_factors_long.weight", long_, None))
        tensors.append(("rope_factors_short.weight", short, None))

    shapes = {}
    for spec in a.shape:
        name, _, dims = spec.partition("=")
        shapes[name] = [int(x) for x in dims.split(",")]
    for name, arr, raw in tensors:
        if name in a.drop:
            continue
        if name in shapes:  # same bytes, declared with another shape (elements must still fit)
            ne = shapes[name]
            if raw is None:
                flat = arr.reshape(-1)
                n = int(np.prod(ne))
                flat = np.resize(flat, n)
                w.add_tensor(name, flat.reshape(list(reversed(ne))))
            else:
                block, tsize = gguf.GGML_QUANT_SIZES[raw]
                nbytes = int(np.prod(ne)) // block * tsize
                flat = np.resize(arr.reshape(-1), nbytes)
                w.add_tensor(name, flat.reshape(-1, ne[0] // block * tsize), raw_dtype=raw)
            continue
        if raw is None:
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=raw)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
