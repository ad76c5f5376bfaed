/* Unit tests of the token sampler (lib/runtime/sampling.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/sampling.h"

static int g_failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            g_failures++;                                                                          \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, \
                    #a, #b, va_, vb_);                                                             \
            g_failures++;                                                                          \
        }                                                                                          \
    } while (0)

/* Parameters with every filter and penalty off, temperature 1. */
static llm_sampling_params plain(uint64_t seed) {
    llm_sampling_params p;
    llm_sampling_defaults(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.seed = seed;
    return p;
}

/* A test-local LCG for making logits (independent of the sampler's PRNG). */
static uint64_t lcg_state = 12345;
static double lcg_uniform(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

static void test_defaults(void) {
    llm_sampling_params p;
    llm_sampling_defaults(&p);
    CHECK(fabsf(p.temperature - 0.8f) < 1e-6f);
    CHECK_EQ_INT(p.top_k, 40);
    CHECK(fabsf(p.top_p - 0.95f) < 1e-6f);
    CHECK(fabsf(p.min_p - 0.05f) < 1e-6f);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK_EQ_INT(p.penalty_last_n, 64);
    CHECK(p.seed == 0xC0FFEEu);
    CHECK(llm_sampler_new(0) == NULL);
    llm_sampler_free(NULL);
}

static void test_greedy(void) {
    const float logits[6] = {0.1f, 3.0f, -2.0f, 5.0f, 5.0f, 4.9f};
    llm_sampler *s = llm_sampler_new(6);
    CHECK(s != NULL);
    llm_sampling_params p = plain(1);
    p.temperature = 0.0f;
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(llm_sampler_sample(s, &p, logits, NULL, 0), 3);
    p.temperature = -1.0f;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, logits, NULL, 0), 3);
    p.temperature = NAN;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, logits, NULL, 0), 3);
    llm_sampler_free(s);
}

static void test_seed_determinism(void) {
    enum { V = 50, N = 200 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)(lcg_uniform() * 4.0);
    llm_sampler *a = llm_sampler_new(V), *b = llm_sampler_new(V);
    llm_sampling_params p = plain(42);
    int32_t sa[N], sb[N], sc[N];
    llm_sampler_reset(a, &p);
    llm_sampler_reset(b, &p);
    for (int i = 0; i < N; i++) {
        sa[i] = llm_sampler_sample(a, &p, logits, NULL, 0);
        sb[i] = llm_sampler_sample(b, &p, logits, NULL, 0);
    }
    CHECK(memcmp(sa, sb, sizeof sa) == 0);
    /* reset restarts the stream */
    llm_sampler_reset(a, &p);
    for (int i = 0; i < N; i++) sc[i] = llm_sampler_sample(a, &p, logits, NULL, 0);
    CHECK(memcmp(sa, sc, sizeof sa) == 0);
    /* another seed gives another sequence */
    p.seed = 43;
    llm_sampler_reset(b, &p);
    for (int i = 0; i < N; i++) sb[i] = llm_sampler_sample(b, &p, logits, NULL, 0);
    CHECK(memcmp(sa, sb, sizeof sa) != 0);
    /* a fresh sampler starts from the default seed */
    llm_sampler *c = llm_sampler_new(V);
    llm_sampling_params dp = plain(0xC0FFEEu);
    llm_sampler_reset(a, &dp);
    for (int i = 0; i < 20; i++)
        CHECK_EQ_INT(llm_sampler_sample(c, &dp, logits, NULL, 0),
                     llm_sampler_sample(a, &dp, logits, NULL, 0));
    llm_sampler_free(a);
    llm_sampler_free(b);
    llm_sampler_free(c);
}

static void test_top_k_1_is_greedy(void) {
    enum { V = 1000 };
    float *logits = malloc(V * sizeof *logits);
    llm_sampler *s = llm_sampler_new(V);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < V; i++) logits[i] = (float)(lcg_uniform() * 2.0);
        llm_sampling_params g = plain(7);
        g.temperature = 0.0f;
        int32_t want = llm_sampler_sample(s, &g, logits, NULL, 0);
        llm_sampling_params k = plain(7 + (uint64_t)round);
        k.top_k = 1;
        k.temperature = 1.5f;
        for (int i = 0; i < 10; i++) CHECK_EQ_INT(llm_sampler_sample(s, &k, logits, NULL, 0), want);
    }
    llm_sampler_free(s);
    free(logits);
}

