/* llm bench: prompt-processing (pp) and token-generation (tg) throughput of one or more models,
 * optionally next to the machine's memory read bandwidth and the decode floor it implies.
 *
 * What is measured (per model x thread count x test):
 *   ppN  a fresh session (reset between runs) is fed N random token ids in one
 *        llm_session_feed_tokens call; t/s = N / time of that call.
 *   tgN  a fresh session is fed one token (not timed), then N single-token feeds, each a full
 *        forward pass over the model producing the logits of the new position (no sampling, so
 *        its cost is zero); t/s = N / time of the N feeds. This is decoding from an almost empty
 *        context, the way a generation loop runs.
 *   tgN xS  (with --sessions S[,S...]) batched decode: S sessions of one context are each fed
 *        the same short prompt (BENCH_BATCH_PROMPT tokens) and stepped together with
 *        llm_session_step_batch (greedy sampling included): one untimed step samples from the
 *        prompt, then N timed steps each evaluate one token of every session in one forward
 *        pass; t/s = tokens evaluated (S * N, counted from the sessions' positions) / time, the
 *        aggregate throughput a server with S concurrent conversations gets.
 *   tgN sampled / tgN FILE  (with --grammar FILE or --json-schema FILE) decoding the way an app
 *        does, with the library's default sampling (temperature 0.8, top-k 40, top-p 0.95, min-p
 *        0.05, a fixed seed): a fresh session is fed BENCH_SAMPLE_PROMPT (untimed), then
 *        llm_session_step runs until N tokens are generated; a generation that ends early (an
 *        end-of-generation token, or the grammar's string is complete) goes on after a newline.
 *        t/s = N / (N forward passes + the row's sampling time), the forward pass timed per
 *        evaluated token over the repetition's rows (see bench_sampled). "sampled" is
 *        unconstrained, "FILE" constrained by
 *        that grammar or schema: the two rows compare constrained with unconstrained decode, and
 *        their "sample us/t" (llm_session_sampling_ns per generated token: the sampler, the
 *        grammar, everything but the forward pass) say what the grammar itself costs per token.
 * Each test has one untimed warm-up run (page faults of the mapped weights, first touch of the
 * KV cache, worker start-up), then -r timed runs; the mean and the sample standard deviation of
 * the per-run tokens/s are reported.
 *
 * Token ids are drawn from a seeded generator over the whole vocabulary, skipping
 * end-of-generation tokens, so every run of the program feeds the same ids. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"


#define BENCH_MAX_LIST 64
#define BENCH_SEED 0x5EEDu
#define BENCH_BATCH_PROMPT 8
#define BENCH_SAMPLE_PROMPT "A person described as a JSON object:\n"

/* ---- options ------------------------------------------------------------------------------- */

typedef struct bench_opts {
    const char *models[BENCH_MAX_LIST];
    int n_models;
    int prompts[BENCH_MAX_LIST];
    int n_prompts;
    int gens[BENCH_MAX_LIST];
    int n_gens;
    int sessions[BENCH_MAX_LIST]; /* --sessions: batched decode with these session counts */
    int n_sessions;
    int threads[BENCH_MAX_LIST];
    int n_threads;
    int precisions[2]; /* LLM_PRECISION_FAST / LLM_PRECISION_EXACT, in the order given */
    int n_precisions;
    /* --grammar / --json-schema: constrained decode rows (each with a "sampled" row to compare) */
    const char *constraint_files[BENCH_MAX_LIST];
    int constraint_is_schema[BENCH_MAX_LIST];
    char *constraint_text[BENCH_MAX_LIST]; /* the files' contents, read by cli_bench */
    int n_constraints;
    int shared_prompt; /* --shared-prompt N: time to first token with an N-token common prompt */
    int reps;
    int json;
    int bandwidth;
    int verbose;
} bench_opts;

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: llm bench [-m MODEL[,MODEL...]] [-p N[,N...]] [-n N[,N...]] [-t N[,N...]]\n"
            "                 [-r REPS] [--precision fast|exact[,...]] [--sessions N[,N...]]\n"
            "                 [-o md|json] [--bandwidth] [--grammar FILE] [--json-schema FILE]\n"
            "Measures prompt processing (ppN: N tokens fed in one batch) and token generation\n"
            "(tgN: N tokens decoded one at a time) in tokens per second: one warm-up run, then\n"
            "REPS timed runs, reported as mean +- sample standard deviation.\n"
            "Options may be repeated or given comma-separated lists; every combination runs.\n\n"
            "options:\n"
            "  -m, --model FILE             GGUF model (default: $LLM_MODEL, else the installed Gemma 3 270M)\n"
            "  -p, --n-prompt N             prompt tokens of the pp test, 0 = skip it (default 512)\n"
            "  -n, --n-gen N                generated tokens of the tg test, 0 = skip it (default 128)\n"
            "  -t, --threads N              threads, 0 = all cores (default 0)\n"
            "  -r, --repetitions N          timed runs per test (default 5)\n"
            "      --precision P            fast (8-bit activations with quantized weights, the\n"
            "                               library's default) or exact (f32 reference arithmetic);\n"
            "                               a list (fast,exact) runs both side by side (default fast)\n"
            "      --sessions N             also measure batched decode (\"tgN xS\"): S sessions fed the\n"
            "                               same short prompt, stepped together N times with\n"
            "                               llm_session_step_batch; aggregate tokens/s (S * N / time)\n"
            "      --grammar FILE           also measure constrained decode (\"tgN FILE\") with this GBNF\n"
            "                               grammar next to unconstrained (\"tgN sampled\"), both with\n"
            "                               the default sampling and llm_session_step; the \"sample\n"
            "                               us/t\" column is the time per token spent choosing it\n"
            "      --json-schema FILE       the same with the grammar of a JSON Schema\n"
            "      --shared-prompt N        also measure the time to first token of requests that start\n"
            "                               with the same N-token prompt (then a 16-token question):\n"
            "                               the first request, the following ones (the prompt's KV\n"
            "                               cache shared through the context's prefix cache), and the\n"
            "                               same requests in a context without a prefix cache\n"
            "  -o, --output FORMAT          md (a Markdown table, default) or json\n"
            "      --bandwidth              also measure the memory read bandwidth with each thread\n"
            "                               count and report the decode floor (model bytes /\n"
            "                               bandwidth) and tg as a percentage of it\n"
            "  -v, --verbose                print the library's log messages\n"
            "  -h, --help                   show this help\n");
}

static int parse_int_list(const char *opt, const char *s, int lo, int *list, int *count) {
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || (*end != ',' && *end != '\0') || v < lo || v > INT_MAX / 2) {
            fprintf(stderr, "llm bench: %s: invalid value '%s' (integers >= %d, comma-separated)\n", opt, s, lo);
            return -1;
        }
        if (*count >= BENCH_MAX_LIST) {
            fprintf(stderr, "llm bench: %s: too many values\n", opt);
            return -1;
        }
        list[(*count)++] = (int)v;
        if (*end == '\0') return 0;
        p = end + 1;
    }
}

