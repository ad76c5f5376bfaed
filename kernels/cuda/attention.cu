// Causal attention over the device KV cache with an online softmax (one pass over the keys, no
// score matrix in memory): one warp per (query token, head). The lanes hold the output
// accumulator 32 elements apart (up to CU_MAX_HEAD_DIM per head). Grouped-query
// attention maps query head h to KV head h / (n_head / n_head_kv); with window > 0 a query at
// position p sees keys at positions > p - window, as the CPU reference does.
//
// f32 throughout (scores are dot * scale as on the CPU). Splitting the keys of one query over
// several warps (flash-decoding, for long contexts) and tensor-core tiles for prefill are the
// tuning steps for a lent device.
#include "cuda_common.cuh"

#define ATT_WARPS 4
#define ATT_PER_LANE (CU_MAX_HEAD_DIM / 32)

// Keys are taken 32 at a time: lane i computes the score of key j0 + i against the query (kept
// in shared memory, so every lane reads all of it), the block's maximum and sum are two warp
// reductions, and the values are accumulated key by key with each key's weight broadcast from
// its lane (the value rows are read coalesced). One exp per lane per block instead of one per key.
//
// One warp: the query head qh (hdk floats) of a token at position p against the cache rows
// j0 .. p of KV head g (kc / vc: the layer's K and V caches of its sequence), written to oh (hdv
// floats). qw: this warp's CU_MAX_HEAD_DIM floats of shared memory (16-byte aligned).
__device__ __forceinline__ void attend_warp(const float *qh, const float *kc, const float *vc, float *oh, int64_t p,
                                            int32_t window, int32_t g, int32_t hdk, int32_t hdv, int64_t k_row,
                                            int64_t v_row, float scale, float *qw, int lane) {
    const int64_t j0 = window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
    for (int d = lane; d < hdk; d += 32) qw[d] = qh[d];
    __syncwarp();
    float acc[ATT_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const bool vec4 = (hdk & 3) == 0 && (k_row & 3) == 0;
    for (int64_t jb = j0; jb <= p; jb += 32) {
        const int64_t j = jb + lane;
        float sc = -INFINITY;
        if (j <= p) {
            const float *kj = kc + j * k_row + (int64_t)g * hdk;
            float dot = 0.0f;
            if (vec4) {
                const float4 *k4 = reinterpret_cast<const float4 *>(kj);
                const float4 *q4 = reinterpret_cast<const float4 *>(qw);
                for (int d = 0; d < (hdk >> 2); d++) {
                    const float4 a = q4[d], b = k4[d];
                    dot += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
                }
            } else {
                for (int d = 0; d < hdk; d++) dot += qw[d] * kj[d];
            }
            sc = dot * scale;
        }
        float bmax = sc;
        for (int off = 16; off > 0; off >>= 1) bmax = fmaxf(bmax, __shfl_xor_sync(0xffffffffu, bmax, off));
        const float m_new = fmaxf(m, bmax);
        const float corr = expf(m - m_new);
        const float pj = j <= p ? expf(sc - m_new) : 0.0f;
        float bsum = pj;
        for (int off = 16; off > 0; off >>= 1) bsum += __shfl_xor_sync(0xffffffffu, bsum, off);
        l = l * corr + bsum;
#pragma unroll
        for (int i = 0; i < ATT_PER_LANE; i++) acc[i] *= corr;
        const int nk = p - jb + 1 < 32 ? (int)(p - jb + 1) : 32;
        for (int jj = 0; jj < nk; jj++) {
            const float pw = __shfl_sync(0xffffffffu, pj, jj);
            const float *vj = vc + (jb + jj) * v_row + (int64_t)g * hdv;
#pragma unroll
            for (int i = 0; i < ATT_PER_LANE; i++) {
                const int d = lane + 32 * i;
                if (d < hdv) acc[i] += pw * vj[d];
            }
        }
        m = m_new;
    }
    const float inv = 1.0f / l;
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; i++) {
        const int d = lane + 32 * i;
        if (d < hdv) oh[d] = acc[i] * inv;
    }
}

