// The decode product: out[t][r] = sum_k W[r][k] * x[t][k] for a few tokens, dequantizing the
// weights on the fly (no dequantized copy is ever written); f32 accumulation, then a warp
// reduction. One warp per row; blockIdx.y is the token. Two kernels:
//   - matvec32_kernel (the default, rows whose length is a multiple of 32): each lane takes whole
//     32-element units (a block, or a K-quant sub-block), decodes the header once and reads the
//     activations as float4;
//   - matvec_kernel (any length, and LLM_CUDA_MATVEC=generic): the lanes walk the row 32 elements
//     apart with the per-element decoder, the simplest form, kept as the reference on the device.
#include "quant_block.cuh"

#define MV_WARPS 8

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

template <int T>
__global__ void __launch_bounds__(MV_WARPS * 32)
    matvec32_kernel(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *out) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * MV_WARPS + warp;
    if (r >= rows) return;
    const int t = blockIdx.y;
    const uint8_t *row = w + (size_t)r * row_bytes;
    const float4 *xt = reinterpret_cast<const float4 *>(x + (int64_t)t * cols); // cols % 32 == 0: aligned
    const int64_t n_units = cols >> 5;
    float acc = 0.0f;
    for (int64_t u = lane; u < n_units; u += 32) {
        float v[32];
        cu_deq32<T>(row, u, v);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const float4 xv = xt[u * 8 + i];
            acc += v[4 * i] * xv.x + v[4 * i + 1] * xv.y + v[4 * i + 2] * xv.z + v[4 * i + 3] * xv.w;
        }
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) out[(int64_t)t * rows + r] = acc;
}

void cu_matvec(const cu_tensor &w, const float *x, int32_t n, float *out, bool generic, cudaStream_t s) {
    const dim3 grid((unsigned)((w.rows + MV_WARPS - 1) / MV_WARPS), (unsigned)n);
    if (!generic && w.cols % 32 == 0) {
#define CU_MV32(T) matvec32_kernel<T><<<grid, MV_WARPS * 32, 0, s>>>(w.d, w.row_bytes, w.rows, w.cols, x, out)
        CU_DISPATCH_TYPE(w.type, CU_MV32)
#undef CU_MV32
        return;
    }
#define CU_MV(T) matvec_kernel<T><<<grid, MV_WARPS * 32, 0, s>>>(w.d, w.row_bytes, w.rows, w.cols, x, out)
    CU_DISPATCH_TYPE(w.type, CU_MV)
#undef CU_MV
}