/* log of a 4-token distribution {0.5, 0.3, 0.15, 0.05} */
static void four_logits(float *l) {
    l[0] = logf(0.5f);
    l[1] = logf(0.3f);
    l[2] = logf(0.15f);
    l[3] = logf(0.05f);
}

static void count_draws(llm_sampler *s, const llm_sampling_params *p, const float *logits, int n,
                        int draws, int *counts) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    llm_sampler_reset(s, p);
    for (int i = 0; i < draws; i++) {
        int32_t t = llm_sampler_sample(s, p, logits, NULL, 0);
        CHECK(t >= 0 && t < n);
        if (t >= 0 && t < n) counts[t]++;
    }
}

static void test_top_p_min_p_exclusion(void) {
    float l[4];
    int c[4];
    four_logits(l);
    llm_sampler *s = llm_sampler_new(4);

    /* top-p 0.75: {0, 1} (cumulative 0.8) */
    llm_sampling_params p = plain(3);
    p.top_p = 0.75f;
    count_draws(s, &p, l, 4, 10000, c);
    CHECK(c[0] > 0 && c[1] > 0);
    CHECK_EQ_INT(c[2], 0);
    CHECK_EQ_INT(c[3], 0);
    /* renormalised: 0.5/0.8 = 0.625 */
    CHECK(fabs(c[0] / 10000.0 - 0.625) < 3 * sqrt(0.625 * 0.375 / 10000.0));

    /* top-p small: keeps at least the best */
    p.top_p = 0.01f;
    count_draws(s, &p, l, 4, 1000, c);
    CHECK_EQ_INT(c[0], 1000);

    /* min-p 0.2: drops p < 0.1, i.e. token 3 */
    p = plain(4);
    p.min_p = 0.2f;
    count_draws(s, &p, l, 4, 10000, c);
    CHECK(c[0] > 0 && c[1] > 0 && c[2] > 0);
    CHECK_EQ_INT(c[3], 0);

    /* min-p 0.5: keeps p >= 0.25, i.e. {0, 1} */
    p.min_p = 0.5f;
    count_draws(s, &p, l, 4, 10000, c);
    CHECK(c[0] > 0 && c[1] > 0);
    CHECK_EQ_INT(c[2] + c[3], 0);

    /* top-k 3 with top-p 0.9: top-k renormalises {0.5,0.3,0.15}/0.95, cum 0.842, 1.0: keeps 3 */
    p = plain(5);
    p.top_k = 3;
    p.top_p = 0.9f;
    count_draws(s, &p, l, 4, 10000, c);
    CHECK(c[2] > 0);
    CHECK_EQ_INT(c[3], 0);
    /* top-k 2 */
    p.top_k = 2;
    p.top_p = 1.0f;
    count_draws(s, &p, l, 4, 10000, c);
    CHECK(c[0] > 0 && c[1] > 0);
    CHECK_EQ_INT(c[2] + c[3], 0);
    llm_sampler_free(s);
}

static void test_frequencies(void) {
    float l[4];
    int c[4];
    const int N = 100000;
    four_logits(l);
    llm_sampler *s = llm_sampler_new(4);
    const double probs[4] = {0.5, 0.3, 0.15, 0.05};
    llm_sampling_params p = plain(99);
    count_draws(s, &p, l, 4, N, c);
    for (int i = 0; i < 4; i++) {
        double f = (double)c[i] / N, sd = sqrt(probs[i] * (1 - probs[i]) / N);
        if (fabs(f - probs[i]) > 3 * sd) fprintf(stderr, "token %d: %f vs %f\n", i, f, probs[i]);
        CHECK(fabs(f - probs[i]) <= 3 * sd);
    }
    /* temperature 0.5 squares the probabilities (then normalises) */
    p.temperature = 0.5f;
    p.seed = 100;
    count_draws(s, &p, l, 4, N, c);
    double z = 0;
    for (int i = 0; i < 4; i++) z += probs[i] * probs[i];
    for (int i = 0; i < 4; i++) {
        double q = probs[i] * probs[i] / z, f = (double)c[i] / N, sd = sqrt(q * (1 - q) / N);
        CHECK(fabs(f - q) <= 3 * sd);
    }
    /* the same through the top-k path (k = 4 of 5 tokens, the 5th at -inf-ish) */
    float l5[5];
    memcpy(l5, l, sizeof l);
    l5[4] = -1e30f;
    llm_sampler *s5 = llm_sampler_new(5);
    p = plain(101);
    p.top_k = 4;
    int c5[5];
    count_draws(s5, &p, l5, 5, N, c5);
    CHECK_EQ_INT(c5[4], 0);
    for (int i = 0; i < 4; i++) {
        double f = (double)c5[i] / N, sd = sqrt(probs[i] * (1 - probs[i]) / N);
        CHECK(fabs(f - probs[i]) <= 3 * sd);
    }
    llm_sampler_free(s5);
    llm_sampler_free(s);
}

