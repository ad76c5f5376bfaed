#!/usr/bin/env python3
"""Independent numpy forward pass for the llama (and Mistral-style), gemma3, gemma2, qwen2,
qwen3 and phi3 architectures, the oracle of the forward-pass tests.

Weights are read with gguf.GGUFReader and dequantized with gguf.quants.dequantize (to float32,
exactly the values the C kernels dequantize to); every computation after that is float64.
Written from the architecture description (tests/../shared/MODEL-NOTES.md) and the published model
definitions (HF transformers: Qwen2/Qwen3/Gemma2/Phi3/Mistral attention and MLP, modeling_rope_utils
for the rope scalings), not from the C code.

    numpy_model.py MODEL.gguf 2,818,5279      # prints argmax and a few logits per position
"""
import math
import sys

import numpy as np
from gguf import GGUFReader, quants


ARCHS = ("llama", "gemma3", "gemma2", "qwen2", "qwen3", "phi3")


class Model:
    """n_ctx: the context size of the session (phi3 picks its long or short rope factors by it,
    as llama.cpp does); default: the number of tokens of the forward call."""

    def __init__(self, path, n_ctx=None):
        self.r = GGUFReader(path)
        self.tensors = {t.name: t for t in self.r.tensors}
        self.cache = {}
        self.n_ctx = n_ctx
        self.inv_freq_override = None  # a test may impose the frequencies (see hf_llama3_inv_freq)
        self.arch = self.meta("general.architecture")
        a = self.arch
        if a not in ARCHS:
            raise ValueError(f"unknown architecture {a!r}")
        self.n_embd = int(self.meta(a + ".embedding_length"))
        self.n_layer = int(self.meta(a + ".block_count"))
        self.n_head = int(self.meta(a + ".attention.head_count"))
        self.n_head_kv = int(self.meta(a + ".attention.head_count_kv", self.n_head))
        self.hd_k = int(self.meta(a + ".attention.key_length", self.n_embd // self.n_head))
        self.hd_v = int(self.meta(a + ".attention.value_length", self.hd_k))
        self.n_ctx_train = int(self.meta(a + ".context_length", 2048))
        self.eps = float(self.meta(a + ".attention.layer_norm_rms_epsilon", 1e-5 if a in ("llama", "phi3") else 1e-6))
        default_base = 1000000.0 if a == "gemma3" else 10000.0
        self.rope_base = float(self.meta(a + ".rope.freq_base", default_base))
        self.n_rot = int(self.meta(a + ".rope.dimension_count", self.hd_k))
        self.neox = a != "llama"
        # Gemma: query_pre_attn_scalar is head_dim except for the 27B models (n_embd / n_head);
        # the GGUF does not store it, the published configs are recognised by their depth
        self.q_scale = 1.0 / math.sqrt(self.hd_k)
        if (a == "gemma2" and self.n_layer == 46) or (a == "gemma3" and self.n_layer == 62):
            self.q_scale = 1.0 / math.sqrt(self.n_embd // self.n_head)
        # the sliding window: which layers (gemma3: 5 of 6, gemma2: even ones, Mistral / Phi-3: all)
        if a in ("gemma3", "gemma2"):
            self.window = int(self.meta(a + ".attention.sliding_window", 4096 if a == "gemma2" else 0))
        else:
            self.window = int(self.meta(a + ".attention.sliding_window", 0))
        self.local_base = float(self.meta(a + ".rope.local.freq_base", 10000.0))
        self.attn_softcap = self.final_softcap = 0.0
        if a == "gemma2":
            self.attn_softcap = float(self.meta(a + ".attn_logit_softcapping", 50.0))
            self.final_softcap = float(self.meta(a + ".final_logit_softcapping", 30.0))

    def rope_frequencies(self, base, scaled):
        """inv_freq (n_rot/2 radians per position) and the attention factor that multiplies cos and
        sin, after HF transformers' modeling_rope_utils (default, linear, yarn, longrope) and the
        GGUF conventions (llama3: rope_freqs.weight divides the frequencies; longrope:
        rope_factors_short/long.weight, chosen by the context size)."""
        a, d = self.arch, self.n_rot
        inv_freq = 1.0 / (base ** (np.arange(0, d, 2, dtype=np.float64) / d))
        if not scaled:
            return inv_freq, 1.0
        attention_factor = float(self.meta(a + ".rope.scaling.attn_factor", 1.0))
        if self.has("rope_freqs.weight"):  # llama3-style: the file holds the divisors
            inv_freq = inv_freq / self.w("rope_freqs.weight")
        if a == "phi3" and (self.has("rope_factors_long.weight") or self.has("rope_factors_short.weight")):
            orig = int(self.meta(a + ".rope.scaling.original_context_length", self.n_ctx_train))
            name = "rope_factors_long.weight" if self.n_ctx > orig else "rope_factors_short.weight"
            if self.has(name):
                inv_freq = inv_freq / self.w(name)
        stype = self.meta(a + ".rope.scaling.type", "none")
        if stype == "linear":
            inv_freq = inv_freq / float(self.meta(a + ".rope.scaling.factor", 1.0))
        elif stype == "yarn":
            factor = float(self.meta(a + ".rope.scaling.factor", 1.0))
            orig = int(self.meta(a + ".rope.scaling.original_context_length", self.n_ctx_train))
            beta_fast = float(self.meta(a + ".rope.scaling.yarn_beta_fast", 32.0))
            beta_slow = float(self.meta(a + ".rope.scaling.yarn_beta_slow", 1.0))

            def correction_dim(rotations):
                return (d * math.log(orig / (rotations * 2 * math.pi))) / (2 * math.log(base))

            low = max(math.floor(correction_dim(beta_fast)), 0)
            high = min(math.ceil(correction_dim(beta_slow)), d - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0, 1)
            extrapolation = 1 - ramp
            inv_freq = (inv_freq / factor) * (1 - extrapolation) + inv_freq * extrapolation
            yarn_attn = self.meta(a + ".rope.scaling.yarn_attn_factor", None)
            if yarn_attn is None:
                yarn_attn = 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0
            attention_factor *= float(yarn_attn)
        elif stype not in ("none", ""):
            raise ValueError(f"rope scaling {stype!r}")
        return inv_freq, attention_factor

    def meta(self, key, default=KeyError):
        f = self.r.fields.get(key)
        if f is None:
            if default is KeyError:
                raise KeyError(key)
            return default
        v = f.contents()
        return v

    def has(self, name):
        return name in self.tensors

    def w(self, name, dtype=np.float64):
        """Dequantized tensor, numpy shape (ne1, ne0) for matrices, (ne0,) for vectors."""
        key = (name, dtype)
        if key not in self.cache:
            t = self.tensors[name]
            d = quants.dequantize(t.data, t.tensor_type)
            ne = [int(x) for x in t.shape]
            d = d.reshape(list(reversed(ne)))
            self.cache[key] = d.astype(dtype)
        return self.cache[key]

    # --- building blocks -----------------------------------------------------------------------
    def rmsnorm(self, x, weight):
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.eps) * weight

    def rope(self, x, positions, inv_freq, mscale):
        """x: (n_tok, n_heads, hd). Rotates the first n_rot dims of each head: pairs (i, i + n_rot/2)
        (NeoX, HF rotate_half) or (2i, 2i+1) (llama GGUF, whose q/k rows are permuted)."""
        n_rot = self.n_rot
        half = n_rot // 2
        ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
        cos = (np.cos(ang) * mscale)[:, None, :]
        sin = (np.sin(ang) * mscale)[:, None, :]
        out = x.copy()
        if self.neox:
            a, b = x[:, :, :half], x[:, :, half:n_rot]
        else:
            a, b = x[:, :, 0:n_rot:2], x[:, :, 1:n_rot:2]
        ra = a * cos - b * sin
        rb = a * sin + b * cos
        if self.neox:
            out[:, :, :half], out[:, :, half:n_rot] = ra, rb
        else:
            out[:, :, 0:n_rot:2], out[:, :, 1:n_rot:2] = ra, rb
        return out

    def attention(self, q, k, v, window):
        """q: (T, H, hd_k), k: (T, Hkv, hd_k), v: (T, Hkv, hd_v); causal, optional window (keys at
        positions > p - window), optional soft-capping of the scaled scores (Gemma 2)."""
        T = q.shape[0]
        group = self.n_head // self.n_head_kv
        out = np.zeros((T, self.n_head, self.hd_v))
        pos = np.arange(T)
        mask = pos[None, :] <= pos[:, None]
        if window:
            mask &= pos[None, :] > pos[:, None] - window
        for h in range(self.n_head):
            g = h // group
            s = (q[:, h, :] @ k[:, g, :].T) * self.q_scale
            if self.attn_softcap:
                s = np.tanh(s / self.attn_softcap) * self.attn_softcap
            s = np.where(mask, s, -np.inf)
            s = s - s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            out[:, h, :] = p @ v[:, g, :]
        return out

    def layer_attention_setup(self, il):
        """(inv_freq, mscale, window) of layer il."""
        a = self.arch
        if a == "gemma3":
            is_global = (il + 1) % 6 == 0
            if is_global:
                return self.inv_freq, self.mscale, 0
            return self.local_inv_freq, 1.0, self.window
        if a == "gemma2":
            return self.inv_freq, self.mscale, self.window if il % 2 == 0 else 0
        return self.inv_freq, self.mscale, self.window

    def qkv(self, b, h, T):
        if self.has(b + "attn_qkv.weight"):  # Phi-3: rows of q, then k, then v
            qkv = h @ self.w(b + "attn_qkv.weight").T
            qd, kd = self.n_head * self.hd_k, self.n_head_kv * self.hd_k
            q, k, v = qkv[:, :qd], qkv[:, qd:qd + kd], qkv[:, qd + kd:]
        else:
            q = h @ self.w(b + "attn_q.weight").T
            k = h @ self.w(b + "attn_k.weight").T
            v = h @ self.w(b + "attn_v.weight").T
        if self.arch == "qwen2":  # Qwen2Attention: q/k/v projections with bias
            q = q + self.w(b + "attn_q.bias")
            k = k + self.w(b + "attn_k.bias")
            v = v + self.w(b + "attn_v.bias")
        return (q.reshape(T, self.n_head, self.hd_k), k.reshape(T, self.n_head_kv, self.hd_k),
                v.reshape(T, self.n_head_kv, self.hd_v))

    def mlp(self, b, h):
        if self.arch == "phi3":  # Phi3MLP: gate_up_proj, chunk(2): gate first
            gu = h @ self.w(b + "ffn_up.weight").T
            g, u = gu[:, :gu.shape[1] // 2], gu[:, gu.shape[1] // 2:]
        else:
            g = h @ self.w(b + "ffn_gate.weight").T
            u = h @ self.w(b + "ffn_up.weight").T
        if self.arch in ("gemma3", "gemma2"):
            act = 0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))
        else:
            act = g / (1.0 + np.exp(-g))
        return (act * u) @ self.w(b + "ffn_down.weight").T

    # --- forward -------------------------------------------------------------------------------
    def forward(self, tokens):
        """Logits (len(tokens), n_vocab), float64, for every position (tokens at 0..T-1)."""
        x = self.hidden(tokens)
        out_name = "output.weight" if self.has("output.weight") else "token_embd.weight"
        logits = self.logits(x, out_name)
        if self.final_softcap:
            logits = np.tanh(logits / self.final_softcap) * self.final_softcap
        return logits

    def hidden(self, tokens):
        """The final hidden states (len(tokens), n_embd), float64: after the output norm, the
        vectors the output matrix multiplies (for embeddings)."""
        T = len(tokens)
        if self.n_ctx is None:
            self.n_ctx = T
        self.inv_freq, self.mscale = self.rope_frequencies(self.rope_base, scaled=True)
        if self.inv_freq_override is not None:
            self.inv_freq = self.inv_freq_override
        self.local_inv_freq, _ = self.rope_frequencies(self.local_base, scaled=False)
        gemma = self.arch in ("gemma3", "gemma2")
        emb_t = self.tensors["token_embd.weight"]
        x = np.stack([self.embed_row(emb_t, t) for t in tokens]).astype(np.float64)
        if gemma:
            x = x * np.float64(np.float32(math.sqrt(self.n_embd)))
        positions = np.arange(T)
        for il in range(self.n_layer):
            b = f"blk.{il}."
            h = self.rmsnorm(x, self.w(b + "attn_norm.weight"))
            q, k, v = self.qkv(b, h, T)
            if self.has(b + "attn_q_norm.weight"):  # gemma3, qwen3: per-head RMSNorm
                q = self.rmsnorm(q, self.w(b + "attn_q_norm.weight"))
                k = self.rmsnorm(k, self.w(b + "attn_k_norm.weight"))
            inv_freq, mscale, window = self.layer_attention_setup(il)
            q = self.rope(q, positions, inv_freq, mscale)
            k = self.rope(k, positions, inv_freq, mscale)
            att = self.attention(q, k, v, window).reshape(T, self.n_head * self.hd_v)
            o = att @ self.w(b + "attn_output.weight").T
            if gemma:
                o = self.rmsnorm(o, self.w(b + "post_attention_norm.weight"))
            x = x + o
            h = self.rmsnorm(x, self.w(b + "ffn_norm.weight"))
            d = self.mlp(b, h)
            if gemma:
                d = self.rmsnorm(d, self.w(b + "post_ffw_norm.weight"))
            x = x + d
        return self.rmsnorm(x, self.w("output_norm.weight"))

    def embed_row(self, t, tok):
        """One dequantized row of a (possibly large, quantized) matrix tensor."""
        ne0 = int(t.shape[0])
        row = t.data.reshape(int(t.shape[1]), -1)[tok:tok + 1]
        return quants.dequantize(row, t.tensor_type).reshape(ne0)

    def logits(self, x, name):
        t = self.tensors[name]
        n_vocab = int(t.shape[1])
        if n_vocab * int(t.shape[0]) <= (1 << 24):
            return x @ self.w(name).T
        # large vocabulary: dequantize in slices to bound memory
        data = t.data.reshape(n_vocab, -1)
        out = np.empty((x.shape[0], n_vocab))
        step = 16384
        for s in range(0, n_vocab, step):
            wd = quants.dequantize(data[s:s + step], t.tensor_type).reshape(-1, int(t.shape[0]))
            out[:, s:s + step] = x @ wd.astype(np.float64).T
        return out


def hf_llama3_inv_freq(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len):
    """The frequencies of HF's "llama3" rope type (modeling_rope_utils), from its parameters: the
    GGUF only stores their ratio to the unscaled ones (rope_freqs.weight), so this checks that
    reading of the file against the definition."""
    inv_freq = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in inv_freq:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(freq)
        elif wavelen > low_freq_wavelen:
            out.append(freq / factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append((1 - smooth) * freq / factor + smooth * freq)
    return np.array(out)


def forward(path, tokens, n_ctx=None):
    return Model(path, n_ctx).forward(list(tokens))


if __name__ == "__main__":
    toks = [int(t) for t in sys.argv[2].split(",")]
    lg = forward(sys.argv[1], toks)
    for i, row in enumerate(lg):
        print(i, int(np.argmax(row)), row[:4])
