// The CUDA plugin's dequantizers (kernels/cuda/quant.cuh, quant_block.cuh), run on the host and
// compared bit for bit with the CPU reference (llm_dequantize_row) for every weight type the
// plugin uploads, on random blocks. Needs no GPU: it is how CI checks the block layouts of the
// device code (the kernels themselves run only on a GPU, tests/gpu/run.sh). Also: the decode
// kernels' multi-vector dot (several tokens per weight read) equals the single-vector one.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_block.cuh"

extern "C" {
void llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
}

static uint32_t g_rng = 0x12345u;
static uint32_t next_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

// A random finite half in [2^-14, 2) with a random sign: scales that keep every value finite.
static void put_half(uint8_t *p) {
    const uint16_t h = (uint16_t)(((next_u32() & 1u) << 15) | ((1 + next_u32() % 15) << 10) | (next_u32() & 0x3ffu));
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

struct type_desc {
    int id;
    const char *name;
    int block, size;
    int half_offs[3]; // f16 fields of a block (-1: none)
};

template <int T>
static int check_type(const type_desc &td) {
    const int64_t cols = 512, rows = 3;
    const size_t row_bytes = (size_t)(cols / td.block) * (size_t)td.size;
    uint8_t *w = (uint8_t *)malloc(row_bytes * rows);
    float *ref = (float *)malloc(sizeof(float) * cols);
    int bad = 0;
    for (size_t i = 0; i < row_bytes * rows; i++) w[i] = (uint8_t)next_u32();
    if (td.id == DT_F16 || td.id == DT_BF16 || td.id == DT_F32) {
        // finite values only: random halves / bf16 / f32 with a moderate exponent
        for (int64_t i = 0; i < rows * cols; i++) {
            if (td.id == DT_F16) put_half(w + 2 * i);
            else if (td.id == DT_BF16) {
                const uint16_t b = (uint16_t)(((next_u32() & 1u) << 15) | ((100 + next_u32() % 50) << 7) | (next_u32() & 0x7fu));
                memcpy(w + 2 * i, &b, 2);
            } else {
                const float f = (float)((int32_t)(next_u32() % 20001) - 10000) / 997.0f;
                memcpy(w + 4 * i, &f, 4);
            }
        }
    } else {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < cols / td.block; b++)
                for (int k = 0; k < 3; k++)
                    if (td.half_offs[k] >= 0) put_half(w + r * row_bytes + b * td.size + td.half_offs[k]);
    }
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        llm_dequantize_row((uint32_t)td.id, row, ref, cols);
        for (int64_t k = 0; k < cols; k++) {
            const float v = cu_deq<T>(row, k);
            if (memcmp(&v, &ref[k], 4) != 0 && bad++ < 5)
                fprintf(stderr, "%s: cu_deq row %lld element %lld: %g, cpu %g\n", td.name, (long long)r, (long long)k,
                        v, ref[k]);
        }
        for (int64_t u = 0; u < cols / 32; u++) {
            float y[32];
            cu_deq32<T>(row, u, y);
            for (int j = 0; j < 32; j++)
                if (memcmp(&y[j], &ref[32 * u + j], 4) != 0 && bad++ < 5)
                    fprintf(stderr, "%s: cu_deq32 row %lld unit %lld element %d: %g, cpu %g\n", td.name, (long long)r,
                            (long long)u, j, y[j], ref[32 * u + j]);
        }
    }
    // the multi-vector dot of the decode kernels (cu_dot32_multi<T, 8>, several tokens per weight
    // read) against the single-vector one (NV = 1), token by token, bit for bit: a token's result
    // must not depend on how many tokens share the read (nt = 1..8 of a group)
    float *xs = (float *)aligned_alloc(16, sizeof(float) * (size_t)(8 * cols));
    for (int64_t i = 0; i < 8 * cols; i++) xs[i] = (float)((int32_t)(next_u32() % 20001) - 10000) / 4999.0f;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int nt = 1; nt <= 8; nt++) {
            float acc8[8], acc1[8];
            for (int j = 0; j < 8; j++) acc8[j] = acc1[j] = 0.0f;
            for (int64_t u = 0; u < cols / 32; u++) {
                cu_dot32_multi<T, 8>(row, u, xs, cols, nt, acc8);
                for (int j = 0; j < nt; j++) cu_dot32_multi<T, 1>(row, u, xs + j * cols, cols, 1, &acc1[j]);
            }
            for (int j = 0; j < 8; j++) {
                const float want = j < nt ? acc1[j] : 0.0f; // accumulators past nt stay untouched
                if (memcmp(&acc8[j], &want, 4) != 0 && bad++ < 5)
                    fprintf(stderr, "%s: cu_dot32_multi row %lld nt %d vector %d: %.9g, single %.9g\n", td.name,
                            (long long)r, nt, j, acc8[j], want);
            }
        }
    }
    free(xs);
    printf("%-5s %s\n", td.name, bad ? "MISMATCH" : "bit-identical to the CPU dequantizer; multi-vector dot = single");
    free(w);
    free(ref);
    return bad != 0;
}

int main(void) {
    static const type_desc types[] = {
        {DT_F32, "F32", 1, 4, {-1, -1, -1}},     {DT_F16, "F16", 1, 2, {-1, -1, -1}},
        {DT_BF16, "BF16", 1, 2, {-1, -1, -1}},   {DT_Q4_0, "Q4_0", 32, 18, {0, -1, -1}},
        {DT_Q4_1, "Q4_1", 32, 20, {0, 2, -1}},   {DT_Q5_0, "Q5_0", 32, 22, {0, -1, -1}},
        {DT_Q5_1, "Q5_1", 32, 24, {0, 2, -1}},   {DT_Q8_0, "Q8_0", 32, 34, {0, -1, -1}},
        {DT_Q4_K, "Q4_K", 256, 144, {0, 2, -1}}, {DT_Q5_K, "Q5_K", 256, 176, {0, 2, -1}},
        {DT_Q6_K, "Q6_K", 256, 210, {208, -1, -1}},
    };
    int fails = 0;
    for (const type_desc &td : types) {
#define CU_CHECK_T(T) fails += check_type<T>(td)
        CU_DISPATCH_TYPE(td.id, CU_CHECK_T)
#undef CU_CHECK_T
    }
    printf("quant_host_check: %d passed, %d failed\n", (int)(sizeof types / sizeof types[0]) - fails, fails);
    return fails ? 1 : 0;
}