static void test_penalties(void) {
    llm_sampler *s = llm_sampler_new(4);
    llm_sampling_params p = plain(1);
    p.temperature = 0.0f; /* observe the penalised logits through argmax */

    /* repeat penalty: positive logits are divided */
    float a[4] = {2.0f, 1.9f, -5.0f, -5.0f};
    const float a_copy[4] = {2.0f, 1.9f, -5.0f, -5.0f};
    int32_t h0[1] = {0};
    CHECK_EQ_INT(llm_sampler_sample(s, &p, a, h0, 1), 0);
    p.repeat_penalty = 1.2f;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, a, h0, 1), 1);
    CHECK(memcmp(a, a_copy, sizeof a) == 0); /* input untouched */
    /* ... negative logits multiplied (divided would make token 0 win) */
    float b[4] = {-1.0f, -1.1f, -5.0f, -5.0f};
    CHECK_EQ_INT(llm_sampler_sample(s, &p, b, h0, 1), 1);
    p.repeat_penalty = 1.0f;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, b, h0, 1), 0);

    /* frequency penalty: count-weighted; penalty_last_n bounds the window */
    float c[4] = {1.0f, 0.5f, -5.0f, -5.0f};
    int32_t h3[4] = {1, 0, 0, 0};
    p.frequency_penalty = 0.2f;
    p.penalty_last_n = 64;
    /* token0 (3 times): 1 - 0.6 = 0.4, token1 (once): 0.5 - 0.2 = 0.3 -> 0 */
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3, 4), 0);
    int32_t h3b[3] = {0, 0, 0};
    /* token0: 0.4, token1: 0.5 -> 1 */
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3b, 3), 1);
    p.penalty_last_n = 2; /* token0: 1 - 0.4 = 0.6 -> 0 */
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3b, 3), 0);
    p.penalty_last_n = 0; /* disabled */
    p.frequency_penalty = 10.0f;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3b, 3), 0);

    /* presence penalty: once, whatever the count */
    p.penalty_last_n = 64;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.4f; /* 0.6 > 0.5 */
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3b, 3), 0);
    p.presence_penalty = 0.6f; /* 0.4 < 0.5 */
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, h3b, 3), 1);

    /* out-of-range history ids are ignored; the sampler stays consistent afterwards */
    int32_t bad[3] = {-1, 4, 1000000};
    p.presence_penalty = 100.0f;
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, bad, 3), 0);
    CHECK_EQ_INT(llm_sampler_sample(s, &p, c, NULL, 0), 0);
    llm_sampler_free(s);
}

static void test_nan_inf(void) {
    llm_sampler *s = llm_sampler_new(5);
    llm_sampling_params g = plain(1);
    g.temperature = 0.0f;
    llm_sampling_params t = plain(2);
    llm_sampling_params tk = plain(3);
    tk.top_k = 2;
    tk.top_p = 0.9f;
    tk.min_p = 0.05f;

    float a[5] = {NAN, 1.0f, NAN, 0.5f, -INFINITY};
    CHECK_EQ_INT(llm_sampler_sample(s, &g, a, NULL, 0), 1);
    for (int i = 0; i < 2000; i++) {
        int32_t x = llm_sampler_sample(s, &t, a, NULL, 0);
        CHECK(x == 1 || x == 3);
        x = llm_sampler_sample(s, &tk, a, NULL, 0);
        CHECK(x == 1 || x == 3);
    }
    /* all NaN / -inf: token 0 */
    float b[5] = {NAN, NAN, -INFINITY, NAN, -INFINITY};
    CHECK_EQ_INT(llm_sampler_sample(s, &g, b, NULL, 0), 0);
    CHECK_EQ_INT(llm_sampler_sample(s, &t, b, NULL, 0), 0);
    CHECK_EQ_INT(llm_sampler_sample(s, &tk, b, NULL, 0), 0);
    /* +inf wins */
    float c[5] = {1.0f, INFINITY, 3.0f, NAN, 2.0f};
    CHECK_EQ_INT(llm_sampler_sample(s, &g, c, NULL, 0), 1);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(llm_sampler_sample(s, &t, c, NULL, 0), 1);
        CHECK_EQ_INT(llm_sampler_sample(s, &tk, c, NULL, 0), 1);
    }
    /* huge penalties do not make NaN */
    int32_t h[2] = {1, 1};
    llm_sampling_params pen = t;
    pen.repeat_penalty = 1e30f;
    pen.frequency_penalty = 1e30f;
    for (int i = 0; i < 100; i++) {
        int32_t x = llm_sampler_sample(s, &pen, c, h, 2);
        CHECK(x >= 0 && x < 5 && x != 3);
    }
    llm_sampler_free(s);
}

