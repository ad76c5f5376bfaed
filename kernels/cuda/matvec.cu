// The decode product: out[t][r] = sum_k W[r][k] * x[t][k] for a few tokens, dequantizing the
// weights on the fly (no dequantized copy is ever written); f32 accumulation, then a warp
// reduction. One warp per row. Two kernels:
//   - matvec32_kernel (the default, rows whose length is a multiple of 32): each lane takes whole
//     32-element units (a block, or a K-quant sub-block), decodes the header once and reads the
//     activations as float4; one decoded unit serves up to MV_GROUP tokens (blockIdx.y is the
//     group), so n tokens read the weights ceil(n / 8) times;
//   - matvec_kernel (any length, and LLM_CUDA_MATVEC=generic; blockIdx.y is the token): the lanes
//     walk the row 32 elements apart with the per-element decoder, the simplest form, kept as the
//     reference on the device.
#include "quant_block.cuh"

#define MV_WARPS 8
#define MV_GROUP 8 // tokens per weight read in matvec32_kernel

template <int T>
__global__ void __launch_bounds__(MV_WARPS * 32)
    matvec_kernel(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *out) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * MV_WARPS + warp;
    if (r >= rows) return;
    const int t = blockIdx.y;
    const uint8_t *row = w + (size_t)r * row_bytes;
    const float *xt = x + (int64_t)t * cols;
    float acc = 0.0f;
    for (int64_t k = lane; k < cols; k += 32) acc += cu_deq<T>(row, k) * xt[k];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) out[(int64_t)t * rows + r] = acc;
}

// Up to NV tokens per weight read: blockIdx.y is a group of NV consecutive tokens (the last group
// may be shorter), each lane keeps NV accumulators. NV = 1 serves the one-token decode step,
// NV = 8 everything longer (prefill of 2..8 tokens, batched decode of several sessions: the
// quantized row is read and decoded once per group of 8 tokens instead of once per token).
template <int T, int NV>
__global__ void __launch_bounds__(MV_WARPS * 32)
    matvec32_kernel(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, int32_t n,
                    float *out) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * MV_WARPS + warp;
    if (r >= rows) return;
    const int32_t t0 = (int32_t)blockIdx.y * NV;      // gridDim.y = ceil(n / NV): t0 < n
    const int nt = n - t0 < NV ? n - t0 : NV;          // tokens of this group, 1..NV (warp-uniform)
    const uint8_t *row = w + (size_t)r * row_bytes;
    const float *xg = x + (int64_t)t0 * cols;          // cols % 32 == 0: rows stay 16-byte aligned
    const int64_t n_units = cols >> 5;
    float acc[NV];
#pragma unroll
    for (int j = 0; j < NV; j++) acc[j] = 0.0f;
    for (int64_t u = lane; u < n_units; u += 32) cu_dot32_multi<T, NV>(row, u, xg, cols, nt, acc);
#pragma unroll
    for (int j = 0; j < NV; j++) {
        if (j < nt) { // uniform: every lane takes part in the shuffles
            float a = acc[j];
            for (int off = 16; off > 0; off >>= 1) a += __shfl_xor_sync(0xffffffffu, a, off);
            if (lane == 0) out[(int64_t)(t0 + j) * rows + r] = a;
        }
    }
}

void cu_matvec(const cu_tensor &w, const float *x, int32_t n, float *out, bool generic, cudaStream_t s) {
    if (n < 1) return;
    const unsigned gx = (unsigned)((w.rows + MV_WARPS - 1) / MV_WARPS);
    if (!generic && w.cols % 32 == 0) {
        if (n == 1) {
            const dim3 grid(gx, 1u);
#define CU_MV32_1(T) matvec32_kernel<T, 1><<<grid, MV_WARPS * 32, 0, s>>>(w.d, w.row_bytes, w.rows, w.cols, x, n, out)
            CU_DISPATCH_TYPE(w.type, CU_MV32_1)
#undef CU_MV32_1
        } else {
            const dim3 grid(gx, (unsigned)((n + MV_GROUP - 1) / MV_GROUP));
#define CU_MV32_G(T)                                                                                        \
    matvec32_kernel<T, MV_GROUP><<<grid, MV_WARPS * 32, 0, s>>>(w.d, w.row_bytes, w.rows, w.cols, x, n, out)
            CU_DISPATCH_TYPE(w.type, CU_MV32_G)
#undef CU_MV32_G
        }
        return;
    }
    // the per-element kernel reads the weights once per token (grid.y = n <= CU_CHUNK)
    const dim3 grid(gx, (unsigned)n);
#define CU_MV(T) matvec_kernel<T><<<grid, MV_WARPS * 32, 0, s>>>(w.d, w.row_bytes, w.rows, w.cols, x, out)
    CU_DISPATCH_TYPE(w.type, CU_MV)
#undef CU_MV
}
