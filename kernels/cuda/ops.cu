// Row and element-wise operations of the decoder block: RMSNorm (also per head for q/k norms),
// residual adds (with Gemma's post-norms fused), RoPE, the gated activations, the KV-cache
// store, row gathers and the f16 conversion for the GEMM path. Positions are read from device
// memory (pos_d) rather than passed as arguments, so that a captured decode graph is valid for
// every position.
#include "cuda_common.cuh"

#define NORM_THREADS 256

// Sum of squares of a row in double, as the CPU reference (kernels/cpu/scalar/ops.c) does.
__device__ double block_sumsq(const float *x, int64_t len) {
    __shared__ double part[NORM_THREADS / 32];
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) ss += (double)x[i] * (double)x[i];
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    double tot = 0.0;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) tot += part[i];
    __syncthreads(); // part may be reused by the caller's next reduction
    return tot;
}

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w; in place allowed (each thread rewrites what it read).
__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int64_t len, float eps) {
    const float *xr = x + (int64_t)blockIdx.x * len;
    float *yr = out + (int64_t)blockIdx.x * len;
    const double ss = block_sumsq(xr, len);
    const float scale = (float)(1.0 / sqrt(ss / (double)len + (double)eps));
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) yr[i] = w ? xr[i] * scale * w[i] : xr[i] * scale;
}

void cu_rmsnorm(float *out, const float *x, const float *w, int64_t n_rows, int64_t len, float eps, cudaStream_t s) {
    if (n_rows > 0) rmsnorm_kernel<<<(unsigned)n_rows, NORM_THREADS, 0, s>>>(out, x, w, len, eps);
}

// x[t] += post_w ? rmsnorm(o[t]) * post_w : o[t]
__global__ void residual_kernel(float *x, const float *o, const float *post_w, int64_t e, float eps) {
    float *xt = x + (int64_t)blockIdx.x * e;
    const float *ot = o + (int64_t)blockIdx.x * e;
    if (post_w) {
        const double ss = block_sumsq(ot, e);
        const float scale = (float)(1.0 / sqrt(ss / (double)e + (double)eps));
        for (int64_t i = threadIdx.x; i < e; i += blockDim.x) xt[i] += ot[i] * scale * post_w[i];
    } else {
        for (int64_t i = threadIdx.x; i < e; i += blockDim.x) xt[i] += ot[i];
    }
}

void cu_residual(float *x, const float *o, const float *post_w, int32_t n, int64_t e, float eps, cudaStream_t s) {
    residual_kernel<<<n, NORM_THREADS, 0, s>>>(x, o, post_w, e, eps);
}

// One thread per (token, head, pair): the pair rotated by pos * freq[i], the angle in double.
// Token t is at pos_d[0] + t (one sequence), or at pos_d[t] with per_token (a batched decode step:
// one token of each of several sequences).
__global__ void rope_kernel(float *x, int32_t n, int32_t n_heads, int32_t head_dim, int64_t stride,
                            const int32_t *pos_d, const double *freq, int32_t half, int neox, int per_token) {
    const int64_t id = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t total = (int64_t)n * n_heads * half;
    if (id >= total) return;
    const int32_t i = (int32_t)(id % half);
    const int32_t h = (int32_t)((id / half) % n_heads);
    const int32_t t = (int32_t)(id / ((int64_t)half * n_heads));
    const int64_t p = per_token ? (int64_t)pos_d[t] : (int64_t)pos_d[0] + t;
    const double angle = (double)p * freq[i];
    const float c = (float)cos(angle), sn = (float)sin(angle);
    float *xh = x + (int64_t)t * stride + (int64_t)h * head_dim;
    const int32_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
    const float x0 = xh[i0], x1 = xh[i1];
    xh[i0] = x0 * c - x1 * sn;
    xh[i1] = x0 * sn + x1 * c;
}