static const char *precision_name(int p) { return p == LLM_PRECISION_EXACT ? "exact" : "fast"; }

static int parse_precisions(const char *opt, const char *s, bench_opts *o) {
    for (const char *p = s;;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        int v = -1;
        if (len == 4 && strncmp(p, "fast", 4) == 0) v = LLM_PRECISION_FAST;
        else if (len == 5 && strncmp(p, "exact", 5) == 0) v = LLM_PRECISION_EXACT;
        if (v < 0) {
            fprintf(stderr, "llm bench: %s: invalid value '%s' (fast or exact, comma-separated)\n", opt, s);
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < o->n_precisions; i++) seen |= o->precisions[i] == v;
        if (!seen) o->precisions[o->n_precisions++] = v;
        if (!end) return 0;
        p = end + 1;
    }
}

/* Splits a comma-separated list of model paths in place (argv strings are writable). */
static int add_models(char *s, bench_opts *o) {
    for (char *tok = s; tok;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (*tok) {
            if (o->n_models >= BENCH_MAX_LIST) {
                fprintf(stderr, "llm bench: -m: too many models\n");
                return -1;
            }
            o->models[o->n_models++] = tok;
        }
        tok = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int opt_is(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && strcmp(arg, short_name) == 0) || strcmp(arg, long_name) == 0;
}

/* Returns 0, 1 for --help, -1 after printing an error. */
static int bench_parse(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->reps = 5;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return 1;
        if (strcmp(arg, "--bandwidth") == 0) {
            o->bandwidth = 1;
            continue;
        }
        if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            o->verbose = 1;
            continue;
        }
        /* options with a value: "-x V", "--long V" or "--long=V" */
        char name[32];
        const char *value = cli_split_option(arg, name, sizeof name);
        static const char *const WITH_VALUE[][2] = {{"-m", "--model"},       {"-p", "--n-prompt"},
                                                    {"-n", "--n-gen"},       {"-t", "--threads"},
                                                    {"-r", "--repetitions"}, {"-o", "--output"},
                                                    {NULL, "--precision"},   {NULL, "--sessions"},
                                                    {NULL, "--grammar"},     {NULL, "--json-schema"},
                                                    {NULL, "--shared-prompt"}};
        int known = 0;
        for (size_t k = 0; k < sizeof WITH_VALUE / sizeof WITH_VALUE[0]; k++)
            known |= opt_is(name, WITH_VALUE[k][0], WITH_VALUE[k][1]);
        if (!known) {
            fprintf(stderr, "llm bench: %s '%s' (see llm bench --help)\n",
                    arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
            return -1;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "llm bench: option %s needs a value\n", name);
                return -1;
            }
            value = argv[++i];
        }
        int rc = 0;
        if (opt_is(name, "-m", "--model")) {
            rc = add_models((char *)value, o); /* value points into argv, which is writable */
        } else if (opt_is(name, "-p", "--n-prompt")) {
            rc = parse_int_list(name, value, 0, o->prompts, &o->n_prompts);
        } else if (opt_is(name, "-n", "--n-gen")) {
            rc = parse_int_list(name, value, 0, o->gens, &o->n_gens);
        } else if (opt_is(name, "-t", "--threads")) {
            rc = parse_int_list(name, value, 0, o->threads, &o->n_threads);
        } else if (opt_is(name, NULL, "--sessions")) {
            rc = parse_int_list(name, value, 1, o->sessions, &o->n_sessions);
        } else if (opt_is(name, NULL, "--precision")) {
            rc = parse_precisions(name, value, o);
        } else if (opt_is(name, NULL, "--grammar") || opt_is(name, NULL, "--json-schema")) {
            if (o->n_constraints >= BENCH_MAX_LIST) {
                fprintf(stderr, "llm bench: too many --grammar/--json-schema files\n");
                rc = -1;
            } else {
                o->constraint_is_schema[o->n_constraints] = opt_is(name, NULL, "--json-schema");
                o->constraint_files[o->n_constraints++] = value;
            }
        } else if (opt_is(name, NULL, "--shared-prompt")) {
            int v[1], nv = 0;
            rc = parse_int_list(name, value, 1, v, &nv);
            if (rc == 0 && nv != 1) {
                fprintf(stderr, "llm bench: --shared-prompt takes one value\n");
                rc = -1;
            }
            if (rc == 0) o->shared_prompt = v[0];
        } else if (opt_is(name, "-r", "--repetitions")) {
            int list[1], n = 0;
            rc = strchr(value, ',') ? (fprintf(stderr, "llm bench: %s takes one value\n", name), -1)
                                    : parse_int_list(name, value, 1, list, &n);
            if (!rc) o->reps = list[0];
        } else { /* -o */
            if (strcmp(value, "md") == 0) o->json = 0;
            else if (strcmp(value, "json") == 0) o->json = 1;
            else {
                fprintf(stderr, "llm bench: %s: unknown format '%s' (md or json)\n", name, value);
                rc = -1;
            }
        }
        if (rc) return -1;
    }
    if (!o->n_prompts) o->prompts[o->n_prompts++] = 512;
    if (!o->n_gens) o->gens[o->n_gens++] = 128;
    if (!o->n_threads) o->threads[o->n_threads++] = 0;
    if (!o->n_precisions) o->precisions[o->n_precisions++] = LLM_PRECISION_FAST;
    return 0;
}

/* ---- memory read bandwidth ----------------------------------------------------------------- */
/*
 * Why this reading is the right yardstick for decoding: generating one token reads every weight
 * of the model once (a matrix-vector product per weight matrix), each matrix streamed from
 * start to end, split among the T threads of the context in contiguous row ranges, and nothing
 * of it is written. Once the model is much larger than the caches the weights come from DRAM on
 * every token, so tokens/s cannot exceed bandwidth / model bytes. The probe reproduces that
 * access pattern and nothing else:
 *   - a buffer much larger than any last-level cache (1 GiB), so every pass streams from DRAM;
 *   - written once before timing with a non-zero pattern, so every page is really backed (the
 *     reads of never-written anonymous memory all hit the one shared zero page and would report
 *     cache speed) and page faults stay out of the timing;
 *   - read only: no stores, so no write-allocate or write-back traffic is counted, unlike
 *     STREAM's copy/triad, which measure a mix the decoder does not do;
 *   - T threads, each streaming its own contiguous slice, like the kernels' row split;
 *   - the loop sums 64-bit words into several independent accumulators (vector-wide where the
 *     compiler supports vector types), so the arithmetic is far below one add per loaded byte
 *     and the loop waits on memory, not on the adder; the sum is kept so the reads cannot be
 *     optimised away;
 *   - the best of many passes (at least 10 and at least one second's worth): on a shared
 *     machine other work (a descheduled probe thread, a neighbour's memory traffic) only ever
 *     lowers a pass, so the maximum is the closest to what the memory system can deliver to
 *     T threads, which is the ceiling the decoder is compared against.
 * Thread start-up (tens of microseconds) is inside the timing but negligible next to a pass
 * over 1 GiB (tens to hundreds of milliseconds).
 */

