/* Which type each weight matrix of llm_quantize gets.
 *
 * The mixes Q4_K_M and Q5_K_M follow the ecosystem's common recipe, in this exact form:
 *   - the output matrix ("output.weight", or "token_embd.weight" when the model has no output
 *     matrix because the two are tied) is Q6_K;
 *   - "blk.N.attn_v.weight" and "blk.N.ffn_down.weight" are Q6_K in the layers N that
 *     more_bits(N, n_layer) selects: the first eighth (N < n/8), the last eighth (N >= 7n/8,
 *     integer division), and every third layer in between (N - n/8 = 2 mod 3), about half of the
 *     layers in all;
 *   - every other matrix is the base type (Q4_K / Q5_K).
 * When the layer count is unknown (0), every attn_v / ffn_down is Q6_K. */
#include <stdlib.h>
#include <string.h>

#include "quantize/quantize.h"

/* general.file_type values of the ecosystem (llama.cpp's LLAMA_FTYPE_*); Q4_K and Q5_K alone
 * are recorded as the "small" variants (14 Q4_K_S, 16 Q5_K_S), the closest existing ids. */
static const llm_quant_target TARGETS[] = {
    {"F32", LLM_DT_F32, LLM_DT_F32, 0},       {"F16", LLM_DT_F16, LLM_DT_F16, 1},
    {"BF16", LLM_DT_BF16, LLM_DT_BF16, 32},   {"Q8_0", LLM_DT_Q8_0, LLM_DT_Q8_0, 7},
    {"Q4_0", LLM_DT_Q4_0, LLM_DT_Q4_0, 2},    {"Q4_1", LLM_DT_Q4_1, LLM_DT_Q4_1, 3},
    {"Q5_0", LLM_DT_Q5_0, LLM_DT_Q5_0, 8},    {"Q5_1", LLM_DT_Q5_1, LLM_DT_Q5_1, 9},
    {"Q4_K", LLM_DT_Q4_K, LLM_DT_Q4_K, 14},   {"Q5_K", LLM_DT_Q5_K, LLM_DT_Q5_K, 16},
    {"Q6_K", LLM_DT_Q6_K, LLM_DT_Q6_K, 18},   {"Q4_K_M", LLM_DT_Q4_K, LLM_DT_Q6_K, 15},
    {"Q5_K_M", LLM_DT_Q5_K, LLM_DT_Q6_K, 17},
};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

const llm_quant_target *llm_quant_target_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < N_TARGETS; i++)
        if (strcmp(name, TARGETS[i].name) == 0) return &TARGETS[i];
    return NULL;
}

const char *llm_quant_target_names(void) {
    return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M";
}

static int more_bits(int64_t layer, int64_t n_layer) {
    if (n_layer <= 0) return 1;
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

/* The layer number of "blk.N.<suffix>", or -1 when name is not of that form. */
static int64_t layer_of(const char *name, const char *suffix) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end = NULL;
    const long long n = strtoll(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || n < 0 || strcmp(end + 1, suffix) != 0) return -1;
    return (int64_t)n;
}

uint32_t llm_quant_choose(const llm_quant_target *t, const char *name, int64_t n_layer, int tied) {
    if (t->high == t->base) return t->base;
    if (strcmp(name, "output.weight") == 0 || (tied && strcmp(name, "token_embd.weight") == 0)) return t->high;
    int64_t layer = layer_of(name, "attn_v.weight");
    if (layer < 0) layer = layer_of(name, "ffn_down.weight");
    if (layer >= 0 && more_bits(layer, n_layer)) return t->high;
    return t->base;
}

static uint32_t fallback(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_K: return LLM_DT_Q5_0;
    case LLM_DT_Q5_K: return LLM_DT_Q5_1;
    case LLM_DT_Q6_K: return LLM_DT_Q8_0;
    default: return LLM_DT_F16;
    }
}

uint32_t llm_quant_fit(uint32_t want, int64_t ne0) {
    uint32_t t = want;
    while (llm_dtype_row_bytes(t, ne0) == 0 && t != LLM_DT_F16) t = fallback(t);
    return t;
}
