/* Token sampling: penalties, greedy, top-k, temperature softmax, top-p, min-p.
 *
 * Every non-greedy sample draws exactly one double from the sampler's own PRNG (xoshiro256**,
 * seeded through splitmix64) and walks the kept candidates in a fixed order: logit descending,
 * token id ascending. Probabilities are computed in double.
 *
 * Candidate selection never sorts the whole vocabulary unless the distribution demands it: the
 * best m tokens are taken with a bounded min-heap and only those are sorted; without top-k, m
 * starts small and doubles until the top-p cut (or the random draw) falls inside the prefix. */
#include "runtime/sampling.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Candidates tested one by one before the whole-vocabulary mask is computed instead: a token
 * test costs a few cache lookups, the mask a walk of the vocabulary's prefix tree, so the lazy
 * walk wins while the allowed tokens rank high (the usual case: a model mostly wants what the
 * grammar allows) and the mask when they are rare among the likely ones. */
#define LAZY_MAX_TESTED 1024

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct llm_sampler {
    int32_t n_vocab;
    uint64_t rng[4];
    float *work;    /* penalised logits, NaN mapped to -inf, +inf clamped to FLT_MAX */
    cand *cands;    /* heap / sorted candidates */
    int32_t *count; /* per-token occurrence counts inside the penalty window (kept zeroed) */
    uint8_t *mask;  /* constrained sampling's whole-vocabulary mask (allocated on first use) */
    cand *kept;     /* the allowed candidates a lazy walk found (LAZY_MAX_TESTED) */
    int lazy_failures, lazy_skip; /* recent lazy walks that failed; tokens to mask directly */
};

/* ---- PRNG ---------------------------------------------------------------------------------- */

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    const uint64_t result = rotl64(s[1] * 5u, 7) * 9u;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s[i] = splitmix64_next(&x);
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1; /* unreachable in practice; never all zero */
}

/* Uniform double in [0, 1): the top 53 bits scaled by 2^-53. */
static double rng_uniform(uint64_t s[4]) {
    return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- public functions ---------------------------------------------------------------------- */

void llm_sampling_defaults(llm_sampling_params *p) {
    if (!p) return;
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->frequency_penalty = 0.0f;
    p->presence_penalty = 0.0f;
    p->penalty_last_n = 64;
    p->seed = 0xC0FFEEu;
}

llm_sampler *llm_sampler_new(int32_t n_vocab) {
    if (n_vocab <= 0) return NULL;
    llm_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_vocab = n_vocab;
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->kept = malloc(LAZY_MAX_TESTED * sizeof *s->kept);
    if (!s->work || !s->cands || !s->count || !s->kept) {
        llm_sampler_free(s);
        return NULL;
    }
    rng_seed(s->rng, 0xC0FFEEu);
    return s;
}

void llm_sampler_free(llm_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cands);
    free(s->count);
    free(s->mask);
    free(s->kept);
    free(s);
}

void llm_sampler_reset(llm_sampler *s, const llm_sampling_params *params) {
    if (!s) return;
    llm_sampling_params d;
    if (!params) {
        llm_sampling_defaults(&d);
        params = &d;
    }
    rng_seed(s->rng, params->seed);
}

void llm_sampler_get_state(const llm_sampler *s, llm_sampler_state *out) {
    memcpy(out->rng, s->rng, sizeof out->rng);
    out->lazy_failures = s->lazy_failures;
    out->lazy_skip = s->lazy_skip;
}

