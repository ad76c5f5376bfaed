// Element k of a stored row, dequantized: the GGUF block layouts as the CPU reference reads them
// (kernels/cpu/scalar/quant.c has the layouts in its header). Each value is computed with the
// same f32 operations in the same order as the CPU dequantizer, so the dequantized weights are
// bit-identical to the CPU's; only the summation order of products differs.
//
// Per element rather than per block: a warp then reads one block together (broadcast loads) and
// the activations coalesced, at the price of decoding the block header per element. Simple and
// obviously right first; specialised per-block decoders are a tuning step for a lent device.
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

#include "cuda_common.cuh"

// The decoders are __host__ __device__ so that tests/gpu/quant_host_check.cu can compare them
// with the CPU dequantizers on a machine without a GPU.
#define CU_HD __host__ __device__ __forceinline__
// "#pragma unroll" for the device pass only (the host compiler would warn about it).
#ifdef __CUDA_ARCH__
#define CU_UNROLL _Pragma("unroll")
#else
#define CU_UNROLL
#endif

// A float from its bits (host and device).
CU_HD float cu_bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

CU_HD float cu_half_float(uint16_t u) { return __half2float(__ushort_as_half(u)); }

CU_HD float cu_rd_f16(const uint8_t *p) {
    return cu_half_float((uint16_t)(p[0] | (p[1] << 8)));
}

CU_HD uint32_t cu_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

// 6-bit scale and min of sub-block j of Q4_K / Q5_K.
CU_HD void cu_kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

template <int T>
CU_HD float cu_deq(const uint8_t *row, int64_t k) {
    if (T == DT_F32) {
        return reinterpret_cast<const float *>(row)[k];
    } else if (T == DT_F16) {
        return cu_half_float(reinterpret_cast<const uint16_t *>(row)[k]);
    } else if (T == DT_BF16) {
        return cu_bits_float((uint32_t)reinterpret_cast<const uint16_t *>(row)[k] << 16);
    } else if (T == DT_Q4_0) {
        const uint8_t *b = row + (k >> 5) * 18;
        const int j = (int)(k & 31);
        const int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return (float)(q - 8) * cu_rd_f16(b);
    } else if (T == DT_Q4_1) {
        const uint8_t *b = row + (k >> 5) * 20;
        const int j = (int)(k & 31);
        const int q = j < 16 ? (b[4 + j] & 15) : (b[4 + j - 16] >> 4);
        return cu_rd_f16(b) * (float)q + cu_rd_f16(b + 2);
    } else if (T == DT_Q5_0) {
        const uint8_t *b = row + (k >> 5) * 22;
        const int j = (int)(k & 31);
        const uint32_t qh = cu_rd_u32(b + 2);
        const int lo = j < 16 ? (b[6 + j] & 15) : (b[6 + j - 16] >> 4);
        const int q = lo | (((qh >> j) & 1u) ? 16 : 0);
        return (float)(q - 16) * cu_rd_f16(b);
    } else if (T == DT_Q5_1) {
        const uint8_t *b = row + (k >> 5) * 24;
        const int j = (int)(k & 31);
        const uint32_t qh = cu_rd_u32(b + 4);
        const int lo = j < 16 ? (b[8 + j] & 15) : (b[8 + j - 16] >> 4);
        const int q = lo | (((qh >> j) & 1u) ? 16 : 0);
        return cu_rd_f16(b) * (float)q + cu_rd_f16(b + 2);
    } else if (T == DT_Q8_0) {
        const uint8_t *b = row + (k >> 5) * 34;
        return (float)((const int8_t *)(b + 2))[k & 31] * cu_rd_f16(b);
    } else if (T == DT_Q4_K || T == DT_Q5_K) {
        const uint8_t *b = row + (k >> 8) * (T == DT_Q4_K ? 144 : 176);
        const int e = (int)(k & 255), sub = e >> 5, l = e & 31;
        int sc, m;
        cu_kq_scale_min(b + 4, sub, &sc, &m);
        const float ds = cu_rd_f16(b) * (float)sc, dm = cu_rd_f16(b + 2) * (float)m;
        const uint8_t *qs = b + (T == DT_Q4_K ? 16 : 48) + 32 * (sub >> 1);
        int q = (sub & 1) ? (qs[l] >> 4) : (qs[l] & 15);
        if (T == DT_Q5_K) q |= ((b[16 + l] >> sub) & 1) << 4;
        return ds * (float)q - dm;
    } else if (T == DT_Q6_K) {
        const uint8_t *b = row + (k >> 8) * 210;
        const int e = (int)(k & 255), g = e >> 5, l = e & 31, h = g >> 2, m = g & 3;
        const uint8_t lq = b[64 * h + 32 * (m & 1) + l], hq = b[128 + 32 * h + l];
        const int q = ((lq >> (4 * (m >> 1))) & 15) | (((hq >> (2 * m)) & 3) << 4);
        const float ds = cu_rd_f16(b + 208) * (float)((const int8_t *)(b + 192))[2 * g + (l >= 16)];
        return ds * (float)(q - 32);
    }
    return cu_bits_float(0x7fc00000u); // unreachable: types are checked at upload
}

// Calls F::template run<T>(args...) for the tensor type (the one place listing the types).
#define CU_DISPATCH_TYPE(type, CALL)             \
    switch (type) {                              \
    case DT_F32: CALL(DT_F32); break;            \
    case DT_F16: CALL(DT_F16); break;            \
    case DT_BF16: CALL(DT_BF16); break;          \
    case DT_Q4_0: CALL(DT_Q4_0); break;          \
    case DT_Q4_1: CALL(DT_Q4_1); break;          \
    case DT_Q5_0: CALL(DT_Q5_0); break;          \
    case DT_Q5_1: CALL(DT_Q5_1); break;          \
    case DT_Q8_0: CALL(DT_Q8_0); break;          \
    case DT_Q4_K: CALL(DT_Q4_K); break;          \
    case DT_Q5_K: CALL(DT_Q5_K); break;          \
    case DT_Q6_K: CALL(DT_Q6_K); break;          \
    default: break;                              \
    }
