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
/* What a sampler carries from one token to the next (its random generator and the lazy walks'
 * counters), for saving and restoring a session: set(get()) continues the same stream. */
typedef struct llm_sampler_state {
    uint64_t rng[4];
    int32_t lazy_failures, lazy_skip;
} llm_sampler_state;
void llm_sampler_get_state(const llm_sampler *s, llm_sampler_state *out);
/* 0, or -1 when the state cannot be one of a sampler (the generator all zero, negative counters). */
int llm_sampler_set_state(llm_sampler *s, const llm_sampler_state *in);
/* Pick a token from logits[0..n_vocab) (not modified) given the recent history
 * (history[0..n_history), oldest first). */
int32_t llm_sampler_sample(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                           const int32_t *history, size_t n_history);

/* A constraint on the sampled token (a grammar): allows(ud, t) says whether token t may come next
 * (1 yes, 0 no, < 0 error); fill_mask(ud, allowed) fills allowed[0..n_vocab) at once (0 or < 0
 * error). Sampling treats the tokens it rejects as if their logits were -inf: the same token as
 * masking the logits first, for every setting. Greedy and top-k sampling test candidates in rank
 * order and stop at the first (k) allowed ones; the mask is asked for only when those are rare
 * among the likely tokens, or when a setting needs every allowed token (no top-k). */
typedef struct llm_sample_filter {
    int (*allows)(void *ud, int32_t token);
    int (*fill_mask)(void *ud, uint8_t *allowed);
    void *ud;
} llm_sample_filter;

/* Added to logits before anything else (OpenAI's logit_bias). */
typedef struct llm_logit_bias {
    const int32_t *tokens;
    const float *bias;
    size_t n;
} llm_logit_bias;

#define LLM_SAMPLE_NONE_ALLOWED (-1) /* the filter allows no token of finite logit */
#define LLM_SAMPLE_FILTER_ERROR (-2) /* the filter failed (its own error record says why) */

/* llm_sampler_sample with a logit bias and a filter (either may be NULL). Returns the token, or
 * LLM_SAMPLE_NONE_ALLOWED / LLM_SAMPLE_FILTER_ERROR. */
int32_t llm_sampler_sample_ex(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                              const int32_t *history, size_t n_history, const llm_logit_bias *bias,
                              const llm_sample_filter *filter);

/* log(sum_i exp(x[i])) in double, from the maximum (-INFINITY when every x[i] is). */
double llm_logsumexp(const float *x, int32_t n);

/* Log-probabilities under softmax(logits + bias) (no penalties, temperature 1, no truncation):
 * *chosen_lp for token chosen, and the n_top most likely tokens the filter allows (may be NULL),
 * best first, into top_tokens/top_lp. Returns how many, or -1 on a filter error. Call it before
 * the filter moves past the chosen token. */
int llm_sampler_logprobs(llm_sampler *s, const float *logits, const llm_logit_bias *bias,
                         const llm_sample_filter *filter, int32_t chosen, int32_t n_top, float *chosen_lp,
                         int32_t *top_tokens, float *top_lp);

#endif