/* ---- literal reference implementation: full sort, then the steps in order ----------------- */

typedef struct ref_item {
    float logit;
    int32_t id;
} ref_item;

static int ref_cmp(const void *pa, const void *pb) {
    const ref_item *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

/* The documented PRNG: xoshiro256** seeded by four splitmix64 outputs, u = (x >> 11) * 2^-53. */
typedef struct ref_rng {
    uint64_t s[4];
} ref_rng;
static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static void ref_seed(ref_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9E3779B97F4A7C15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r->s[i] = z ^ (z >> 31);
    }
}
static double ref_uniform(ref_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return (double)(out >> 11) / 9007199254740992.0;
}

static int32_t ref_sample(ref_rng *r, const llm_sampling_params *p, const float *logits, int32_t n,
                          ref_item *items, double *prob) {
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (!isnan(logits[i]) && logits[i] != -INFINITY) items[m++] = (ref_item){logits[i], i};
    qsort(items, (size_t)m, sizeof *items, ref_cmp);
    if (!(p->temperature > 0)) return items[0].id;
    double u = ref_uniform(r);
    if (p->top_k > 0 && p->top_k < m) m = p->top_k;
    double z = 0;
    for (int32_t i = 0; i < m; i++) {
        prob[i] = exp(((double)items[i].logit - items[0].logit) / (double)p->temperature);
        z += prob[i];
    }
    for (int32_t i = 0; i < m; i++) prob[i] /= z;
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int32_t i = 0; i < m; i++) {
            cum += prob[i];
            if (cum >= p->top_p) {
                m = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        int32_t k = 0;
        while (k < m && prob[k] >= p->min_p * prob[0]) k++;
        m = k > 0 ? k : 1;
    }
    z = 0;
    for (int32_t i = 0; i < m; i++) z += prob[i];
    double cum = 0;
    for (int32_t i = 0; i < m; i++) {
        cum += prob[i] / z;
        if (cum > u) return items[i].id;
    }
    return items[m - 1].id;
}

static void test_against_reference(void) {
    enum { V = 4096, DRAWS = 300 };
    float *logits = malloc(V * sizeof *logits);
    ref_item *items = malloc(V * sizeof *items);
    double *prob = malloc(V * sizeof *prob);
    llm_sampler *s = llm_sampler_new(V);
    struct {
        float temp;
        int32_t k;
        float top_p, min_p, spread;
    } cases[] = {
        {1.0f, 0, 1.0f, 0.0f, 8.0f},     {0.7f, 40, 0.95f, 0.05f, 8.0f},
        {1.3f, 0, 0.9f, 0.0f, 3.0f},     {1.0f, 0, 1.0f, 0.1f, 6.0f},
        {0.9f, 100, 1.0f, 0.0f, 2.0f},   {1.0f, 0, 0.5f, 0.02f, 0.5f},
        {2.0f, 0, 1.0f, 0.0f, 0.01f},    {0.5f, 5000, 0.99f, 0.0f, 4.0f},
        {1.0f, 0, 0.999f, 0.0f, 0.1f},
    };
    int mismatches = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        for (int i = 0; i < V; i++) {
            logits[i] = (float)(lcg_uniform() * cases[ci].spread);
            if (i % 97 == 5) logits[i] = logits[i - 1]; /* some ties */
            if (i % 501 == 7) logits[i] = -INFINITY;
        }
        llm_sampling_params p = plain(1000 + ci);
        p.temperature = cases[ci].temp;
        p.top_k = cases[ci].k;
        p.top_p = cases[ci].top_p;
        p.min_p = cases[ci].min_p;
        ref_rng r;
        ref_seed(&r, p.seed);
        llm_sampler_reset(s, &p);
        for (int d = 0; d < DRAWS; d++) {
            int32_t want = ref_sample(&r, &p, logits, V, items, prob);
            int32_t got = llm_sampler_sample(s, &p, logits, NULL, 0);
            if (want != got) mismatches++;
        }
    }
    if (mismatches) fprintf(stderr, "reference mismatches: %d\n", mismatches);
    CHECK_EQ_INT(mismatches, 0);
    llm_sampler_free(s);
    free(prob);
    free(items);
    free(logits);
}