#define BW_BYTES ((size_t)1 << 30)
#define BW_MIN_BYTES ((size_t)256 << 20)
#define BW_MIN_PASSES 10   /* at least this many passes ... */
#define BW_MIN_SECONDS 1.0 /* ... and at least this long in all ... */
#define BW_MAX_PASSES 200  /* ... but no more than this many */

typedef struct bw_slice {
    const uint64_t *data;
    size_t n; /* uint64 words, a multiple of 32 (16 would do; 32 keeps a 256-byte step) */
    uint64_t sum;
} bw_slice;

#if defined(__GNUC__) || defined(__clang__)
/* 16-byte vectors: the width every 64-bit target has in registers (SSE2, NEON), so the eight
 * accumulators stay in registers whatever -march is (wider vector types get split and spilled
 * on a baseline build) */
typedef uint64_t bw_vec __attribute__((vector_size(16), aligned(16)));

static uint64_t bw_sum(const uint64_t *p, size_t n) {
    const bw_vec *v = (const bw_vec *)(const void *)p;
    bw_vec a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i + 8 <= n / 2; i += 8) {
        a0 += v[i + 0];
        a1 += v[i + 1];
        a2 += v[i + 2];
        a3 += v[i + 3];
        a4 += v[i + 4];
        a5 += v[i + 5];
        a6 += v[i + 6];
        a7 += v[i + 7];
    }
    bw_vec a = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    return a[0] + a[1];
}
#else
static uint64_t bw_sum(const uint64_t *p, size_t n) {
    uint64_t a[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += p[i + k];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}
#endif

static void *bw_worker(void *arg) {
    bw_slice *s = arg;
    s->sum = bw_sum(s->data, s->n);
    return NULL;
}

/* the sums are stored here, so the reads cannot be optimised away */
static volatile uint64_t bw_sink;

typedef struct bw_result {
    double gbs;        /* best pass, 1e9 bytes per second */
    size_t bytes;      /* buffer size */
    int threads;
    int passes;
} bw_result;

/* A buffer for the probe, every page written; NULL after printing an error. */
static uint64_t *bw_buffer(size_t *bytes_out) {
    size_t bytes = BW_BYTES;
    void *buf = NULL;
    while (!buf && bytes >= BW_MIN_BYTES) {
        if (posix_memalign(&buf, 4096, bytes) != 0) {
            buf = NULL;
            bytes /= 2;
        }
    }
    if (!buf) {
        fprintf(stderr, "llm bench: cannot allocate a buffer for the bandwidth test\n");
        return NULL;
    }
    uint64_t *w = buf;
    size_t n_words = bytes / sizeof *w;
    for (size_t i = 0; i < n_words; i++) w[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1u;
    *bytes_out = bytes;
    return w;
}

/* Measures the read bandwidth of the buffer w (bytes long) with n_threads threads; 0 on success. */
static int measure_bandwidth(const uint64_t *w, size_t bytes, int n_threads, bw_result *out) {
    size_t n_words = bytes / sizeof *w;
    bw_slice *slices = calloc((size_t)n_threads, sizeof *slices);
    pthread_t *tids = calloc((size_t)n_threads, sizeof *tids);
    if (!slices || !tids) {
        free(slices);
        free(tids);
        fprintf(stderr, "llm bench: out of memory\n");
        return -1;
    }
    /* slices in multiples of 32 words (256 bytes, whole cache lines) */
    size_t chunks = n_words / 32, per = chunks / (size_t)n_threads, extra = chunks % (size_t)n_threads;
    size_t at = 0;
    for (int t = 0; t < n_threads; t++) {
        size_t c = per + ((size_t)t < extra ? 1 : 0);
        slices[t].data = w + at * 32;
        slices[t].n = c * 32;
        at += c;
    }
    double best = 0.0;
    uint64_t check = 0;
    int rc = 0;
    int passes = 0;
    double t_start = cli_now();
    for (; rc == 0 && passes < BW_MAX_PASSES &&
           (passes < BW_MIN_PASSES || cli_now() - t_start < BW_MIN_SECONDS);
         passes++) {
        double t0 = cli_now();
        int started = 0;
        for (int t = 1; t < n_threads; t++, started++)
            if (pthread_create(&tids[t], NULL, bw_worker, &slices[t]) != 0) break;
        if (started != n_threads - 1) rc = -1;
        bw_worker(&slices[0]);
        for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
        double dt = cli_now() - t0;
        for (int t = 0; t < n_threads; t++) check += slices[t].sum;
        if (rc == 0 && dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    if (rc) fprintf(stderr, "llm bench: cannot start %d threads for the bandwidth test\n", n_threads);
    bw_sink = check;
    free(slices);
    free(tids);
    out->gbs = best / 1e9;
    out->bytes = bytes;
    out->threads = n_threads;
    out->passes = passes;
    return rc;
}

/* ---- benchmark ----------------------------------------------------------------------------- */

typedef struct bench_result {
    const char *model_path;
    char model_name[256];
    char arch[64];
    uint64_t size, params;
    char isa[32];
    char backend[32];
    int precision;
    int threads;
    int n_prompt, n_gen;
    int n_sessions; /* > 0: batched decode of this many sessions (tgN xS) */
    int sampled;    /* a tgN sampled / tgN FILE row: constraint (-1: none) */
    int constraint;
    const char *constraint_name;
    double sample_us; /* sampling time per generated token (sampled rows) */
    int reps;
    double *samples_ts; /* reps */
    double *samples_ns;
    double avg_ts, stddev_ts;
    double bw_gbs; /* 0 when not measured */
} bench_result;

static uint64_t rng_next(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n random token ids of the model, none an end-of-generation token. */
static int32_t *random_tokens(const llm_model *m, size_t n, uint64_t seed) {
    int32_t n_vocab = llm_model_n_vocab(m);
    int32_t *t = malloc((n ? n : 1) * sizeof *t);
    if (!t || n_vocab <= 0) {
        free(t);
        return NULL;
    }
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        int32_t id;
        int tries = 0;
        do id = (int32_t)(rng_next(&st) % (uint64_t)n_vocab);
        while (llm_token_is_eog(m, id) && ++tries < 1000);
        t[i] = id;
    }
    return t;
}

/* One run of a test; *seconds gets the timed part. */
static llm_status run_once(llm_session *s, const int32_t *tokens, int n_prompt, int n_gen, double *seconds) {
    llm_status st = llm_session_reset(s);
    if (st != LLM_OK) return st;
    if (n_prompt > 0) {
        double t0 = cli_now();
        st = llm_session_feed_tokens(s, tokens, (size_t)n_prompt);
        *seconds = cli_now() - t0;
        return st;
    }
    st = llm_session_feed_tokens(s, tokens, 1); /* the first token: not timed */
    if (st != LLM_OK) return st;
    double t0 = cli_now();
    for (int i = 1; i <= n_gen && st == LLM_OK; i++) st = llm_session_feed_tokens(s, tokens + i, 1);
    *seconds = cli_now() - t0;
    return st;
}

/* One run of a batched decode test: the sessions restart from the same prompt, one untimed step
 * samples from it, then n_gen timed llm_session_step_batch calls; *evaluated gets the tokens
 * those evaluated (S * n_gen unless a session finished early, e.g. on an end-of-generation
 * token: it then stays in the batch without evaluating anything). */
static llm_status run_batch_once(llm_session **ss, int n, const int32_t *tokens, int n_gen, double *seconds,
                                 long *evaluated) {
    llm_status st = LLM_OK;
    for (int i = 0; i < n && st == LLM_OK; i++) {
        st = llm_session_reset(ss[i]);
        if (st == LLM_OK) st = llm_session_feed_tokens(ss[i], tokens, BENCH_BATCH_PROMPT);
    }
    if (st == LLM_OK) st = llm_session_step_batch(ss, (size_t)n, NULL, NULL, NULL, NULL, NULL);
    long before = 0, after = 0;
    for (int i = 0; i < n; i++) before += llm_session_n_past(ss[i]);
    double t0 = cli_now();
    for (int k = 0; k < n_gen && st == LLM_OK; k++) st = llm_session_step_batch(ss, (size_t)n, NULL, NULL, NULL, NULL, NULL);
    *seconds = cli_now() - t0;
    for (int i = 0; i < n; i++) after += llm_session_n_past(ss[i]);
    *evaluated = after - before;
    return st;
}

/* One run of a sampled decode test (see the top of the file): *seconds gets the time of the
 * steps (and of the newlines fed after early ends), *sample_ns the sampling time within them,
 * *evaluated the tokens they put through the model. */
static llm_status run_sampled_once(llm_session *s, const llm_model *m, int n_gen, double *seconds,
                                   int64_t *sample_ns, int64_t *evaluated) {
    *seconds = 0.0;
    *sample_ns = 0;
    *evaluated = 0;
    llm_status st = llm_session_reset(s);
    if (st == LLM_OK) st = llm_session_feed_text(s, BENCH_SAMPLE_PROMPT, -1, LLM_FEED_ADD_BOS);
    const int64_t ns0 = llm_session_sampling_ns(s), ev0 = llm_session_n_evaluated(s);
    int done = 0;
    while (done < n_gen && st == LLM_OK) {
        int32_t tok = -1;
        llm_finish fin = LLM_FINISH_NONE;
        const double t0 = cli_now();
        st = llm_session_step(s, &tok, NULL, NULL, &fin);
        if (st == LLM_OK && tok >= 0 && !llm_token_is_eog(m, tok)) done++;
        if (st == LLM_OK && fin != LLM_FINISH_NONE && done < n_gen) st = llm_session_feed_text(s, "\n", -1, 0);
        *seconds += cli_now() - t0;
    }
    *sample_ns = llm_session_sampling_ns(s) - ns0;
    *evaluated = llm_session_n_evaluated(s) - ev0;
    return st;
}

static void stats(bench_result *r) {
    double sum = 0.0;
    for (int i = 0; i < r->reps; i++) sum += r->samples_ts[i];
    r->avg_ts = r->reps ? sum / r->reps : 0.0;
    double ss = 0.0;
    for (int i = 0; i < r->reps; i++) ss += (r->samples_ts[i] - r->avg_ts) * (r->samples_ts[i] - r->avg_ts);
    r->stddev_ts = r->reps > 1 ? sqrt(ss / (r->reps - 1)) : 0.0;
}

static void log_cb(void *user_data, llm_log_level level, const char *message) {
    /* without -v nothing: failures are reported once, with llm_last_error, by the caller */
    if (!user_data) return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    size_t n = strlen(message);
    fprintf(stderr, "llm [%s]: %s%s", names[level <= LLM_LOG_DEBUG ? level : LLM_LOG_DEBUG], message,
            n && message[n - 1] == '\n' ? "" : "\n");
}

/* ---- output -------------------------------------------------------------------------------- */

static void human_size(uint64_t bytes, char *buf, size_t cap) {
    if (bytes >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else snprintf(buf, cap, "%.2f MiB", (double)bytes / (double)(1ull << 20));
}

static void human_count(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.2f M", (double)n / 1e6);
    else if (n >= 1000ull) snprintf(buf, cap, "%.2f K", (double)n / 1e3);
    else snprintf(buf, cap, "%" PRIu64, n);
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void test_name(const bench_result *r, char *buf, size_t cap) {
    if (r->n_prompt > 0) snprintf(buf, cap, "pp%d", r->n_prompt);
    else if (r->n_sessions > 0) snprintf(buf, cap, "tg%d x%d", r->n_gen, r->n_sessions);
    else if (r->sampled) snprintf(buf, cap, "tg%d %s", r->n_gen, r->constraint_name);
    else snprintf(buf, cap, "tg%d", r->n_gen);
}

static void md_header(void) {
    printf("| %-32s | %10s | %9s | %6s | %9s | %7s | %6s | %20s |\n", "model", "size", "params", "isa", "precision",
           "threads", "test", "t/s");
    printf("| %.32s | %.9s: | %.8s: | %.6s | %.9s | %.6s: | %.6s | %.19s: |\n", "--------------------------------",
           "----------", "---------", "------", "---------", "-------", "------", "--------------------");
}

static void md_row(const bench_result *r) {
    char size[32], params[32], test[300], ts[64];
    human_size(r->size, size, sizeof size);
    human_count(r->params, params, sizeof params);
    test_name(r, test, sizeof test);
    snprintf(ts, sizeof ts, "%.2f \xC2\xB1 %.2f", r->avg_ts, r->stddev_ts);
    printf("| %-32s | %10s | %9s | %6s | %9s | %7d | %6s | %21s |\n", base_name(r->model_path), size, params, r->isa,
           precision_name(r->precision), r->threads, test, ts);
    fflush(stdout);
}

/* The sampled decode rows side by side: t/s relative to the unconstrained "sampled" row of the
 * same model, settings and length, and the time per token spent choosing tokens. */
static void md_sampled(const bench_result *res, int n_res) {
    int any = 0;
    for (int i = 0; i < n_res; i++) any |= res[i].sampled;
    if (!any) return;
    printf("\nconstrained vs unconstrained decode (default sampling; sample us/t: time per token spent\n"
           "choosing it: sampler, grammar, everything but the forward pass):\n\n");
    printf("| %-32s | %7s | %-24s | %12s | %11s | %11s | %14s |\n", "model", "threads", "test", "t/s", "% of sampled",
           "sample us/t", "grammar us/t");
    printf("| %.32s | %.6s: | %.24s | %.11s: | %.10s: | %.10s: | %.13s: |\n", "--------------------------------",
           "-------", "------------------------", "------------", "-----------", "-----------", "--------------");
    const bench_result *base = NULL;
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        if (!r->sampled) continue;
        if (r->constraint < 0) base = r; /* each group starts with its sampled row */
        char test[300], pct[32] = "", extra[32] = "";
        test_name(r, test, sizeof test);
        if (base && r != base) {
            snprintf(pct, sizeof pct, "%.1f%%", 100.0 * r->avg_ts / base->avg_ts);
            snprintf(extra, sizeof extra, "%.1f", r->sample_us - base->sample_us);
        }
        printf("| %-32s | %7d | %-24s | %12.2f | %11s | %11.1f | %14s |\n", base_name(r->model_path), r->threads, test,
               r->avg_ts, pct, r->sample_us, extra);
    }
}

static void md_bandwidth(const bench_result *res, int n_res, const bw_result *bws, int n_bw) {
    printf("\nmemory read bandwidth (%.0f MiB buffer, best pass):\n", (double)bws[0].bytes / 1048576.0);
    for (int i = 0; i < n_bw; i++)
        printf("  %3d thread%s: %.2f GB/s (best of %d passes)\n", bws[i].threads, bws[i].threads == 1 ? " " : "s",
               bws[i].gbs, bws[i].passes);
    printf("\ndecode floor = model bytes / bandwidth (the most tokens/s that reading every weight once per\n"
           "token allows); tg as a percentage of it:\n\n");
    printf("| %-32s | %10s | %9s | %7s | %11s | %6s | %15s | %10s | %10s |\n", "model", "size", "precision", "threads",
           "bandwidth", "test", "t/s", "floor t/s", "% of floor");
    printf("| %.32s | %.9s: | %.9s | %.6s: | %.10s: | %.6s | %.14s: | %.9s: | %.9s: |\n",
           "--------------------------------", "----------", "---------", "-------", "-----------", "------",
           "---------------", "----------", "----------");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        if (r->n_gen <= 0 || r->bw_gbs <= 0 || r->n_sessions > 0) continue; /* a batch reads the weights once for all */
        char size[32], test[32], bw[32];
        human_size(r->size, size, sizeof size);
        test_name(r, test, sizeof test);
        snprintf(bw, sizeof bw, "%.2f GB/s", r->bw_gbs);
        double floor_ts = r->bw_gbs * 1e9 / (double)r->size;
        printf("| %-32s | %10s | %9s | %7d | %11s | %6s | %15.2f | %10.2f | %9.1f%% |\n", base_name(r->model_path),
               size, precision_name(r->precision), r->threads, bw, test, r->avg_ts, floor_ts,
               100.0 * r->avg_ts / floor_ts);
    }
}

static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void json_doubles(const double *v, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf("%s%.6g", i ? ", " : "", v[i]);
    putchar(']');
}

static void json_row(const bench_result *r, int first) {
    printf("%s  {\n    \"model_filename\": ", first ? "[\n" : ",\n");
    json_string(r->model_path);
    printf(",\n    \"model_name\": ");
    json_string(r->model_name);
    printf(",\n    \"model_arch\": ");
    json_string(r->arch);
    printf(",\n    \"model_size\": %" PRIu64 ",\n    \"model_n_params\": %" PRIu64 ",\n", r->size, r->params);
    printf("    \"backend\": ");
    json_string(r->backend);
    printf(",\n    \"isa\": ");
    json_string(r->isa);
    printf(",\n    \"precision\": ");
    json_string(precision_name(r->precision));
    printf(",\n    \"libllm_version\": ");
    json_string(llm_version());
    printf(",\n    \"n_threads\": %d,\n    \"n_prompt\": %d,\n    \"n_gen\": %d,\n    \"repetitions\": %d,\n",
           r->threads, r->n_prompt, r->n_gen, r->reps);
    if (r->n_sessions > 0) printf("    \"n_sessions\": %d,\n", r->n_sessions);
    if (r->sampled) {
        printf("    \"sampled\": true,\n    \"constraint\": ");
        json_string(r->constraint_name);
        printf(",\n    \"sample_us_per_token\": %.6g,\n", r->sample_us);
    }
    printf("    \"avg_ts\": %.6g,\n    \"stddev_ts\": %.6g,\n    \"samples_ns\": ", r->avg_ts, r->stddev_ts);
    json_doubles(r->samples_ns, r->reps);
    printf(",\n    \"samples_ts\": ");
    json_doubles(r->samples_ts, r->reps);
    if (r->bw_gbs > 0) {
        printf(",\n    \"bandwidth_gbs\": %.6g", r->bw_gbs);
        if (r->n_gen > 0 && r->n_sessions == 0) {
            double floor_ts = r->bw_gbs * 1e9 / (double)r->size;
            printf(",\n    \"decode_floor_ts\": %.6g,\n    \"floor_pct\": %.6g", floor_ts, 100.0 * r->avg_ts / floor_ts);
        }
    }
    printf("\n  }");
    fflush(stdout);
}

/* ---- driver -------------------------------------------------------------------------------- */

/* One row of the --shared-prompt table (bench_shared). */
typedef struct shared_row {
    const char *path;
    int threads, precision;
    double first;          /* ms, the first request */
    double mean[2], sd[2]; /* ms, the following requests: with the prefix cache [0], without [1] */
    int32_t reused;        /* the fewest positions a following request took from the prefix cache */
} shared_row;

typedef struct bench_state {
    bench_result *res;
    int n_res, cap_res;
    shared_row *shared;
    int n_shared, cap_shared;
    bw_result bws[BENCH_MAX_LIST];
    int n_bw;
} bench_state;

static double bandwidth_for(const bench_state *bs, int threads) {
    for (int i = 0; i < bs->n_bw; i++)
        if (bs->bws[i].threads == threads) return bs->bws[i].gbs;
    return 0.0;
}

static void emit(const bench_opts *o, bench_state *bs, const bench_result *r) {
    if (o->json) json_row(r, bs->n_res == 1);
    else md_row(r);
}

/* A new row of bs (owned by bs from here on: freed there) for model m on context c; NULL after
 * printing an error. */
static bench_result *add_result(const bench_opts *o, bench_state *bs, const char *path, const llm_model *m,
                                const llm_context *c, int precision) {
    if (bs->n_res == bs->cap_res) {
        int cap = bs->cap_res ? bs->cap_res * 2 : 16;
        bench_result *nr = realloc(bs->res, (size_t)cap * sizeof *nr);
        if (!nr) {
            fprintf(stderr, "llm bench: out of memory\n");
            return NULL;
        }
        bs->res = nr;
        bs->cap_res = cap;
    }
    bench_result *r = &bs->res[bs->n_res];
    memset(r, 0, sizeof *r);
    r->samples_ts = calloc((size_t)o->reps, sizeof *r->samples_ts);
    r->samples_ns = calloc((size_t)o->reps, sizeof *r->samples_ns);
    if (!r->samples_ts || !r->samples_ns) {
        free(r->samples_ts);
        free(r->samples_ns);
        fprintf(stderr, "llm bench: out of memory\n");
        return NULL;
    }
    r->model_path = path;
    snprintf(r->model_name, sizeof r->model_name, "%s", llm_model_name(m));
    snprintf(r->arch, sizeof r->arch, "%s", llm_model_architecture(m));
    r->size = llm_model_size_bytes(m);
    r->params = llm_model_n_params(m);
    snprintf(r->isa, sizeof r->isa, "%s", llm_context_isa(c));
    snprintf(r->backend, sizeof r->backend, "%s", llm_context_backend_name(c));
    r->threads = llm_context_n_threads(c);
    r->precision = precision;
    r->reps = o->reps;
    r->bw_gbs = bandwidth_for(bs, r->threads);
    r->constraint = -1;
    bs->n_res++;
    return r;
}

/* The sampled decode tests of one generation length: a "sampled" row and one per --grammar /
 * --json-schema file, each on its own session (so each grammar's caches persist between runs,
 * as in an app that keeps a session's grammar), their runs interleaved so that the machine's
 * drift affects every row alike. Returns 0, or -1 after printing why. */
static int bench_sampled(const bench_opts *o, bench_state *bs, const char *path, const llm_model *m, llm_context *c,
                         int precision, int n_gen, int *printed_header) {
    const int n_rows = 1 + o->n_constraints;
    llm_session *ss[BENCH_MAX_LIST + 1] = {0};
    int first = bs->n_res, rc = -1;
    llm_status st = LLM_OK;
    for (int k = 0; k < n_rows; k++) {
        st = llm_session_new(c, NULL, &ss[k]); /* the library's default sampling */
        if (st != LLM_OK) {
            cli_report("cannot create a session", st, c);
            goto done;
        }
        if (k > 0) {
            const char *text = o->constraint_text[k - 1];
            st = o->constraint_is_schema[k - 1] ? llm_session_set_json_schema(ss[k], text)
                                                : llm_session_set_grammar(ss[k], text, NULL);
            if (st != LLM_OK) {
                char what[4200];
                snprintf(what, sizeof what, "%s", o->constraint_files[k - 1]);
                cli_report(what, st, ss[k]);
                goto done;
            }
        }
        bench_result *r = add_result(o, bs, path, m, c, precision);
        if (!r) goto done;
        r->n_gen = n_gen;
        r->sampled = 1;
        r->constraint = k - 1;
        r->constraint_name = k ? base_name(o->constraint_files[k - 1]) : "sampled";
    }
    /* t/s of a row = N / (N forward passes + the row's sampling time), with the time of a
     * forward pass pooled over all rows of the repetition (their steps' time less their sampling
     * time, over the tokens evaluated): the pass is the same computation whatever the grammar,
     * and pooling keeps restarts out (a model that ends its strings after two tokens, as random
     * weights under a JSON grammar do with "{}", makes the loop evaluate restart newlines in
     * two-token feeds). What differs between the rows is what choosing a token costs. */
    double sample_ns_sum[BENCH_MAX_LIST + 1] = {0};
    for (int i = -1; i < o->reps; i++) {
        double secs[BENCH_MAX_LIST + 1], pass_time = 0.0;
        int64_t sns[BENCH_MAX_LIST + 1], passes = 0;
        for (int k = 0; k < n_rows; k++) {
            int64_t ev = 0;
            st = run_sampled_once(ss[k], m, n_gen, &secs[k], &sns[k], &ev);
            if (st != LLM_OK) {
                char what[300];
                snprintf(what, sizeof what, "%s: test tg%d %s failed", base_name(path), n_gen,
                         bs->res[first + k].constraint_name);
                cli_report(what, st, ss[k]);
                goto done;
            }
            pass_time += secs[k] - (double)sns[k] / 1e9;
            passes += ev;
        }
        if (i < 0) continue;
        const double per_pass = passes > 0 ? pass_time / (double)passes : 0.0;
        for (int k = 0; k < n_rows; k++) {
            bench_result *r = &bs->res[first + k];
            double t = per_pass * n_gen + (double)sns[k] / 1e9;
            if (t <= 0) t = 1e-9;
            r->samples_ns[i] = t * 1e9;
            r->samples_ts[i] = n_gen / t;
            sample_ns_sum[k] += (double)sns[k];
        }
    }
    for (int k = 0; k < n_rows; k++) {
        bench_result *r = &bs->res[first + k];
        r->sample_us = sample_ns_sum[k] / 1e3 / ((double)o->reps * n_gen);
        stats(r);
        if (!o->json && !*printed_header) {
            md_header();
            *printed_header = 1;
        }
        emit(o, bs, r);
    }
    rc = 0;
done:
    if (rc) bs->n_res = first; /* rows not measured are dropped */
    for (int k = 0; k < n_rows; k++) llm_session_free(ss[k]);
    return rc;
}

/* Runs every test of one model with one thread count. Returns 0, or -1 after printing why. */
static int bench_model_threads(const bench_opts *o, const char *path, const llm_model *m, int threads,
                               int precision, bench_state *bs, int *printed_header) {
    int max_p = 0, max_n = 0;
    for (int i = 0; i < o->n_prompts; i++) max_p = o->prompts[i] > max_p ? o->prompts[i] : max_p;
    for (int i = 0; i < o->n_gens; i++) max_n = o->gens[i] > max_n ? o->gens[i] : max_n;
    int max_s = 0;
    for (int i = 0; i < o->n_sessions; i++) max_s = o->sessions[i] > max_s ? o->sessions[i] : max_s;
    int n_ctx = max_p + max_n + 1;
    if (max_s > 0 && BENCH_BATCH_PROMPT + max_n + 2 > n_ctx) n_ctx = BENCH_BATCH_PROMPT + max_n + 2;
    /* sampled tests: the prompt, the tokens, and two per restarted generation at most */
    if (o->n_constraints > 0 && 3 * max_n + 64 > n_ctx) n_ctx = 3 * max_n + 64;

    static int verbose_flag = 1;
    llm_options *opt = llm_options_new();
    if (!opt) {
        fprintf(stderr, "llm bench: out of memory\n");
        return -1;
    }
    llm_options_set_log(opt, log_cb, o->verbose ? &verbose_flag : NULL);
    llm_status st = llm_options_set_int(opt, LLM_OPT_THREADS, threads);
    if (st == LLM_OK) st = llm_options_set_int(opt, LLM_OPT_CONTEXT_SIZE, n_ctx);
    if (st == LLM_OK && (max_s > 0 || o->n_constraints > 0))
        st = llm_options_set_int(opt, LLM_OPT_MAX_SESSIONS, max_s + 2 + o->n_constraints);
    if (st == LLM_OK) st = llm_options_set_float(opt, LLM_OPT_TEMPERATURE, 0.0);
    if (st == LLM_OK) st = llm_options_set_int(opt, LLM_OPT_PRECISION, precision);
    /* every run feeds the same tokens again: a prefix cache would serve them instead of the model */
    if (st == LLM_OK) st = llm_options_set_int(opt, LLM_OPT_PREFIX_CACHE, 0);
    if (st != LLM_OK) {
        cli_report("bad option", st, opt);
        llm_options_free(opt);
        return -1;
    }
    llm_context *c = NULL;
    llm_session *s = NULL;
    llm_session **batch = NULL; /* max_s sessions for the batched decode tests */
    int n_batch = 0;
    int32_t *tokens = NULL;
    int rc = -1;
    st = llm_context_new(m, opt, &c);
    if (st != LLM_OK) {
        cli_report("cannot create a context", st, opt);
        goto done;
    }
    st = llm_session_new(c, opt, &s);
    if (st != LLM_OK) {
        cli_report("cannot create a session", st, c);
        goto done;
    }
    if (max_s > 0 && !(batch = calloc((size_t)max_s, sizeof *batch))) {
        fprintf(stderr, "llm bench: out of memory\n");
        goto done;
    }
    for (; n_batch < max_s; n_batch++) {
        st = llm_session_new(c, opt, &batch[n_batch]);
        if (st != LLM_OK) {
            cli_report("cannot create a session", st, c);
            goto done;
        }
    }
    size_t n_tok = (size_t)(max_p > max_n + 1 ? max_p : max_n + 1);
    if (n_tok < BENCH_BATCH_PROMPT) n_tok = BENCH_BATCH_PROMPT;
    tokens = random_tokens(m, n_tok, BENCH_SEED);
    if (!tokens) {
        fprintf(stderr, "llm bench: cannot draw random tokens (out of memory or empty vocabulary)\n");
        goto done;
    }
    /* the tests: every pp size, then every tg size, then every tg size with every session count */
    const int n_single = o->n_prompts + o->n_gens;
    int n_tests = n_single + o->n_gens * o->n_sessions;
    for (int k = 0; k < n_tests; k++) {
        int n_prompt = k < o->n_prompts ? o->prompts[k] : 0;
        int n_gen = k < o->n_prompts ? 0 : k < n_single ? o->gens[k - o->n_prompts] : o->gens[(k - n_single) / o->n_sessions];
        int n_sess = k < n_single ? 0 : o->sessions[(k - n_single) % o->n_sessions];
        if (n_prompt == 0 && n_gen == 0) continue;
        bench_result *r = add_result(o, bs, path, m, c, precision);
        if (!r) goto done;
        r->n_prompt = n_prompt;
        r->n_gen = n_gen;
        r->n_sessions = n_sess;

        double secs = 0.0;
        long done_tok = 0;
        /* the first run is the warm-up */
        for (int i = -1; i < o->reps && st == LLM_OK; i++) {
            if (n_sess > 0) st = run_batch_once(batch, n_sess, tokens, n_gen, &secs, &done_tok);
            else st = run_once(s, tokens, n_prompt, n_gen, &secs);
            if (i < 0) continue;
            if (secs <= 0) secs = 1e-9;
            r->samples_ns[i] = secs * 1e9;
            r->samples_ts[i] = (n_prompt > 0 ? n_prompt : n_sess > 0 ? (double)done_tok : n_gen) / secs;
        }
        if (st != LLM_OK) {
            char what[300], test[64];
            test_name(r, test, sizeof test);
            snprintf(what, sizeof what, "%s: test %s failed", base_name(path), test);
            cli_report(what, st, n_sess > 0 ? (const void *)c : (const void *)s);
            bs->n_res--;
            free(r->samples_ts);
            free(r->samples_ns);
            goto done;
        }
        stats(r);
        if (!o->json && !*printed_header) {
            md_header();
            *printed_header = 1;
        }
        emit(o, bs, r);
    }
    for (int k = 0; k < o->n_gens && o->n_constraints > 0; k++)
        if (o->gens[k] > 0 && bench_sampled(o, bs, path, m, c, precision, o->gens[k], printed_header) != 0) goto done;
    rc = 0;
done:
    free(tokens);
    for (int i = 0; i < n_batch; i++) llm_session_free(batch[i]);
    free(batch);
    llm_session_free(s);
    llm_context_free(c);
    llm_options_free(opt);
    return rc;
}

/* ---- shared prompts: time to first token --------------------------------------------------- */

/* One request on a new session of c: the shared prompt, then question q (16 tokens), until the
 * first token is sampled; *ms gets the time, *reused the positions served by the prefix cache. */
static llm_status ttft_once(llm_context *c, const int32_t *sys, int n_sys, const int32_t *q, double *ms,
                            int32_t *reused) {
    llm_session *s = NULL;
    llm_status st = llm_session_new(c, NULL, &s);
    if (st != LLM_OK) return st;
    int32_t *prompt = malloc((size_t)(n_sys + 16) * sizeof *prompt);
    if (!prompt) {
        llm_session_free(s);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    memcpy(prompt, sys, (size_t)n_sys * sizeof *prompt);
    memcpy(prompt + n_sys, q, 16 * sizeof *prompt);
    const double t0 = cli_now();
    st = llm_session_feed_tokens(s, prompt, (size_t)n_sys + 16);
    if (st == LLM_OK) st = llm_session_step(s, NULL, NULL, NULL, NULL);
    *ms = (cli_now() - t0) * 1e3;
    *reused = llm_session_n_reused(s);
    free(prompt);
    llm_session_free(s);
    return st;
}

/* A row of the --shared-prompt table: per model, threads and precision, the first request's time
 * to first token, the following requests' (mean over the repetitions, each with another
 * question), and the same requests in a context without a prefix cache (what every request
 * costs there). */
static int bench_shared(const bench_opts *o, const char *path, const llm_model *m, int threads, int precision,
                        bench_state *bs) {
    const int n_sys = o->shared_prompt, reps = o->reps > 1 ? o->reps : 2;
    int32_t *sys = random_tokens(m, (size_t)n_sys, BENCH_SEED + 1);
    int32_t *qs = random_tokens(m, (size_t)(reps + 2) * 16, BENCH_SEED + 2);
    llm_context *cs[2] = {NULL, NULL};
    int rc = -1;
    double first = 0, sum[2] = {0, 0}, sum2[2] = {0, 0};
    int32_t reused = 0, reused_min = INT32_MAX;
    if (!sys || !qs) goto done;
    for (int k = 0; k < 2; k++) {
        llm_options *opt = llm_options_new();
        if (!opt) goto done;
        llm_options_set_int(opt, LLM_OPT_THREADS, threads);
        llm_options_set_int(opt, LLM_OPT_CONTEXT_SIZE, n_sys + 32);
        llm_options_set_int(opt, LLM_OPT_PRECISION, precision);
        llm_options_set_int(opt, LLM_OPT_PREFIX_CACHE, k == 0 ? -1 : 0);
        llm_status st = llm_context_new(m, opt, &cs[k]);
        if (st != LLM_OK) cli_report("cannot create a context", st, opt);
        llm_options_free(opt);
        if (st != LLM_OK) goto done;
    }
    /* a warm-up request with other tokens in each context (weights paged in, pools started) */
    for (int k = 0; k < 2; k++) {
        double ms = 0;
        if (ttft_once(cs[k], qs + 16 * reps, 16, qs, &ms, &reused) != LLM_OK) goto done;
    }
    /* interleaved: request i with the cache, then without it */
    for (int i = 0; i <= reps; i++)
        for (int k = 0; k < 2; k++) {
            double ms = 0;
            llm_status st = ttft_once(cs[k], sys, n_sys, qs + 16 * i, &ms, &reused);
            if (st != LLM_OK) {
                cli_report("shared-prompt request failed", st, cs[k]);
                goto done;
            }
            if (k == 0 && i == 0) first = ms;
            else if (i > 0) {
                sum[k] += ms;
                sum2[k] += ms * ms;
                if (k == 0 && reused < reused_min) reused_min = reused;
            }
        }
    if (bs->n_shared == bs->cap_shared) {
        const int cap = bs->cap_shared ? 2 * bs->cap_shared : 8;
        shared_row *grown = realloc(bs->shared, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "llm bench: out of memory\n");
            goto done;
        }
        bs->shared = grown;
        bs->cap_shared = cap;
    }
    shared_row *row = &bs->shared[bs->n_shared++];
    *row = (shared_row){.path = path, .threads = threads, .precision = precision, .first = first, .reused = reused_min};
    for (int k = 0; k < 2; k++) {
        row->mean[k] = sum[k] / reps;
        const double var = sum2[k] / reps - row->mean[k] * row->mean[k];
        row->sd[k] = var > 0 ? sqrt(var) : 0;
    }
    rc = 0;
done:
    llm_context_free(cs[0]);
    llm_context_free(cs[1]);
    free(sys);
    free(qs);
    return rc;
}

static void md_shared(const bench_opts *o, const bench_state *bs) {
    if (bs->n_shared == 0) return;
    printf("\nTime to first token of requests that start with the same %d-token prompt (then 16 tokens of\n"
           "question), milliseconds; following: mean +/- sd of %d requests, each with another question:\n\n",
           o->shared_prompt, o->reps > 1 ? o->reps : 2);
    printf("| %-32s | %7s | %9s | %8s | %18s | %13s | %18s | %7s |\n", "model", "threads", "precision", "first",
           "following", "reused tokens", "no prefix cache", "speedup");
    printf("| %.32s | ------: | --------: | -------: | -----------------: | ------------: | -----------------: | ------: |\n",
           "----------------------------------------");
    for (int i = 0; i < bs->n_shared; i++) {
        const shared_row *r = &bs->shared[i];
        char fol[64], none[64];
        snprintf(fol, sizeof fol, "%.1f +/- %.1f", r->mean[0], r->sd[0]);
        snprintf(none, sizeof none, "%.1f +/- %.1f", r->mean[1], r->sd[1]);
        printf("| %-32s | %7d | %9s | %8.1f | %18s | %13d | %18s | %6.1fx |\n", base_name(r->path), r->threads,
               precision_name(r->precision), r->first, fol, (int)r->reused, none,
               r->mean[0] > 0 ? r->first / r->mean[0] : 0.0);
    }
}

int cli_bench(int argc, char **argv) {
    bench_opts o;
    int pr = bench_parse(argc, argv, &o);
    if (pr == 1) {
        bench_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;

    for (int i = 0; i < o.n_constraints; i++) {
        o.constraint_text[i] = cli_read_file(o.constraint_files[i], NULL);
        if (!o.constraint_text[i]) {
            for (int j = 0; j < i; j++) free(o.constraint_text[j]);
            return CLI_ERR_RUNTIME;
        }
    }

    char default_path[4096];
    if (o.n_models == 0) {
        cli_args none;
        memset(&none, 0, sizeof none);
        const char *p = cli_model_path(&none, default_path, sizeof default_path);
        if (!p) {
            for (int i = 0; i < o.n_constraints; i++) free(o.constraint_text[i]);
            return CLI_ERR_RUNTIME;
        }
        o.models[o.n_models++] = default_path;
    }

    bench_state bs;
    memset(&bs, 0, sizeof bs);
    int rc = CLI_OK;

    /* bandwidth first, while no context (and so no worker thread) exists */
    if (o.bandwidth) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        size_t bytes = 0;
        uint64_t *buf = bw_buffer(&bytes);
        if (!buf) rc = CLI_ERR_RUNTIME;
        for (int i = 0; i < o.n_threads && rc == CLI_OK; i++) {
            int t = o.threads[i] > 0 ? o.threads[i] : (cores > 0 ? (int)cores : 1);
            if (bandwidth_for(&bs, t) > 0) continue;
            if (measure_bandwidth(buf, bytes, t, &bs.bws[bs.n_bw]) != 0) rc = CLI_ERR_RUNTIME;
            else bs.n_bw++;
        }
        free(buf);
    }

    int printed_header = 0;
    for (int mi = 0; mi < o.n_models && rc == CLI_OK; mi++) {
        llm_options *lo = llm_options_new();
        if (!lo) {
            fprintf(stderr, "llm bench: out of memory\n");
            rc = CLI_ERR_RUNTIME;
            break;
        }
        static int verbose_flag = 1;
        llm_options_set_log(lo, log_cb, o.verbose ? &verbose_flag : NULL);
        llm_model *m = NULL;
        llm_status st = llm_model_load_file(o.models[mi], lo, &m);
        if (st != LLM_OK) {
            char what[4200];
            snprintf(what, sizeof what, "cannot load model '%s'", o.models[mi]);
            cli_report(what, st, lo);
            rc = CLI_ERR_RUNTIME;
        }
        for (int ti = 0; ti < o.n_threads && rc == CLI_OK; ti++)
            for (int pi = 0; pi < o.n_precisions && rc == CLI_OK; pi++)
                if (bench_model_threads(&o, o.models[mi], m, o.threads[ti], o.precisions[pi], &bs, &printed_header) != 0)
                    rc = CLI_ERR_RUNTIME;
        /* the --shared-prompt rows of the model, printed after the other tables */
        for (int ti = 0; ti < o.n_threads && rc == CLI_OK && o.shared_prompt > 0; ti++)
            for (int pi = 0; pi < o.n_precisions && rc == CLI_OK; pi++)
                if (bench_shared(&o, o.models[mi], m, o.threads[ti], o.precisions[pi], &bs) != 0) rc = CLI_ERR_RUNTIME;
        llm_model_free(m);
        llm_options_free(lo);
    }
    if (o.json && bs.n_res > 0) printf("\n]\n");
    else if (o.json && rc == CLI_OK) printf("[]\n");
    if (!o.json) md_sampled(bs.res, bs.n_res);
    md_shared(&o, &bs);
    if (!o.json && o.bandwidth && bs.n_bw > 0 && bs.n_res > 0) md_bandwidth(bs.res, bs.n_res, bs.bws, bs.n_bw);
    fflush(stdout);
    for (int i = 0; i < bs.n_res; i++) {
        free(bs.res[i].samples_ts);
        free(bs.res[i].samples_ns);
    }
    free(bs.res);
    free(bs.shared);
    for (int i = 0; i < o.n_constraints; i++) free(o.constraint_text[i]);
    return rc;
}
