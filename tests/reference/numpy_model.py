#!/usr/bin/env python3
"""Independent numpy forward pass for the llama and gemma3 architectures, the oracle of the
forward-pass tests.

Weights are read with gguf.GGUFReader and dequantized with gguf.quants.dequantize (to float32,
exactly the values the C kernels dequantize to); every computation after that is float64.
Written from the architecture description (tests/../shared/MODEL-NOTES.md), not from the C code.

    numpy_model.py MODEL.gguf 2,818,5279      # prints argmax and a few logits per position
"""
import math
import sys

import numpy as np
from gguf import GGUFReader, quants


class Model:
    def __init__(self, path):
        self.r = GGUFReader(path)
        self.tensors = {t.name: t for t in self.r.tensors}
        self.cache = {}
        self.arch = self.meta("general.architecture")
        a = self.arch
        if a not in ("llama", "gemma3"):
            raise ValueError(f"unknown architecture {a!r}")
        self.n_embd = int(self.meta(a + ".embedding_length"))
        self.n_layer = int(self.meta(a + ".block_count"))
        self.n_head = int(self.meta(a + ".attention.head_count"))
        self.n_head_kv = int(self.meta(a + ".attention.head_count_kv", self.n_head))
        self.hd_k = int(self.meta(a + ".attention.key_length", self.n_embd // self.n_head))
        self.hd_v = int(self.meta(a + ".attention.value_length", self.hd_k))
        self.eps = float(self.meta(a + ".attention.layer_norm_rms_epsilon", 1e-5 if a == "llama" else 1e-6))
        default_base = 10000.0 if a == "llama" else 1000000.0
        self.rope_base = float(self.meta(a + ".rope.freq_base", default_base))
        self.n_rot = int(self.meta(a + ".rope.dimension_count", self.hd_k))
        stype = self.meta(a + ".rope.scaling.type", "none")
        self.pos_scale = 1.0
        if stype == "linear":
            self.pos_scale = 1.0 / float(self.meta(a + ".rope.scaling.factor", 1.0))
        self.window = int(self.meta(a + ".attention.sliding_window", 0)) if a == "gemma3" else 0
        self.local_base = float(self.meta(a + ".rope.local.freq_base", 10000.0))

    def meta(self, key, default=None):
        f = self.r.fields.get(key)
        if f is None:
            if default is None:
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

    def rope(self, x, positions, base, pos_scale, neox, freq_div=None):
        """x: (n_tok, n_heads, hd). Rotates the first n_rot dims of each head."""
        n_rot = self.n_rot
        half = n_rot // 2
        i = np.arange(half, dtype=np.float64)
        theta = base ** (-2.0 * i / n_rot)
        if freq_div is not None:
            theta = theta / freq_div
        ang = (np.asarray(positions, dtype=np.float64) * pos_scale)[:, None] * theta[None, :]
        cos = np.cos(ang)[:, None, :]
        sin = np.sin(ang)[:, None, :]
        out = x.copy()
        if neox:
            a, b = x[:, :, :half], x[:, :, half:n_rot]
        else:
            a, b = x[:, :, 0:n_rot:2], x[:, :, 1:n_rot:2]
        ra = a * cos - b * sin
        rb = a * sin + b * cos
        if neox:
            out[:, :, :half], out[:, :, half:n_rot] = ra, rb
        else:
            out[:, :, 0:n_rot:2], out[:, :, 1:n_rot:2] = ra, rb
        return out

    def attention(self, q, k, v, window):
        """q: (T, H, hd_k), k: (T, Hkv, hd_k), v: (T, Hkv, hd_v); causal, optional window."""
        T = q.shape[0]
        group = self.n_head // self.n_head_kv
        out = np.zeros((T, self.n_head, self.hd_v))
        scale = 1.0 / math.sqrt(self.hd_k)
        pos = np.arange(T)
        mask = pos[None, :] <= pos[:, None]
        if window:
            mask &= pos[None, :] > pos[:, None] - window
        for h in range(self.n_head):
            g = h // group
            s = (q[:, h, :] @ k[:, g, :].T) * scale
            s = np.where(mask, s, -np.inf)
            s = s - s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            out[:, h, :] = p @ v[:, g, :]
        return out

    # --- forward -------------------------------------------------------------------------------
    def forward(self, tokens):
        """Logits (len(tokens), n_vocab), float64, for every position (tokens at 0..T-1)."""
        T = len(tokens)
        gemma = self.arch == "gemma3"
        emb_t = self.tensors["token_embd.weight"]
        x = np.stack([self.embed_row(emb_t, t) for t in tokens]).astype(np.float64)
        if gemma:
            x = x * np.float64(np.float32(math.sqrt(self.n_embd)))
        positions = np.arange(T)
        freq_div = self.w("rope_freqs.weight") if self.has("rope_freqs.weight") else None
        for il in range(self.n_layer):
            b = f"blk.{il}."
            h = self.rmsnorm(x, self.w(b + "attn_norm.weight"))
            q = (h @ self.w(b + "attn_q.weight").T).reshape(T, self.n_head, self.hd_k)
            k = (h @ self.w(b + "attn_k.weight").T).reshape(T, self.n_head_kv, self.hd_k)
            v = (h @ self.w(b + "attn_v.weight").T).reshape(T, self.n_head_kv, self.hd_v)
            if gemma:
                q = self.rmsnorm(q, self.w(b + "attn_q_norm.weight"))
                k = self.rmsnorm(k, self.w(b + "attn_k_norm.weight"))
                is_global = (il + 1) % 6 == 0
                base = self.rope_base if is_global else self.local_base
                pscale = self.pos_scale if is_global else 1.0
                window = 0 if is_global else self.window
                q = self.rope(q, positions, base, pscale, True)
                k = self.rope(k, positions, base, pscale, True)
            else:
                q = self.rope(q, positions, self.rope_base, self.pos_scale, False, freq_div)
                k = self.rope(k, positions, self.rope_base, self.pos_scale, False, freq_div)
                window = 0
            att = self.attention(q, k, v, window).reshape(T, self.n_head * self.hd_v)
            o = att @ self.w(b + "attn_output.weight").T
            if gemma:
                o = self.rmsnorm(o, self.w(b + "post_attention_norm.weight"))
            x = x + o
            h = self.rmsnorm(x, self.w(b + "ffn_norm.weight"))
            g = h @ self.w(b + "ffn_gate.weight").T
            u = h @ self.w(b + "ffn_up.weight").T
            if gemma:
                act = 0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))
            else:
                act = g / (1.0 + np.exp(-g))
            d = (act * u) @ self.w(b + "ffn_down.weight").T
            if gemma:
                d = self.rmsnorm(d, self.w(b + "post_ffw_norm.weight"))
            x = x + d
        x = self.rmsnorm(x, self.w("output_norm.weight"))
        out_name = "output.weight" if self.has("output.weight") else "token_embd.weight"
        return self.logits(x, out_name)

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


def forward(path, tokens):
    return Model(path).forward(list(tokens))


if __name__ == "__main__":
    toks = [int(t) for t in sys.argv[2].split(",")]
    lg = forward(sys.argv[1], toks)
    for i, row in enumerate(lg):
        print(i, int(np.argmax(row)), row[:4])