/* ---- constrained sampling: filter, logit bias, log-probabilities --------------------------- */

/* A filter over a fixed allowed set, counting how often each entry point runs. */
typedef struct test_filter {
    const uint8_t *allowed;
    int32_t n;
    long n_allows, n_masks;
} test_filter;
static int tf_allows(void *ud, int32_t t) {
    test_filter *f = ud;
    f->n_allows++;
    return t >= 0 && t < f->n && f->allowed[t];
}
static int tf_mask(void *ud, uint8_t *out) {
    test_filter *f = ud;
    f->n_masks++;
    memcpy(out, f->allowed, (size_t)f->n);
    return 0;
}

/* Constrained sampling = the reference sampler on logits where the rejected tokens are -inf,
 * draw for draw, whether the sampler finds the allowed tokens lazily or through the mask:
 * allowed sets from dense to a few low-ranked tokens (forcing the mask), every setting. */
static void test_filter_matches_masked_reference(void) {
    enum { V = 4096, DRAWS = 120 };
    float *logits = malloc(V * sizeof *logits), *masked = malloc(V * sizeof *masked);
    uint8_t *allowed = malloc(V);
    ref_item *items = malloc(V * sizeof *items);
    double *prob = malloc(V * sizeof *prob);
    llm_sampler *s = llm_sampler_new(V);
    const struct {
        float temp;
        int32_t k;
        float top_p, min_p;
    } cases[] = {{0.0f, 0, 1.0f, 0.0f},   {0.8f, 40, 0.95f, 0.05f}, {1.0f, 0, 1.0f, 0.0f},
                 {1.0f, 0, 0.9f, 0.02f},  {1.0f, 3, 1.0f, 0.0f},    {0.7f, 5000, 1.0f, 0.0f}};
    const int densities[] = {1, 2, 7, 300, -1}; /* allowed: every d-th token; -1: 3 low-ranked ones */
    int mismatches = 0;
    long lazy_masks = 0;
    for (size_t di = 0; di < sizeof densities / sizeof densities[0]; di++)
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            for (int i = 0; i < V; i++) {
                logits[i] = (float)(lcg_uniform() * 8.0);
                if (i % 97 == 5) logits[i] = logits[i - 1];
                if (i % 501 == 7) logits[i] = -INFINITY;
            }
            const int d = densities[di];
            for (int i = 0; i < V; i++) allowed[i] = d > 0 ? (uint8_t)(i % d == 3 % d) : 0;
            if (d < 0) { /* the three lowest finite logits: the lazy walk cannot reach them */
                for (int k = 0; k < 3; k++) {
                    int lo = -1;
                    for (int i = 0; i < V; i++)
                        if (!allowed[i] && logits[i] != -INFINITY && (lo < 0 || logits[i] < logits[lo])) lo = i;
                    allowed[lo] = 1;
                }
            }
            for (int i = 0; i < V; i++) masked[i] = allowed[i] ? logits[i] : -INFINITY;
            test_filter tf = {allowed, V, 0, 0};
            llm_sample_filter f = {tf_allows, tf_mask, &tf};
            llm_sampling_params p = plain(77 + ci * 13 + di);
            p.temperature = cases[ci].temp;
            p.top_k = cases[ci].k;
            p.top_p = cases[ci].top_p;
            p.min_p = cases[ci].min_p;
            ref_rng r;
            ref_seed(&r, p.seed);
            llm_sampler_reset(s, &p);
            for (int k = 0; k < DRAWS; k++) {
                int32_t want = ref_sample(&r, &p, masked, V, items, prob);
                int32_t got = llm_sampler_sample_ex(s, &p, logits, NULL, 0, NULL, &f);
                if (want != got) mismatches++;
            }
            /* dense sets with greedy or top-k: found lazily, a handful of tests per draw */
            if (d > 0 && d <= 7 && (cases[ci].temp == 0.0f || (cases[ci].k > 0 && cases[ci].k <= 40))) {
                lazy_masks += tf.n_masks;
                CHECK(tf.n_allows <= (long)DRAWS * 320);
            }
            if (d < 0 && (cases[ci].temp == 0.0f || cases[ci].k == 40)) CHECK(tf.n_masks > 0);
        }
    if (mismatches) fprintf(stderr, "constrained vs masked reference: %d mismatches\n", mismatches);
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(lazy_masks, 0);

    /* nothing allowed (or only -inf tokens): the sampler says so */
    memset(allowed, 0, V);
    allowed[7] = 1; /* logits[7] is -inf above */
    logits[7] = -INFINITY;
    test_filter tf = {allowed, V, 0, 0};
    llm_sample_filter f = {tf_allows, tf_mask, &tf};
    llm_sampling_params g = plain(1);
    g.temperature = 0.0f;
    CHECK_EQ_INT(llm_sampler_sample_ex(s, &g, logits, NULL, 0, NULL, &f), LLM_SAMPLE_NONE_ALLOWED);
    llm_sampling_params t = plain(1);
    CHECK_EQ_INT(llm_sampler_sample_ex(s, &t, logits, NULL, 0, NULL, &f), LLM_SAMPLE_NONE_ALLOWED);
    llm_sampler_free(s);
    free(prob);
    free(items);
    free(allowed);
    free(masked);
    free(logits);
}