int llm_sampler_set_state(llm_sampler *s, const llm_sampler_state *in) {
    if ((in->rng[0] | in->rng[1] | in->rng[2] | in->rng[3]) == 0 || in->lazy_failures < 0 || in->lazy_skip < 0)
        return -1;
    memcpy(s->rng, in->rng, sizeof s->rng);
    s->lazy_failures = in->lazy_failures;
    s->lazy_skip = in->lazy_skip;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* a ranks before b: higher logit first, then lower id. */
static inline int cand_before(cand a, cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (cand_before(*a, *b)) return -1;
    if (cand_before(*b, *a)) return 1;
    return 0;
}

/* Heap whose root is the worst candidate (the one every other ranks before). */
static void heap_sift_down(cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(h[w], h[l])) w = l;
        if (r < n && cand_before(h[w], h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_sift_up(cand *h, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(h[p], h[i])) return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Offers c to the heap out of *k entries keeping the best m. */
static inline void heap_offer(cand *out, size_t *k, size_t m, cand c) {
    if (*k < m) {
        out[*k] = c;
        heap_sift_up(out, *k);
        (*k)++;
    } else if (cand_before(c, out[0])) {
        out[0] = c;
        heap_sift_down(out, *k, 0);
    }
}

/* The best m tokens with a finite (> -inf) logit, sorted; returns how many (<= m). */
static size_t top_sorted(const float *work, int32_t n, size_t m, cand *out) {
    size_t k = 0;
    if (m == 0) return 0;
    int32_t i = 0;
    while (i < n) {
        int32_t end = i + 1;
        if (k == m) {
            /* Once the heap is full, a block whose largest value does not exceed the worst kept
             * one cannot enter (a tie loses too: every id here is larger than the kept ones), so
             * it is skipped after a max the compiler vectorises; most of a large vocabulary goes
             * this way. */
            end = n - i > 64 ? i + 64 : n;
            float mx = -INFINITY;
            for (int32_t j = i; j < end; j++) mx = work[j] > mx ? work[j] : mx;
            if (!(mx > out[0].logit)) {
                i = end;
                continue;
            }
        }
        for (; i < end; i++) {
            float v = work[i];
            if (v == -INFINITY) continue;
            const cand c = {v, i};
            heap_offer(out, &k, m, c);
        }
    }
    qsort(out, k, sizeof *out, cand_cmp);
    return k;
}

static void apply_penalties(llm_sampler *s, const llm_sampling_params *p, const int32_t *history,
                            size_t n_history) {
    const float rep = p->repeat_penalty;
    const int use_rep = rep > 0.0f && rep != 1.0f; /* non-positive / NaN: disabled */
    const float freq = isfinite(p->frequency_penalty) ? p->frequency_penalty : 0.0f;
    const float pres = isfinite(p->presence_penalty) ? p->presence_penalty : 0.0f;
    if (!history || n_history == 0 || p->penalty_last_n == 0) return;
    if (!use_rep && freq == 0.0f && pres == 0.0f) return;
    size_t n = n_history;
    if (p->penalty_last_n > 0 && (size_t)p->penalty_last_n < n) n = (size_t)p->penalty_last_n;
    const int32_t *win = history + (n_history - n);
    for (size_t i = 0; i < n; i++)
        if (win[i] >= 0 && win[i] < s->n_vocab) s->count[win[i]]++;
    for (size_t i = 0; i < n; i++) {
        int32_t t = win[i];
        if (t < 0 || t >= s->n_vocab || s->count[t] == 0) continue; /* done already */
        float v = s->work[t];
        if (use_rep) {
            if (v > 0.0f) v /= rep;
            else if (v < 0.0f) v *= rep;
        }
        v -= (float)s->count[t] * freq + pres;
        if (isnan(v)) v = -INFINITY;
        if (v > FLT_MAX) v = FLT_MAX;
        s->work[t] = v;
        s->count[t] = 0;
    }
}

/* Walk cands[0..n) with weights exp((logit - top) * inv_t) until the cumulative weight exceeds
 * target; returns the index, or -1 when the prefix ends before. *last_pos gets the last index
 * with a positive weight (left alone when none). */
static ptrdiff_t walk(const cand *c, size_t n, float top, double inv_t, double target,
                      double *cum, ptrdiff_t *last_pos) {
    for (size_t i = 0; i < n; i++) {
        double w = exp(((double)c[i].logit - (double)top) * inv_t);
        if (w > 0.0) *last_pos = (ptrdiff_t)i;
        *cum += w;
        if (*cum > target) return (ptrdiff_t)i;
    }
    return -1;
}

/* ---- sampling ------------------------------------------------------------------------------ */

/* Sampling within the candidates c[0..k), sorted best first (c[0].logit = top): the top-k branch
 * (the universe is these k tokens; top-p and min-p cut within them). */
static int32_t pick_sorted(const cand *c, size_t k, const llm_sampling_params *params, double u) {
    const float top = c[0].logit;
    const double inv_t = 1.0 / (double)params->temperature;
    const double top_p = params->top_p;
    const int use_top_p = top_p < 1.0; /* NaN: disabled */
    const double min_p = params->min_p;
    const int use_min_p = min_p > 0.0;
    double wk = 0.0;
    size_t n_minp = 0; /* min-p keeps a prefix: the tokens with weight >= min_p */
    for (size_t i = 0; i < k; i++) {
        double w = exp(((double)c[i].logit - (double)top) * inv_t);
        wk += w;
        if (!use_min_p || w >= min_p) n_minp++;
    }
    size_t keep = k;
    if (use_top_p) {
        double cum = 0.0;
        for (size_t i = 0; i < k; i++) {
            cum += exp(((double)c[i].logit - (double)top) * inv_t);
            if (cum / wk >= top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (use_min_p && n_minp < keep) keep = n_minp;
    if (keep == 0) keep = 1;
    double total = 0.0;
    for (size_t i = 0; i < keep; i++) total += exp(((double)c[i].logit - (double)top) * inv_t);
    double cum = 0.0;
    ptrdiff_t last = 0;
    ptrdiff_t at = walk(c, keep, top, inv_t, u * total, &cum, &last);
    return c[at >= 0 ? at : last].id;
}

static int32_t argmax(const float *work, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (work[i] > work[best]) best = i;
    return best;
}

/* Sampling over the whole of work[] (tokens at -inf excluded): greedy (argmax, lowest id on ties;
 * 0 when every value is -inf), top-k, or the growing sorted prefix. */
static int32_t pick_all(llm_sampler *s, const llm_sampling_params *params) {
    const int32_t n = s->n_vocab;
    const float *work = s->work;
    const int use_k = params->top_k > 0 && params->top_k < n;
    if (!(params->temperature > 0.0f)) return argmax(work, n);
    if (use_k) {
        /* top-k: the universe is the k best tokens; probabilities are normalised over them (the
         * best one is the first: no argmax pass over the vocabulary) */
        size_t k = top_sorted(work, n, (size_t)params->top_k, s->cands);
        if (k == 0) return 0;
        return pick_sorted(s->cands, k, params, rng_uniform(s->rng));
    }
    const int32_t best = argmax(work, n);
    const float top = work[best];
    if (top == -INFINITY) return best;
    const double inv_t = 1.0 / (double)params->temperature;
    const double top_p = params->top_p;
    const int use_top_p = top_p < 1.0; /* NaN: disabled */
    const double min_p = params->min_p;
    const int use_min_p = min_p > 0.0;
    const double u = rng_uniform(s->rng);

    cand *c = s->cands;

    /* Weights relative to the best token (weight 1). Over the whole vocabulary: the total, and
     * the number / total weight of tokens min-p keeps (prob >= min_p * max prob). */
    size_t n_minp = 0;
    double w_all = 0.0, w_minp = 0.0;
    for (int32_t i = 0; i < n; i++) {
        if (work[i] == -INFINITY) continue;
        double w = exp(((double)work[i] - (double)top) * inv_t);
        w_all += w;
        if (!use_min_p || w >= min_p) {
            n_minp++;
            w_minp += w;
        }
    }

    /* No top-k: grow the sorted prefix until it holds the kept set's cut or the draw. */
    size_t limit = n_minp ? n_minp : 1; /* min-p keeps a prefix of this length */
    size_t m = limit < 64 ? limit : 64;
    for (;;) {
        size_t got = top_sorted(work, n, m, c);
        if (got < m) m = got;
        size_t keep = 0; /* 0: the kept length is not known within this prefix */
        if (use_top_p) {
            double cum = 0.0;
            for (size_t i = 0; i < m; i++) {
                cum += exp(((double)c[i].logit - (double)top) * inv_t);
                if (cum / w_all >= top_p) {
                    keep = i + 1;
                    break;
                }
            }
            if (keep > limit) keep = limit;
            if (!keep && m >= limit) keep = limit;
        }
        if (keep) {
            double total = 0.0;
            for (size_t i = 0; i < keep; i++)
                total += exp(((double)c[i].logit - (double)top) * inv_t);
            double cum = 0.0;
            ptrdiff_t last = 0;
            ptrdiff_t at = walk(c, keep, top, inv_t, u * total, &cum, &last);
            return c[at >= 0 ? at : last].id;
        }
        if (!use_top_p) {
            /* the kept set is the min-p set, total weight w_minp: walk towards the draw */
            double cum = 0.0;
            ptrdiff_t last = 0;
            ptrdiff_t at = walk(c, m, top, inv_t, u * w_minp, &cum, &last);
            if (at >= 0) return c[at].id;
            if (m >= limit) return c[last].id; /* rounding left the draw just past the end */
        }
        if (m >= limit) return c[0].id; /* not reached */
        m = m * 2 < limit ? m * 2 : limit;
    }
}

/* work = logits, sanitised, with the bias added and the penalties applied. */
static void prepare_work(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                         const llm_logit_bias *bias, const int32_t *history, size_t n_history) {
    const int32_t n = s->n_vocab;
    float *work = s->work;
    for (int32_t i = 0; i < n; i++) {
        float v = logits[i];
        if (isnan(v)) v = -INFINITY;
        else if (v > FLT_MAX) v = FLT_MAX;
        work[i] = v;
    }
    if (bias)
        for (size_t i = 0; i < bias->n; i++) {
            const int32_t t = bias->tokens[i];
            if (t < 0 || t >= n) continue;
            float v = work[t] + bias->bias[i];
            if (isnan(v)) v = -INFINITY; /* -inf + inf: a banned token stays banned */
            else if (v > FLT_MAX) v = FLT_MAX;
            work[t] = v;
        }
    apply_penalties(s, params, history, n_history);
}

/* The k best allowed tokens, sorted, into s->kept, by testing candidates in rank order (each
 * once: a larger sorted prefix starts with the smaller one). Returns k when found, 0 when the
 * lazy walk gave up (the caller masks), -1 on a filter error. With fewer than k tokens of finite
 * value in all, every one was tested: returns how many were allowed (may be 0: then *exhausted
 * is set). */
static ptrdiff_t lazy_allowed(llm_sampler *s, const llm_sample_filter *f, size_t k, int *exhausted) {
    size_t m = k * 4 < 256 ? 256 : k * 4; /* one scan costs about the same for any small m */
    size_t tested = 0, kept = 0;
    *exhausted = 0;
    if (k > LAZY_MAX_TESTED) return 0;
    for (;;) {
        if (m > LAZY_MAX_TESTED) m = LAZY_MAX_TESTED;
        const size_t got = top_sorted(s->work, s->n_vocab, m, s->cands);
        for (; tested < got && kept < k; tested++) {
            const int r = f->allows(f->ud, s->cands[tested].id);
            if (r < 0) return -1;
            if (r) s->kept[kept++] = s->cands[tested];
        }
        if (kept == k) return (ptrdiff_t)k;
        if (got < m) { /* every finite token was tested */
            *exhausted = kept == 0;
            return (ptrdiff_t)kept;
        }
        if (m >= LAZY_MAX_TESTED) return 0;
        /* at the rate seen so far, the walk would not find the rest within the bound: mask now
         * (nothing allowed among the likely tokens is the sign of a grammar the model does not
         * follow, e.g. random weights: then every token needs the mask) */
        if (kept == 0 || (double)(k - kept) * (double)tested / (double)kept > (double)(LAZY_MAX_TESTED - tested))
            return 0;
        m *= 4;
    }
}

int32_t llm_sampler_sample_ex(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                              const int32_t *history, size_t n_history, const llm_logit_bias *bias,
                              const llm_sample_filter *filter) {
    if (!s || !logits) return 0;
    llm_sampling_params d;
    if (!params) {
        llm_sampling_defaults(&d);
        params = &d;
    }
    const int32_t n = s->n_vocab;
    prepare_work(s, params, logits, bias, history, n_history);
    if (!filter) return pick_all(s, params);

    /* Constrained: the tokens the filter rejects are out (as if at -inf), then the same
     * sampling. Greedy needs the best allowed token, top-k the k best: found lazily, unless the
     * last walks failed (a model that does not follow the grammar, e.g. random weights, would
     * pay for a failed walk before every mask): after a failure the next min(failures, 8)
     * tokens go straight to the mask. Either way the same token comes out. */
    const int greedy = !(params->temperature > 0.0f);
    const int use_k = params->top_k > 0 && params->top_k < n;
    const size_t k = greedy ? 1 : (size_t)params->top_k;
    if ((greedy || use_k) && s->lazy_skip > 0) {
        s->lazy_skip--;
    } else if (greedy || use_k) {
        int exhausted = 0;
        const ptrdiff_t got = lazy_allowed(s, filter, k, &exhausted);
        if (got < 0) return LLM_SAMPLE_FILTER_ERROR;
        if (exhausted) return LLM_SAMPLE_NONE_ALLOWED;
        if (got > 0) {
            s->lazy_failures = 0;
            if (greedy) return s->kept[0].id;
            return pick_sorted(s->kept, (size_t)got, params, rng_uniform(s->rng));
        }
        if (s->lazy_failures < 8) s->lazy_failures++;
        s->lazy_skip = s->lazy_failures;
    }
    if (!s->mask) {
        s->mask = malloc((size_t)n);
        if (!s->mask) return LLM_SAMPLE_FILTER_ERROR;
    }
    if (filter->fill_mask(filter->ud, s->mask) != 0) return LLM_SAMPLE_FILTER_ERROR;
    if (greedy || use_k) {
        /* the k best of the allowed tokens: gathered from the mask (a pass over bytes, mostly
         * zero where a mask is needed), then a heap over them only */
        size_t na = 0, kk = 0;
        for (int32_t i = 0; i < n; i++)
            if (s->mask[i] && s->work[i] != -INFINITY) {
                const cand c = {s->work[i], i};
                heap_offer(s->cands, &kk, k, c);
                na++;
            }
        if (na == 0) return LLM_SAMPLE_NONE_ALLOWED;
        qsort(s->cands, kk, sizeof *s->cands, cand_cmp);
        if (greedy) return s->cands[0].id;
        return pick_sorted(s->cands, kk, params, rng_uniform(s->rng));
    }
    int any = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!s->mask[i]) s->work[i] = -INFINITY;
        else if (s->work[i] != -INFINITY) any = 1;
    }
    if (!any) return LLM_SAMPLE_NONE_ALLOWED;
    return pick_all(s, params);
}

int32_t llm_sampler_sample(llm_sampler *s, const llm_sampling_params *params, const float *logits,
                           const int32_t *history, size_t n_history) {
    return llm_sampler_sample_ex(s, params, logits, history, n_history, NULL, NULL);
}

/* ---- log-probabilities --------------------------------------------------------------------- */

double llm_logsumexp(const float *x, int32_t n) {
    float top = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (x[i] > top) top = x[i];
    if (top == -INFINITY) return -INFINITY;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)x[i] - (double)top);
    return (double)top + log(sum);
}

int llm_sampler_logprobs(llm_sampler *s, const float *logits, const llm_logit_bias *bias,
                         const llm_sample_filter *filter, int32_t chosen, int32_t n_top, float *chosen_lp,
                         int32_t *top_tokens, float *top_lp) {
    const int32_t n = s->n_vocab;
    llm_sampling_params none;
    llm_sampling_defaults(&none);
    none.penalty_last_n = 0;
    prepare_work(s, &none, logits, bias, NULL, 0);
    const float *work = s->work;
    const double lse = llm_logsumexp(work, n); /* -inf when every logit is */
    *chosen_lp = (chosen >= 0 && chosen < n && lse != -INFINITY) ? (float)((double)work[chosen] - lse) : -INFINITY;
    if (n_top <= 0) return 0;
    ptrdiff_t got;
    if (filter) {
        int exhausted = 0;
        got = lazy_allowed(s, filter, (size_t)n_top, &exhausted);
        if (got < 0) return -1;
        if (got == 0 && !exhausted) { /* rare: fall back to the mask */
            if (!s->mask && !(s->mask = malloc((size_t)n))) return -1;
            if (filter->fill_mask(filter->ud, s->mask) != 0) return -1;
            for (int32_t i = 0; i < n; i++)
                if (!s->mask[i]) s->work[i] = -INFINITY;
            got = (ptrdiff_t)top_sorted(s->work, n, (size_t)n_top, s->kept);
        }
    } else {
        got = (ptrdiff_t)top_sorted(work, n, (size_t)n_top, s->kept);
    }
    for (ptrdiff_t i = 0; i < got; i++) {
        top_tokens[i] = s->kept[i].id;
        top_lp[i] = (float)((double)s->kept[i].logit - lse);
    }
    return (int)got;
}
