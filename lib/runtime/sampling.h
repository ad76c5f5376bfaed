/* Token sampling: penalties, then greedy or temperature with top-k, top-p and min-p filtering.
 * Deterministic: the same seed, options and logits give the same tokens on every platform
 * (own PRNG, no libc rand). */
#ifndef LLM_SAMPLING_H
#define LLM_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

typedef struct llm_sampling_params {
    float temperature;       /* <= 0: greedy (argmax, lowest id wins ties) */
    int32_t top_k;           /* <= 0: disabled */
    float top_p;             /* >= 1: disabled */
    float min_p;             /* <= 0: disabled */
    float repeat_penalty;    /* 1: disabled; logit > 0 divided by it, < 0 multiplied */
    float frequency_penalty; /* logit -= count * frequency_penalty */
    float presence_penalty;  /* logit -= (count > 0) * presence_penalty */
    int32_t penalty_last_n;  /* how many recent tokens the penalties look at */
    uint64_t seed;
} llm_sampling_params;

void llm_sampling_defaults(llm_sampling_params *p);

typedef struct llm_sampler llm_sampler;
llm_sampler *llm_sampler_new(int32_t n_vocab); /* NULL on out of memory */
void llm_sampler_free(llm_sampler *s);
/* Restart the random stream from params->seed. */
void llm_sampler_reset(llm_sampler *s, const llm_sampling_params *params);
/* Pick a token from logits[0..n_vocab) (not modified) given the recent history
 * (history[0..n_history), oldest first). */
int32_t llm_sampler_sample(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                           const int32_t *history, size_t n_history);

#endif