static int err_allows(void *ud, int32_t t) { (void)ud; (void)t; return -1; }
static int err_mask(void *ud, uint8_t *out) { (void)ud; (void)out; return -1; }

static void test_filter_errors(void) {
    float logits[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    llm_sampler *s = llm_sampler_new(8);
    llm_sample_filter f = {err_allows, err_mask, NULL};
    llm_sampling_params g = plain(1);
    g.temperature = 0.0f;
    CHECK_EQ_INT(llm_sampler_sample_ex(s, &g, logits, NULL, 0, NULL, &f), LLM_SAMPLE_FILTER_ERROR);
    llm_sampling_params t = plain(1);
    CHECK_EQ_INT(llm_sampler_sample_ex(s, &t, logits, NULL, 0, NULL, &f), LLM_SAMPLE_FILTER_ERROR);
    llm_sampler_free(s);
}

/* The bias is added before everything: the same draws as the reference on biased logits; an
 * -inf bias bans a token even at the top, +inf on a -inf logit keeps it banned. */
static void test_logit_bias(void) {
    enum { V = 1000, DRAWS = 200 };
    float logits[V], biased[V];
    ref_item items[V];
    double prob[V];
    int32_t toks[4] = {0, 1, 2, 3};
    float bias[4] = {-INFINITY, 5.0f, -2.5f, INFINITY};
    for (int i = 0; i < V; i++) logits[i] = (float)(lcg_uniform() * 6.0);
    logits[0] = 50.0f;      /* the best token, banned */
    logits[3] = -INFINITY;  /* +inf bias on -inf: stays out */
    for (int i = 0; i < V; i++) biased[i] = logits[i];
    biased[0] = -INFINITY;
    biased[1] += 5.0f;
    biased[2] -= 2.5f;
    llm_logit_bias b = {toks, bias, 4};
    llm_sampler *s = llm_sampler_new(V);
    int mismatches = 0;
    for (int mode = 0; mode < 2; mode++) {
        llm_sampling_params p = plain(5 + mode);
        if (mode == 0) p.temperature = 0.0f;
        else p.top_k = 40;
        ref_rng r;
        ref_seed(&r, p.seed);
        llm_sampler_reset(s, &p);
        for (int d = 0; d < DRAWS; d++)
            if (ref_sample(&r, &p, biased, V, items, prob) != llm_sampler_sample_ex(s, &p, logits, NULL, 0, &b, NULL))
                mismatches++;
    }
    CHECK_EQ_INT(mismatches, 0);
    llm_sampler_free(s);
}

/* Log-probabilities: log softmax of logits + bias (double reference), and the best allowed tokens. */
static void test_logprobs(void) {
    enum { V = 3000 };
    float logits[V];
    uint8_t allowed[V];
    for (int i = 0; i < V; i++) {
        logits[i] = (float)(lcg_uniform() * 10.0 - 5.0);
        allowed[i] = (uint8_t)(i % 3 == 0);
    }
    int32_t btok[1] = {6};
    float bval[1] = {3.0f};
    llm_logit_bias b = {btok, bval, 1};
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) {
        double v = logits[i] + (i == 6 ? 3.0 : 0.0);
        if (v > mx) mx = v;
    }
    for (int i = 0; i < V; i++) z += exp(logits[i] + (i == 6 ? 3.0 : 0.0) - mx);
    const double lse = mx + log(z);
    llm_sampler *s = llm_sampler_new(V);
    test_filter tf = {allowed, V, 0, 0};
    llm_sample_filter f = {tf_allows, tf_mask, &tf};
    float chosen = 0, top_lp[5];
    int32_t top_tok[5];
    int got = llm_sampler_logprobs(s, logits, &b, &f, 6, 5, &chosen, top_tok, top_lp);
    CHECK_EQ_INT(got, 5);
    CHECK(fabs((double)chosen - ((double)logits[6] + 3.0 - lse)) < 1e-5);
    /* reference: the 5 best allowed by biased logit */
    int32_t want[5];
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            if (!allowed[i]) continue;
            int used = 0;
            for (int j = 0; j < k; j++) used |= want[j] == i;
            double vi = logits[i] + (i == 6 ? 3.0 : 0.0);
            if (!used && (best < 0 || vi > logits[best] + (best == 6 ? 3.0 : 0.0))) best = i;
        }
        want[k] = best;
    }
    for (int k = 0; k < got && k < 5; k++) {
        CHECK_EQ_INT(top_tok[k], want[k]);
        CHECK(fabs((double)top_lp[k] - ((double)logits[want[k]] + (want[k] == 6 ? 3.0 : 0.0) - lse)) < 1e-5);
    }
    /* unconstrained: the global best; n_top = 0: the chosen token's only */
    got = llm_sampler_logprobs(s, logits, NULL, NULL, 1, 3, &chosen, top_tok, top_lp);
    CHECK_EQ_INT(got, 3);
    CHECK(top_lp[0] >= top_lp[1] && top_lp[1] >= top_lp[2]);
    CHECK_EQ_INT(llm_sampler_logprobs(s, logits, NULL, NULL, 1, 0, &chosen, top_tok, top_lp), 0);
    llm_sampler_free(s);
}

