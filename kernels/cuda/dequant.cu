// Dequantization kernels: token embeddings (one row per token) and weight tiles for the GEMM path.
#include "quant.cuh"

bool cu_type_supported(uint32_t type) {
    switch (type) {
    case DT_F32: case DT_F16: case DT_BF16: case DT_Q4_0: case DT_Q4_1: case DT_Q5_0: case DT_Q5_1:
    case DT_Q8_0: case DT_Q4_K: case DT_Q5_K: case DT_Q6_K: return true;
    default: return false;
    }
}

// x[t] = row tokens[t] of the embedding matrix * scale. One block per token.
template <int T>
__global__ void embed_kernel(const uint8_t *w, size_t row_bytes, int64_t cols, const int32_t *tokens, float scale,
                             float *x) {
    const int t = blockIdx.x;
    const uint8_t *row = w + (size_t)tokens[t] * row_bytes;
    float *xt = x + (int64_t)t * cols;
    for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) {
        const float v = cu_deq<T>(row, k);
        xt[k] = scale != 1.0f ? v * scale : v;
    }
}

void cu_embed(const cu_tensor &w, const int32_t *tokens_d, int32_t n, float scale, float *x, cudaStream_t s) {
#define CU_EMBED(T) embed_kernel<T><<<n, 256, 0, s>>>(w.d, w.row_bytes, w.cols, tokens_d, scale, x)
    CU_DISPATCH_TYPE(w.type, CU_EMBED)
#undef CU_EMBED
}

// Rows [r0, r0 + nrows) of w, dequantized into a dense row-major tile (f16 or f32).
template <int T, typename O>
__global__ void dequant_kernel(const uint8_t *w, size_t row_bytes, int64_t cols, int64_t nrows, O *dst) {
    const int64_t total = nrows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, k = i - r * cols;
        const float v = cu_deq<T>(w + (size_t)r * row_bytes, k);
        if constexpr (sizeof(O) == 2) dst[i] = __float2half(v);
        else dst[i] = v;
    }
}

void cu_dequant_rows(const cu_tensor &w, int64_t r0, int64_t nrows, __half *dst_h, float *dst_f, cudaStream_t s) {
    const uint8_t *base = w.d + (size_t)r0 * w.row_bytes;
    const int64_t total = nrows * w.cols;
    const int blocks = (int)((total + 255) / 256 < 65535 * 8 ? (total + 255) / 256 : 65535 * 8);
#define CU_DEQ(T)                                                                               \
    if (dst_h) dequant_kernel<T, __half><<<blocks, 256, 0, s>>>(base, w.row_bytes, w.cols, nrows, dst_h); \
    else dequant_kernel<T, float><<<blocks, 256, 0, s>>>(base, w.row_bytes, w.cols, nrows, dst_f)
    CU_DISPATCH_TYPE(w.type, CU_DEQ)
#undef CU_DEQ
}