void cu_rope(float *x, int32_t n, int32_t n_heads, int32_t head_dim, int64_t stride, const int32_t *pos_d,
             const cu_layer &L, cudaStream_t s, bool per_token) {
    const int32_t half = L.n_rot / 2;
    const int64_t total = (int64_t)n * n_heads * half;
    if (total > 0)
        rope_kernel<<<(unsigned)((total + 255) / 256), 256, 0, s>>>(x, n, n_heads, head_dim, stride, pos_d,
                                                                   L.rope_freq, half, L.rope_style == 1,
                                                                   per_token ? 1 : 0);
}

// g = act(g) * u with the CPU's formulas (SiLU; GELU with the tanh approximation).
__global__ void glu_kernel(float *g, const float *u, int64_t n, int act) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float z = g[i];
    const float a = act == LLM_PLUGIN_ACT_GELU_TANH
                        ? 0.5f * z * (1.0f + tanhf(0.7978845608028654f * (z + 0.044715f * z * z * z)))
                        : z / (1.0f + expf(-z));
    g[i] = a * u[i];
}

void cu_glu(float *g, const float *u, int64_t n, int act, cudaStream_t s) {
    if (n > 0) glu_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(g, u, n, act);
}

// cache rows pos .. pos + n - 1 = src rows 0 .. n - 1 (row floats each)
__global__ void kv_store_kernel(float *cache, const float *src, int64_t total, int64_t row, const int32_t *pos_d) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) cache[(int64_t)pos_d[0] * row + i] = src[i];
}

void cu_kv_store(float *cache, const float *src, int32_t n, int64_t row, const int32_t *pos_d, cudaStream_t s) {
    const int64_t total = (int64_t)n * row;
    if (total > 0) kv_store_kernel<<<(unsigned)((total + 255) / 256), 256, 0, s>>>(cache, src, total, row, pos_d);
}

// Batched decode: row t (k_row floats of K, then v_row of V per token) goes to its own session's
// cache of layer il, at position b.pos[t]. One thread per element of K or V; i < total = n * (k_row
// + v_row) indexes K elements first (n * k_row), then V elements.
__global__ void kv_store_batch_kernel(cu_batch_dev b, int32_t il, const float *k_src, const float *v_src, int32_t n,
                                      int64_t k_row, int64_t v_row) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t nk = (int64_t)n * k_row, total = nk + (int64_t)n * v_row;
    if (i >= total) return;
    const bool is_k = i < nk;
    const int64_t row = is_k ? k_row : v_row, j = is_k ? i : i - nk;
    const int64_t t = j / row, c = j - t * row;
    float *cache = (is_k ? b.k[t] : b.v[t]) + ((int64_t)il * b.n_ctx[t] + b.pos[t]) * row;
    cache[c] = (is_k ? k_src : v_src)[j];
}

void cu_kv_store_batch(const cu_batch_dev &b, int32_t il, const float *k_src, const float *v_src, int32_t n,
                       int64_t k_row, int64_t v_row, cudaStream_t s) {
    const int64_t total = (int64_t)n * (k_row + v_row);
    if (total > 0)
        kv_store_batch_kernel<<<(unsigned)((total + 255) / 256), 256, 0, s>>>(b, il, k_src, v_src, n, k_row, v_row);
}

__global__ void gather_kernel(float *dst, const float *src, const int32_t *rows_d, int64_t e) {
    const float *sr = src + (int64_t)rows_d[blockIdx.x] * e;
    float *dr = dst + (int64_t)blockIdx.x * e;
    for (int64_t i = threadIdx.x; i < e; i += blockDim.x) dr[i] = sr[i];
}

void cu_gather_rows(float *dst, const float *src, const int32_t *rows_d, int32_t n, int64_t e, cudaStream_t s) {
    if (n > 0) gather_kernel<<<n, 256, 0, s>>>(dst, src, rows_d, e);
}

__global__ void to_half_kernel(__half *dst, const float *src, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2half(src[i]);
}

void cu_to_half(__half *dst, const float *src, int64_t n, cudaStream_t s) {
    const int64_t blocks = (n + 255) / 256;
    if (n > 0) to_half_kernel<<<(unsigned)(blocks < 65535 * 8 ? blocks : 65535 * 8), 256, 0, s>>>(dst, src, n);
}