/* A Gemma-sized vocabulary: the common settings must be cheap (no full sort per token). */
static void test_large_vocab_speed(void) {
    enum { V = 262144 };
    float *logits = malloc(V * sizeof *logits);
    for (int i = 0; i < V; i++) logits[i] = (float)(lcg_uniform() * 4.0 - 2.0);
    for (int i = 0; i < 20; i++) logits[(i * 7919) % V] = 12.0f + (float)i * 0.1f; /* peaked */
    llm_sampler *s = llm_sampler_new(V);
    llm_sampling_params d;
    llm_sampling_defaults(&d);
    llm_sampling_params nok = d;
    nok.top_k = 0;
    llm_sampling_params minp = nok;
    minp.top_p = 1.0f;
    const llm_sampling_params *ps[3] = {&d, &nok, &minp};
    const char *names[3] = {"defaults", "top_k=0", "min_p only"};
    for (int j = 0; j < 3; j++) {
        clock_t t0 = clock();
        for (int i = 0; i < 50; i++) {
            int32_t x = llm_sampler_sample(s, ps[j], logits, NULL, 0);
            CHECK(x >= 0 && x < V);
        }
        double ms = (double)(clock() - t0) * 1000.0 / CLOCKS_PER_SEC / 50;
        fprintf(stderr, "262k vocab, %s: %.2f ms/token\n", names[j], ms);
    }
    llm_sampler_free(s);
    free(logits);
}

int main(void) {
    test_defaults();
    test_greedy();
    test_seed_determinism();
    test_top_k_1_is_greedy();
    test_top_p_min_p_exclusion();
    test_frequencies();
    test_penalties();
    test_nan_inf();
    test_against_reference();
    test_filter_matches_masked_reference();
    test_filter_errors();
    test_logit_bias();
    test_logprobs();
    test_large_vocab_speed();
    if (g_failures) {
        fprintf(stderr, "%d check(s) failed\n", g_failures);
        return 1;
    }
    fprintf(stderr, "all sampling tests passed\n");
    return 0;
}