__global__ void __launch_bounds__(ATT_WARPS * 32)
    attention_kernel(const float *q, const float *kc, const float *vc, float *out, int32_t n, const int32_t *pos_d,
                     int32_t n_head, int32_t group, int32_t hdk, int32_t hdv, int64_t k_row, int64_t v_row,
                     int32_t window, float scale) {
    __shared__ __align__(16) float q_sh[ATT_WARPS][CU_MAX_HEAD_DIM]; // read as float4
    const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
    const int64_t w = (int64_t)blockIdx.x * ATT_WARPS + wib;
    if (w >= (int64_t)n * n_head) return; // whole warps leave together: no block-wide barrier below
    const int32_t t = (int32_t)(w / n_head), h = (int32_t)(w % n_head), g = h / group;
    const int64_t p = (int64_t)pos_d[0] + t;
    attend_warp(q + (int64_t)t * n_head * hdk + (int64_t)h * hdk, kc, vc,
                out + (int64_t)t * n_head * hdv + (int64_t)h * hdv, p, window, g, hdk, hdv, k_row, v_row, scale,
                q_sh[wib], lane);
}

// Batched decode: warp (t, h) is head h of token t, which belongs to its own sequence: the cache
// of layer il of that sequence starts il * n_ctx[t] rows into b.k[t] / b.v[t]; its position is
// b.pos[t] (its own row there was stored by cu_kv_store_batch just before).
__global__ void __launch_bounds__(ATT_WARPS * 32)
    attention_batch_kernel(const float *q, cu_batch_dev b, int32_t il, float *out, int32_t n, int32_t n_head,
                           int32_t group, int32_t hdk, int32_t hdv, int64_t k_row, int64_t v_row, int32_t window,
                           float scale) {
    __shared__ __align__(16) float q_sh[ATT_WARPS][CU_MAX_HEAD_DIM]; // read as float4
    const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
    const int64_t w = (int64_t)blockIdx.x * ATT_WARPS + wib;
    if (w >= (int64_t)n * n_head) return; // whole warps leave together: no block-wide barrier below
    const int32_t t = (int32_t)(w / n_head), h = (int32_t)(w % n_head), g = h / group;
    const int64_t layer_rows = (int64_t)il * b.n_ctx[t];
    const float *kc = b.k[t] + layer_rows * k_row, *vc = b.v[t] + layer_rows * v_row;
    attend_warp(q + (int64_t)t * n_head * hdk + (int64_t)h * hdk, kc, vc,
                out + (int64_t)t * n_head * hdv + (int64_t)h * hdv, (int64_t)b.pos[t], window, g, hdk, hdv, k_row,
                v_row, scale, q_sh[wib], lane);
}

void cu_attention(const float *q, const float *k_cache, const float *v_cache, float *out, int32_t n,
                  const int32_t *pos_d, int32_t n_head, int32_t n_head_kv, int32_t hdk, int32_t hdv,
                  int64_t k_row, int64_t v_row, int32_t window, float scale, cudaStream_t s) {
    const int64_t warps = (int64_t)n * n_head;
    attention_kernel<<<(unsigned)((warps + ATT_WARPS - 1) / ATT_WARPS), ATT_WARPS * 32, 0, s>>>(
        q, k_cache, v_cache, out, n, pos_d, n_head, n_head / n_head_kv, hdk, hdv, k_row, v_row, window, scale);
}

void cu_attention_batch(const float *q, const cu_batch_dev &b, int32_t il, float *out, int32_t n, int32_t n_head,
                        int32_t n_head_kv, int32_t hdk, int32_t hdv, int64_t k_row, int64_t v_row, int32_t window,
                        float scale, cudaStream_t s) {
    const int64_t warps = (int64_t)n * n_head;
    if (warps > 0)
        attention_batch_kernel<<<(unsigned)((warps + ATT_WARPS - 1) / ATT_WARPS), ATT_WARPS * 32, 0, s>>>(
            q, b, il, out, n, n_head, n_head / n_head_kv, hdk, hdv, k_row, v_row, window, scale);
}
