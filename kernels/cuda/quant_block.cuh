// Units of 32 consecutive elements of a stored row, dequantized at once: a whole block of the
// 32-element types, one 32-element sub-block of the K-quants (8 per 256-element super-block), or
// 32 values of F32/F16/BF16. The values are computed with the same f32 operations as the CPU
// dequantizers (kernels/cpu/scalar/quant.c, ported block by block), so they are bit-identical
// to them and to cu_deq (quant.cuh); the block header is decoded once per unit instead of once
// per element. Byte loads only: the blocks are 2-byte aligned at best (18, 22, 34, 210 bytes).
#pragma once

#include "quant.cuh"

template <int T>
CU_HD void cu_deq32(const uint8_t *row, int64_t u, float *y) {
    if (T == DT_F32) {
        const float4 *p = reinterpret_cast<const float4 *>(row) + u * 8; // rows are 128-byte multiples
CU_UNROLL
        for (int i = 0; i < 8; i++) {
            const float4 f = p[i];
            y[4 * i] = f.x;
            y[4 * i + 1] = f.y;
            y[4 * i + 2] = f.z;
            y[4 * i + 3] = f.w;
        }
    } else if (T == DT_F16 || T == DT_BF16) {
        const uint4 *p = reinterpret_cast<const uint4 *>(row) + u * 4; // 8 values per 16 bytes
CU_UNROLL
        for (int i = 0; i < 4; i++) {
            const uint4 w = p[i];
            const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
CU_UNROLL
            for (int j = 0; j < 4; j++) {
                const uint16_t lo = (uint16_t)(ws[j] & 0xffffu), hi = (uint16_t)(ws[j] >> 16);
                if (T == DT_F16) {
                    y[8 * i + 2 * j] = cu_half_float(lo);
                    y[8 * i + 2 * j + 1] = cu_half_float(hi);
                } else {
                    y[8 * i + 2 * j] = cu_bits_float((uint32_t)lo << 16);
                    y[8 * i + 2 * j + 1] = cu_bits_float((uint32_t)hi << 16);
                }
            }
        }
    } else if (T == DT_Q4_0) {
        const uint8_t *b = row + u * 18;
        const float d = cu_rd_f16(b);
CU_UNROLL
        for (int j = 0; j < 16; j++) {
            const int q = b[2 + j];
            y[j] = (float)((q & 15) - 8) * d;
            y[j + 16] = (float)((q >> 4) - 8) * d;
        }
    } else if (T == DT_Q4_1) {
        const uint8_t *b = row + u * 20;
        const float d = cu_rd_f16(b), m = cu_rd_f16(b + 2);
CU_UNROLL
        for (int j = 0; j < 16; j++) {
            const int q = b[4 + j];
            y[j] = d * (float)(q & 15) + m;
            y[j + 16] = d * (float)(q >> 4) + m;
        }
    } else if (T == DT_Q5_0) {
        const uint8_t *b = row + u * 22;
        const float d = cu_rd_f16(b);
        const uint32_t qh = cu_rd_u32(b + 2);
CU_UNROLL
        for (int j = 0; j < 16; j++) {
            const int q = b[6 + j];
            y[j] = (float)(((q & 15) | (((qh >> j) & 1u) ? 16 : 0)) - 16) * d;
            y[j + 16] = (float)(((q >> 4) | (((qh >> (j + 16)) & 1u) ? 16 : 0)) - 16) * d;
        }
    } else if (T == DT_Q5_1) {
        const uint8_t *b = row + u * 24;
        const float d = cu_rd_f16(b), m = cu_rd_f16(b + 2);
        const uint32_t qh = cu_rd_u32(b + 4);
CU_UNROLL
        for (int j = 0; j < 16; j++) {
            const int q = b[8 + j];
            y[j] = d * (float)((q & 15) | (((qh >> j) & 1u) ? 16 : 0)) + m;
            y[j + 16] = d * (float)((q >> 4) | (((qh >> (j + 16)) & 1u) ? 16 : 0)) + m;
        }
    } else if (T == DT_Q8_0) {
        const uint8_t *b = row + u * 34;
        const float d = cu_rd_f16(b);
CU_UNROLL
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    } else if (T == DT_Q4_K || T == DT_Q5_K) {
        const int sub = (int)(u & 7);
        const uint8_t *b = row + (u >> 3) * (T == DT_Q4_K ? 144 : 176);
        int sc, m;
        cu_kq_scale_min(b + 4, sub, &sc, &m);
        const float ds = cu_rd_f16(b) * (float)sc, dm = cu_rd_f16(b + 2) * (float)m;
        const uint8_t *qs = b + (T == DT_Q4_K ? 16 : 48) + 32 * (sub >> 1);
        const int shift = (sub & 1) * 4;
CU_UNROLL
        for (int l = 0; l < 32; l++) {
            int q = (qs[l] >> shift) & 15;
            if (T == DT_Q5_K) q |= ((b[16 + l] >> sub) & 1) << 4;
            y[l] = ds * (float)q - dm;
        }
    } else if (T == DT_Q6_K) {
        const int g = (int)(u & 7), h = g >> 2, m = g & 3;
        const uint8_t *b = row + (u >> 3) * 210;
        const uint8_t *lq = b + 64 * h + 32 * (m & 1), *hq = b + 128 + 32 * h;
        const int ls = 4 * (m >> 1), hs = 2 * m;
        const float d = cu_rd_f16(b + 208);
        const float ds0 = d * (float)(int8_t)b[192 + 2 * g], ds1 = d * (float)(int8_t)b[192 + 2 * g + 1];
CU_UNROLL
        for (int l = 0; l < 32; l++) {
            const int q = ((lq[l] >> ls) & 15) | (((hq[l] >> hs) & 3) << 4);
            y[l] = (l < 16 ? ds0 : ds1) * (float)(q - 32);
        }
    }
}

// The decode products' inner step: unit u (32 elements) of a stored row, dequantized once, dotted
// with the same unit of nt <= NV activation rows (row j at x + j * x_stride; x 16-byte aligned,
// x_stride a multiple of 4 floats): acc[j] += sum_i w[i] * x_j[i] for j < nt. Each accumulator
// goes through the same operations in the same order whatever NV and nt are, so a token's result
// does not depend on how many tokens share the weight read (checked on the host against NV = 1
// by tests/gpu/quant_host_check.cu). nt is uniform across a warp: no divergence.
template <int T, int NV>
CU_HD void cu_dot32_multi(const uint8_t *row, int64_t u, const float *x, int64_t x_stride, int nt, float *acc) {
    float v[32];
    cu_deq32<T>(row, u, v);
CU_UNROLL
    for (int j = 0; j < NV; j++) {
        if (j < nt) {
            const float4 *xt = reinterpret_cast<const float4 *>(x + j * x_stride) + u * 8;
            float a = acc[j];
CU_UNROLL
            for (int i = 0; i < 8; i++) {
                const float4 xv = xt[i];
                a += v[4 * i] * xv.x + v[4 * i + 1] * xv.y + v[4 * i + 2] * xv.z + v[4 * i + 3] * xv.w;
            }
            acc[j] = a;
        }
    }
}
