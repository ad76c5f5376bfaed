/* The backend registry and the device path, through the public API only, without a GPU.
 *
 *   test_backend SCENARIO PLUGIN_OR_PATH LLAMA_F32 GEMMA3_F32 LLAMA_Q8_0
 *
 * Each scenario runs in its own process (the plugin search runs once per process): it sets
 * LLM_BACKEND_PATH (and the mock plugin's LLM_MOCK_* switches) before the first llm_* call.
 *   absent        no plugin: auto -> cpu with a log line, cuda -> LLM_ERR_BACKEND
 *   garbage       a file that is not a shared object         (reason: "cannot load")
 *   nosym         a shared object without the entry symbol   (reason: "no symbol")
 *   wrong_abi     the mock reporting ABI version 99          (reason: "ABI version 99")
 *   init_fail     the mock's init failing                     (reason: "no CUDA driver")
 *   no_device     the mock finding no device                  (reason: "no device")
 *   mock          end to end on the mock: routing, logits against the CPU (exact precision),
 *                 greedy generation, all-logits rows, step_timed, truncation (reset), abort,
 *                 several sessions, a failing forward pass leaving the session usable
 *   upload_oom    device OOM at upload: auto -> cpu; cuda -> LLM_ERR_OUT_OF_MEMORY
 *   session_oom   device OOM creating a session: LLM_ERR_OUT_OF_MEMORY
 *   forward_oom   device OOM in a forward pass: LLM_ERR_OUT_OF_MEMORY, n_past unchanged
 *   low_memory    the device has too little free memory: auto -> cpu, cuda -> LLM_ERR_BACKEND
 *   features      the plugin lacks GeGLU: gemma3 refused (reason names it), llama accepted;
 *                 a Q8_0 model refused (the mock uploads F32/F16/BF16 only)
 *   real_cuda     the real libllm-cuda.so: loads and works on a GPU machine, or fails cleanly
 *                 with a reason naming the driver or the device (CI has no GPU)
 *   batch         llm_session_step_batch on the mock's session_forward_batch (llama and gemma3):
 *                 4 sessions with prompts of different lengths give the same tokens, finishes,
 *                 text, n_past and logits (1e-6 relative) as the same sessions stepped one by one;
 *                 a device OOM in a batch fails every session with n_past kept, a failing kernel
 *                 likewise, and the next batch continues as if nothing happened; an abort of one
 *                 session finishes it with LLM_FINISH_ABORTED (n_past kept) and the others go on;
 *                 bad session lists are refused without touching a session; the mock counts
 *                 its batched passes (llm_mock_batch_stats), so the test knows the batch path ran
 *   batch_nobatch the same with LLM_MOCK_NO_BATCH=1 (session_forward_batch NULL: the core's
 *                 fallback loop over session_forward); no batched pass may run
 *   batch_oldtable the same with LLM_MOCK_OLD_TABLE=1 (struct_size of a table older than
 *                 session_forward_batch: the core must not read the field)
 * The batch scenarios exit with 77 (ctest: skipped) when llm_session_step_batch answers
 * LLM_ERR_UNSUPPORTED, i.e. before the core's batched step exists; any other outcome is checked. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_plugin.h"
#include "check.h"
#include "llm.h"

static char g_log[16384];

static void log_cb(void *ud, llm_log_level level, const char *msg) {
    (void)ud;
    (void)level;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
}

static const char *g_llama, *g_gemma, *g_q8;

static llm_model *load(const char *path, llm_options *o) {
    llm_model *m = NULL;
    llm_status st = llm_model_load_file(path, o, &m);
    CHECK(st == LLM_OK, "load %s: %s", path, llm_last_error(o));
    return m;
}

static void describe(llm_backend b, char *buf, size_t cap) {
    size_t need = 0;
    buf[0] = 0;
    llm_status st = llm_backend_describe(b, buf, cap, &need);
    CHECK(st == LLM_OK, "describe %d: %d", (int)b, st);
}

/* A context on `backend`; *st gets the status. */
static llm_context *context(llm_model *m, int backend, int precision, llm_status *st, llm_options **keep) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_BACKEND, backend);
    llm_options_set_int(o, LLM_OPT_THREADS, 1);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 64);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_context *c = NULL;
    *st = llm_context_new(m, o, &c);
    if (keep) *keep = o;
    else llm_options_free(o);
    return c;
}

/* The plugin is unavailable for `expect_reason`: the API says so, auto falls back with a log
 * line, cuda fails with LLM_ERR_BACKEND naming the reason. */
static void check_unavailable(const char *expect_reason) {
    char why[2048];
    CHECK(!llm_backend_available(LLM_BACKEND_CUDA), "cuda must be unavailable");
    CHECK(llm_backend_device_count(LLM_BACKEND_CUDA) == 0, "no cuda device");
    describe(LLM_BACKEND_CUDA, why, sizeof why);
    CHECK(strstr(why, expect_reason) != NULL, "reason '%s' should contain '%s'", why, expect_reason);
    printf("cuda unavailable: %s\n", why);

    llm_options *o = llm_options_new();
    llm_options_set_log(o, log_cb, NULL);
    llm_model *m = load(g_llama, o);
    if (!m) {
        llm_options_free(o);
        return;
    }
    llm_status st;
    g_log[0] = 0;
    llm_context *c = context(m, LLM_BACKEND_AUTO, LLM_PRECISION_FAST, &st, NULL);
    CHECK(st == LLM_OK && c, "auto context: %d", st);
    CHECK(strcmp(llm_context_backend_name(c), "cpu") == 0, "auto falls back to the cpu: %s",
          llm_context_backend_name(c));
    CHECK(strstr(g_log, "cuda backend not used") && strstr(g_log, expect_reason), "log says why: %s", g_log);
    llm_context_free(c);

    llm_options *co = NULL;
    c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, &co);
    CHECK(st == LLM_ERR_BACKEND && c == NULL, "backend=cuda gives LLM_ERR_BACKEND (%d)", st);
    CHECK(strstr(llm_last_error(co), "cuda backend is not available") && strstr(llm_last_error(co), expect_reason),
          "message: %s", llm_last_error(co));
    llm_options_free(co);

    c = context(m, LLM_BACKEND_CPU, LLM_PRECISION_FAST, &st, NULL);
    CHECK(st == LLM_OK && strcmp(llm_context_backend_name(c), "cpu") == 0, "backend=cpu works");
    llm_context_free(c);
    llm_model_free(m);
    llm_options_free(o);
}

static void check_cpu_backend(void) {
    CHECK(strcmp(llm_backend_name(LLM_BACKEND_AUTO), "auto") == 0, "name auto");
    CHECK(strcmp(llm_backend_name(LLM_BACKEND_CPU), "cpu") == 0, "name cpu");
    CHECK(strcmp(llm_backend_name(LLM_BACKEND_CUDA), "cuda") == 0, "name cuda");
    CHECK(strcmp(llm_backend_name((llm_backend)99), "") == 0, "unknown name");
    CHECK(llm_backend_available(LLM_BACKEND_CPU), "cpu available");
    CHECK(llm_backend_device_count(LLM_BACKEND_CPU) == 1, "one cpu device");
    char name[256];
    size_t need = 0;
    CHECK(llm_backend_device_name(LLM_BACKEND_CPU, 0, name, sizeof name, &need) == LLM_OK && need > 0, "cpu name");
    CHECK(llm_backend_device_name(LLM_BACKEND_CPU, 1, name, sizeof name, &need) == LLM_ERR_INVALID_ARGUMENT,
          "bad device index");
    uint64_t total = 0, free_b = 0;
    CHECK(llm_backend_device_memory(LLM_BACKEND_CPU, 0, &total, &free_b) == LLM_OK && total > 0 && free_b <= total,
          "cpu memory");
    CHECK(llm_backend_describe((llm_backend)99, name, sizeof name, &need) == LLM_ERR_INVALID_ARGUMENT,
          "describe unknown backend");
    double lo, hi;
    CHECK(llm_option_bounds(LLM_OPT_BACKEND, &lo, &hi) == LLM_OK && lo == 0 && hi == LLM_BACKEND_CUDA, "bounds");
}

static float max_rel_diff(const float *a, const float *b, int32_t n) {
    float md = 0, mx = 0;
    for (int32_t i = 0; i < n; i++) {
        const float d = fabsf(a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabsf(b[i]) > mx) mx = fabsf(b[i]);
    }
    return md / (mx > 0 ? mx : 1);
}

static int abort_now(void *ud) {
    int *n = ud;
    return (*n)-- <= 0;
}

/* The mock backend against the CPU on one model. */
static void compare_model(const char *path) {
    llm_options *o = llm_options_new();
    llm_options_set_log(o, log_cb, NULL);
    llm_model *m = load(path, o);
    if (!m) {
        llm_options_free(o);
        return;
    }
    llm_status st;
    g_log[0] = 0;
    llm_context *cg = context(m, LLM_BACKEND_AUTO, LLM_PRECISION_EXACT, &st, NULL);
    CHECK(st == LLM_OK && cg && strcmp(llm_context_backend_name(cg), "cuda") == 0, "auto picks the plugin (%s): %s",
          cg ? llm_context_backend_name(cg) : "-", g_log);
    llm_context *cc = context(m, LLM_BACKEND_CPU, LLM_PRECISION_EXACT, &st, NULL);
    CHECK(st == LLM_OK && cc, "cpu context");
    if (!cg || !cc || strcmp(llm_context_backend_name(cg), "cuda") != 0) goto out;
    llm_options *so = llm_options_new();
    llm_options_set_float(so, LLM_OPT_TEMPERATURE, 0);
    llm_options_set_int(so, LLM_OPT_MAX_TOKENS, 8);
    llm_options_set_int(so, LLM_OPT_ALL_LOGITS, 1);
    llm_session *sg = NULL, *sc = NULL;
    CHECK(llm_session_new(cg, so, &sg) == LLM_OK, "device session: %s", llm_last_error(cg));
    CHECK(llm_session_new(cc, so, &sc) == LLM_OK, "cpu session");
    if (!sg || !sc) goto out_s;
    const int32_t n_vocab = llm_model_n_vocab(m);
    const int32_t prompt[7] = {1, 17, 42, 99, 3, 250, 7};
    CHECK(llm_session_feed_tokens(sg, prompt, 7) == LLM_OK, "feed device: %s", llm_last_error(sg));
    CHECK(llm_session_feed_tokens(sc, prompt, 7) == LLM_OK, "feed cpu");
    CHECK(llm_session_n_past(sg) == 7, "n_past after feed: %d", llm_session_n_past(sg));
    float worst = 0;
    for (int32_t r = 0; r < 7; r++) {
        const float *lg = NULL, *lc = NULL;
        int32_t nv = 0;
        CHECK(llm_session_logits(sg, r, &lg, &nv) == LLM_OK && nv == n_vocab, "device logits row %d", r);
        CHECK(llm_session_logits(sc, r, &lc, NULL) == LLM_OK, "cpu logits row %d", r);
        if (lg && lc) {
            const float d = max_rel_diff(lg, lc, n_vocab);
            if (!(d <= worst)) worst = d;
        }
    }
    /* the mock sums in double, the CPU in float with BLIS for the batch: both near the truth */
    CHECK(worst < 1e-3f, "prompt logits: max |diff| / max |logit| = %g", worst);
    printf("%s: prompt logits max rel diff %.3g\n", path, worst);
    /* greedy generation: the same tokens (sampling runs on the host for both) */
    int32_t tg[8], tc[8];
    int ng = 0, nc = 0;
    for (;;) {
        int32_t t;
        llm_finish f;
        if (llm_session_step(sg, &t, NULL, NULL, &f) != LLM_OK) break;
        if (t >= 0 && ng < 8) tg[ng++] = t;
        if (f != LLM_FINISH_NONE) break;
    }
    for (;;) {
        int32_t t;
        llm_finish f;
        if (llm_session_step(sc, &t, NULL, NULL, &f) != LLM_OK) break;
        if (t >= 0 && nc < 8) tc[nc++] = t;
        if (f != LLM_FINISH_NONE) break;
    }
    CHECK(ng == nc && ng > 0 && memcmp(tg, tc, (size_t)ng * sizeof tg[0]) == 0, "greedy tokens equal (%d vs %d)", ng,
          nc);
    CHECK(llm_session_n_past(sg) == llm_session_n_past(sc), "n_past %d vs %d", llm_session_n_past(sg),
          llm_session_n_past(sc));
    /* step_timed: one unit is a whole forward pass; any budget gives the same token */
    llm_session_reset(sg);
    CHECK(llm_session_n_past(sg) == 0, "reset truncates");
    CHECK(llm_session_feed_tokens(sg, prompt, 7) == LLM_OK, "refeed");
    int32_t t1 = -1;
    llm_finish f1 = LLM_FINISH_NONE;
    for (int i = 0; i < 4 && t1 < 0 && f1 == LLM_FINISH_NONE; i++)
        CHECK(llm_session_step_timed(sg, 1, &t1, NULL, NULL, &f1) == LLM_OK, "step_timed");
    CHECK(t1 == tg[0], "step_timed token %d == %d", t1, tg[0]);
    /* abort between layers: LLM_FINISH_ABORTED, n_past unchanged, the session still works */
    const int32_t before = llm_session_n_past(sg);
    int budget = 1;
    llm_session_set_abort(sg, abort_now, &budget);
    int32_t t2;
    llm_finish f2 = LLM_FINISH_NONE;
    st = llm_session_step(sg, &t2, NULL, NULL, &f2);
    CHECK(st == LLM_OK && f2 == LLM_FINISH_ABORTED, "abort during the pass: st %d finish %d", st, f2);
    CHECK(llm_session_n_past(sg) == before, "abort leaves n_past %d (now %d)", before, llm_session_n_past(sg));
    llm_session_set_abort(sg, NULL, NULL);
    budget = 1;
    st = llm_session_feed_tokens(sg, prompt, 3);
    CHECK(st == LLM_OK, "feed after abort: %s", llm_last_error(sg));
    /* the same history on the CPU gives the same logits */
    llm_session_reset(sc);
    int32_t hist[16];
    memcpy(hist, prompt, sizeof prompt);
    hist[7] = t1;
    memcpy(hist + 8, prompt, 3 * sizeof prompt[0]);
    CHECK(llm_session_feed_tokens(sc, hist, 11) == LLM_OK, "cpu history");
    CHECK(llm_session_n_past(sg) == 11 && llm_session_n_past(sc) == 11, "n_past 11: %d %d", llm_session_n_past(sg),
          llm_session_n_past(sc));
    const float *lg = NULL, *lc = NULL;
    llm_session_logits(sg, -1, &lg, NULL);
    llm_session_logits(sc, -1, &lc, NULL);
    if (lg && lc) CHECK(max_rel_diff(lg, lc, n_vocab) < 1e-3f, "logits after abort and refeed");
    /* a context full error comes from the core, before the plugin */
    int32_t many[64];
    for (int i = 0; i < 64; i++) many[i] = i % 50;
    CHECK(llm_session_feed_tokens(sg, many, 64) == LLM_ERR_CONTEXT_FULL, "context full");
    CHECK(llm_session_n_past(sg) == 11, "unchanged after context full");
    /* a second session on the same device context is independent */
    llm_session *s2 = NULL;
    CHECK(llm_session_new(cg, so, &s2) == LLM_OK, "second session");
    if (s2) {
        CHECK(llm_session_feed_tokens(s2, prompt, 7) == LLM_OK, "second session feed");
        const float *l2 = NULL;
        llm_session_logits(s2, 0, &l2, NULL);
        llm_session_reset(sc);
        llm_session_feed_tokens(sc, prompt, 7);
        llm_session_logits(sc, 0, &lc, NULL);
        if (l2 && lc) CHECK(max_rel_diff(l2, lc, n_vocab) < 1e-3f, "second session logits");
        CHECK(llm_session_n_past(sg) == 11, "first session untouched");
        llm_session_free(s2);
    }
    /* freeing the context under a session is refused (logged), not a crash */
    llm_context_free(cg);
    CHECK(strcmp(llm_context_backend_name(cg), "cuda") == 0, "context survives a refused free");
out_s:
    llm_session_free(sg);
    llm_session_free(sc);
    llm_options_free(so);
out:
    llm_context_free(cg);
    llm_context_free(cc);
    llm_model_free(m);
    llm_options_free(o);
}

static void scenario_mock(void) {
    CHECK(llm_backend_available(LLM_BACKEND_CUDA), "mock plugin loads");
    CHECK(llm_backend_device_count(LLM_BACKEND_CUDA) == 1, "one mock device");
    char buf[2048];
    size_t need = 0;
    describe(LLM_BACKEND_CUDA, buf, sizeof buf);
    CHECK(strstr(buf, "loaded from") && strstr(buf, "mock"), "describe: %s", buf);
    CHECK(llm_backend_device_name(LLM_BACKEND_CUDA, 0, buf, sizeof buf, &need) == LLM_OK &&
              strcmp(buf, "Mock GPU 0") == 0,
          "device name: %s", buf);
    CHECK(llm_backend_device_name(LLM_BACKEND_CUDA, 0, buf, 4, &need) == LLM_ERR_BUFFER_TOO_SMALL && need == 10,
          "small buffer: need %zu", need);
    CHECK(llm_backend_device_name(LLM_BACKEND_CUDA, 1, buf, sizeof buf, &need) == LLM_ERR_INVALID_ARGUMENT,
          "bad index");
    uint64_t total = 0, free_b = 0;
    CHECK(llm_backend_device_memory(LLM_BACKEND_CUDA, 0, &total, &free_b) == LLM_OK && total == (65536ull << 20),
          "device memory");
    compare_model(g_llama);
    compare_model(g_gemma);
}

/* auto falls back to the cpu with `reason` in the log; cuda fails with `cuda_status`. */
static void check_refused(const char *path, const char *reason, llm_status cuda_status) {
    llm_options *o = llm_options_new();
    llm_options_set_log(o, log_cb, NULL);
    llm_model *m = load(path, o);
    if (!m) {
        llm_options_free(o);
        return;
    }
    llm_status st;
    g_log[0] = 0;
    llm_context *c = context(m, LLM_BACKEND_AUTO, LLM_PRECISION_FAST, &st, NULL);
    CHECK(st == LLM_OK && c && strcmp(llm_context_backend_name(c), "cpu") == 0, "auto falls back (%d)", st);
    CHECK(strstr(g_log, "cuda backend not used") && strstr(g_log, reason), "log names '%s': %s", reason, g_log);
    llm_context_free(c);
    llm_options *co = NULL;
    c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, &co);
    CHECK(st == cuda_status && !c, "backend=cuda: %d (want %d)", st, cuda_status);
    CHECK(strstr(llm_last_error(co), reason), "message names '%s': %s", reason, llm_last_error(co));
    llm_options_free(co);
    llm_model_free(m);
    llm_options_free(o);
}

static void scenario_session_oom(void) {
    llm_model *m = load(g_llama, NULL);
    if (!m) return;
    llm_status st;
    llm_context *c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, NULL);
    CHECK(st == LLM_OK && c, "context");
    llm_session *s = NULL;
    if (c) {
        st = llm_session_new(c, NULL, &s);
        CHECK(st == LLM_ERR_OUT_OF_MEMORY && !s, "session OOM: %d", st);
        CHECK(strstr(llm_last_error(c), "out of device memory"), "message: %s", llm_last_error(c));
    }
    llm_context_free(c);
    llm_model_free(m);
}

static void scenario_forward_oom(void) {
    llm_model *m = load(g_llama, NULL);
    if (!m) return;
    llm_status st;
    llm_context *c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, NULL);
    llm_session *s = NULL;
    if (c && llm_session_new(c, NULL, &s) == LLM_OK) {
        const int32_t toks[3] = {1, 2, 3};
        st = llm_session_feed_tokens(s, toks, 3);
        CHECK(st == LLM_ERR_OUT_OF_MEMORY, "forward OOM: %d", st);
        CHECK(strstr(llm_last_error(s), "out of device memory"), "message: %s", llm_last_error(s));
        CHECK(llm_session_n_past(s) == 0, "n_past unchanged");
        const float *l;
        CHECK(llm_session_logits(s, -1, &l, NULL) == LLM_ERR_STATE, "no logits");
    }
    CHECK(c && s, "context and session");
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
}

static void scenario_fail_once(void) {
    llm_model *m = load(g_llama, NULL);
    if (!m) return;
    llm_status st;
    llm_context *c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, NULL);
    llm_session *s = NULL;
    if (c && llm_session_new(c, NULL, &s) == LLM_OK) {
        const int32_t toks[3] = {1, 2, 3};
        st = llm_session_feed_tokens(s, toks, 3);
        CHECK(st == LLM_ERR_INTERNAL && llm_session_n_past(s) == 0, "failed pass: %d", st);
        st = llm_session_feed_tokens(s, toks, 3);
        CHECK(st == LLM_OK && llm_session_n_past(s) == 3, "the next pass works: %d", st);
    }
    CHECK(c && s, "context and session");
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
}

/* ---- llm_session_step_batch ---------------------------------------------------------------- */

#define B_SESS 4
#define B_REF 20   /* reference steps per session */
#define B_CALLS 14 /* batched calls */

static int g_skip;
static const char *g_plugin;

static int abort_always(void *ud) {
    (void)ud;
    return 1;
}

/* One session's single-step reference: what llm_session_step gives at its k-th successful step. */
typedef struct ref_seq {
    int32_t tok[B_REF];
    llm_finish fin[B_REF];
    int32_t n_past[B_REF];
    char *text[B_REF];
    size_t len[B_REF];
    float *logits[B_REF];
} ref_seq;

static llm_session *batch_session(llm_context *c) {
    llm_options *so = llm_options_new();
    llm_options_set_float(so, LLM_OPT_TEMPERATURE, 0);
    llm_options_set_int(so, LLM_OPT_MAX_TOKENS, 6); /* a LENGTH finish inside the run */
    llm_session *s = NULL;
    CHECK(llm_session_new(c, so, &s) == LLM_OK, "batch session: %s", llm_last_error(c));
    llm_options_free(so);
    return s;
}

static void batch_prompt(int i, int32_t *p, int *n) {
    *n = 3 + 2 * i; /* different lengths: different positions in one batch */
    for (int k = 0; k < *n; k++) p[k] = (int32_t)((7 + 31 * i + 13 * k) % 200);
}

static void batch_stats(long *calls, long *tokens) {
    *calls = *tokens = -1;
    void *h = dlopen(g_plugin, RTLD_NOW | RTLD_NOLOAD);
    if (!h) return;
    void (*fn)(long *, long *);
    *(void **)&fn = dlsym(h, "llm_mock_batch_stats");
    if (fn) fn(calls, tokens);
    dlclose(h);
}

static void batch_model(const char *path, int plugin_batches) {
    llm_model *m = load(path, NULL);
    if (!m) return;
    llm_status st;
    llm_context *c = context(m, LLM_BACKEND_CUDA, LLM_PRECISION_EXACT, &st, NULL);
    CHECK(st == LLM_OK && c && strcmp(llm_context_backend_name(c), "cuda") == 0, "cuda context on the mock: %d", st);
    if (!c) {
        llm_model_free(m);
        return;
    }
    const int32_t nv = llm_model_n_vocab(m);
    static ref_seq ref[B_SESS];
    memset(ref, 0, sizeof ref);
    /* the reference: each session alone, llm_session_step after llm_session_step */
    for (int i = 0; i < B_SESS; i++) {
        llm_session *s = batch_session(c);
        int32_t p[16];
        int np;
        batch_prompt(i, p, &np);
        CHECK(s && llm_session_feed_tokens(s, p, (size_t)np) == LLM_OK, "reference feed %d", i);
        for (int k = 0; s && k < B_REF; k++) {
            const char *text = NULL;
            size_t len = 0;
            st = llm_session_step(s, &ref[i].tok[k], &text, &len, &ref[i].fin[k]);
            CHECK(st == LLM_OK, "reference step %d of session %d: %s", k, i, llm_last_error(s));
            ref[i].n_past[k] = llm_session_n_past(s);
            ref[i].text[k] = malloc(len + 1);
            memcpy(ref[i].text[k], text, len);
            ref[i].len[k] = len;
            const float *lg = NULL;
            ref[i].logits[k] = malloc((size_t)nv * sizeof(float));
            if (llm_session_logits(s, -1, &lg, NULL) == LLM_OK) memcpy(ref[i].logits[k], lg, (size_t)nv * sizeof(float));
        }
        llm_session_free(s);
    }

    llm_session *ss[B_SESS];
    for (int i = 0; i < B_SESS; i++) {
        ss[i] = batch_session(c);
        int32_t p[16];
        int np;
        batch_prompt(i, p, &np);
        CHECK(ss[i] && llm_session_feed_tokens(ss[i], p, (size_t)np) == LLM_OK, "feed %d", i);
    }
    long calls0, toks0;
    batch_stats(&calls0, &toks0);
    CHECK(calls0 >= 0, "llm_mock_batch_stats found in %s", g_plugin);
    int done[B_SESS] = {0}; /* successful steps so far: the index into the reference */
    float worst = 0;
    for (int call = 0; call < B_CALLS && !g_skip; call++) {
        int32_t before[B_SESS], tokens[B_SESS];
        const char *texts[B_SESS];
        size_t lens[B_SESS];
        llm_finish fins[B_SESS];
        llm_status sts[B_SESS];
        for (int i = 0; i < B_SESS; i++) before[i] = llm_session_n_past(ss[i]);
        /* call 2: device OOM; call 4: a failing kernel; call 6: session 1 aborts */
        if (call == 2) setenv("LLM_MOCK_FAIL", "forward_oom", 1);
        if (call == 4) setenv("LLM_MOCK_FAIL", "forward_fail_once", 1);
        if (call == 6) llm_session_set_abort(ss[1], abort_always, NULL);
        st = llm_session_step_batch(ss, B_SESS, tokens, texts, lens, fins, sts);
        unsetenv("LLM_MOCK_FAIL");
        llm_session_set_abort(ss[1], NULL, NULL);
        if (call == 0 && st == LLM_ERR_UNSUPPORTED) {
            g_skip = 1;
            break;
        }
        if (call == 2) {
            CHECK(st == LLM_ERR_OUT_OF_MEMORY, "OOM in a batch: %s", llm_status_str(st));
            for (int i = 0; i < B_SESS; i++) {
                CHECK(sts[i] == LLM_ERR_OUT_OF_MEMORY, "session %d status %s", i, llm_status_str(sts[i]));
                CHECK(llm_session_n_past(ss[i]) == before[i], "OOM: session %d n_past %d, was %d", i,
                      llm_session_n_past(ss[i]), before[i]);
                CHECK(tokens[i] == -1, "OOM: no token for session %d (%d)", i, tokens[i]);
            }
            continue;
        }
        if (call == 4) {
            /* the core may retry, but a session that failed kept its cache */
            CHECK(st == LLM_OK || st == LLM_ERR_INTERNAL, "failing kernel: %s", llm_status_str(st));
            for (int i = 0; i < B_SESS; i++) {
                if (sts[i] == LLM_OK) continue;
                CHECK(sts[i] == LLM_ERR_INTERNAL, "session %d status %s", i, llm_status_str(sts[i]));
                CHECK(llm_session_n_past(ss[i]) == before[i], "failed: session %d n_past %d, was %d", i,
                      llm_session_n_past(ss[i]), before[i]);
            }
        } else {
            CHECK(st == LLM_OK, "batch call %d: %s", call, llm_status_str(st));
        }
        for (int i = 0; i < B_SESS; i++) {
            if (sts[i] != LLM_OK) continue;
            if (call == 6 && i == 1) {
                CHECK(fins[i] == LLM_FINISH_ABORTED && tokens[i] == -1, "aborted session: finish %d token %d",
                      (int)fins[i], tokens[i]);
                CHECK(llm_session_n_past(ss[i]) == before[i], "abort keeps n_past %d (now %d)", before[i],
                      llm_session_n_past(ss[i]));
                continue;
            }
            const int k = done[i]++;
            if (k >= B_REF) continue;
            /* after its abort, session 1's generation restarted (max_tokens count, text held back):
             * from there on only its tokens, positions and logits follow the reference */
            const int restarted = i == 1 && call > 6;
            CHECK(tokens[i] == ref[i].tok[k] && (restarted || fins[i] == ref[i].fin[k]),
                  "call %d session %d step %d: token %d finish %d, alone %d finish %d", call, i, k, tokens[i],
                  (int)fins[i], ref[i].tok[k], (int)ref[i].fin[k]);
            CHECK(restarted ||
                      (lens[i] == ref[i].len[k] && (lens[i] == 0 || memcmp(texts[i], ref[i].text[k], lens[i]) == 0)),
                  "call %d session %d: text differs", call, i);
            CHECK(llm_session_n_past(ss[i]) == ref[i].n_past[k], "call %d session %d: n_past %d, alone %d", call, i,
                  llm_session_n_past(ss[i]), ref[i].n_past[k]);
            const float *lg = NULL;
            if (llm_session_logits(ss[i], -1, &lg, NULL) == LLM_OK) {
                const float d = max_rel_diff(lg, ref[i].logits[k], nv);
                if (!(d <= worst)) worst = d;
            }
        }
    }
    if (!g_skip) {
        CHECK(worst <= 1e-6f, "batched logits against one by one: max rel diff %g", worst);
        for (int i = 0; i < B_SESS; i++) CHECK(done[i] >= B_CALLS - 3, "session %d made %d steps", i, done[i]);
        long calls1, toks1;
        batch_stats(&calls1, &toks1);
        if (plugin_batches)
            CHECK(calls1 > calls0 && toks1 - toks0 >= (long)(calls1 - calls0) * 2,
                  "the plugin's batched pass ran: %ld calls, %ld tokens", calls1 - calls0, toks1 - toks0);
        else
            CHECK(calls1 == calls0, "no batched pass without the table field: %ld calls", calls1 - calls0);
        printf("%s: %d batched calls of %d sessions, max rel diff %.3g, plugin passes %ld (%ld tokens)\n", path,
               B_CALLS, B_SESS, worst, calls1 - calls0, toks1 - toks0);
        /* bad session lists: refused before any session is touched */
        int32_t tk[2] = {5, 5};
        llm_status sv[2];
        const int32_t np0 = llm_session_n_past(ss[0]);
        llm_session *dup[2] = {ss[0], ss[0]}, *nul[2] = {ss[0], NULL};
        CHECK(llm_session_step_batch(dup, 2, tk, NULL, NULL, NULL, sv) == LLM_ERR_INVALID_ARGUMENT,
              "a repeated session is refused");
        CHECK(llm_session_step_batch(nul, 2, tk, NULL, NULL, NULL, sv) == LLM_ERR_INVALID_ARGUMENT,
              "a NULL session is refused");
        CHECK(llm_session_n_past(ss[0]) == np0, "refused batches leave n_past");
        /* one session alone in a batch: the same as a step */
        CHECK(llm_session_step_batch(ss, 1, tk, NULL, NULL, NULL, NULL) == LLM_OK, "a batch of one");
    }
    for (int i = 0; i < B_SESS; i++) {
        llm_session_free(ss[i]);
        for (int k = 0; k < B_REF; k++) {
            free(ref[i].text[k]);
            free(ref[i].logits[k]);
        }
    }
    llm_context_free(c);
    llm_model_free(m);
}

static void scenario_batch(int plugin_batches) {
    batch_model(g_llama, plugin_batches);
    if (!g_skip) batch_model(g_gemma, plugin_batches);
}

static void scenario_real_cuda(void) {
    char why[2048];
    describe(LLM_BACKEND_CUDA, why, sizeof why);
    printf("real cuda plugin: %s\n", why);
    /* its table carries the batched decode step (the core reads it when struct_size covers it) */
    void *h = dlopen(g_plugin, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL, "dlopen %s: %s", g_plugin, dlerror());
    if (h) {
        llm_plugin_entry_fn entry;
        *(void **)&entry = dlsym(h, LLM_PLUGIN_ENTRY_SYMBOL);
        const llm_plugin_api *api = entry ? entry(LLM_PLUGIN_ABI_VERSION) : NULL;
        CHECK(api && api->struct_size >= LLM_PLUGIN_API_MIN_SIZE && LLM_PLUGIN_API_HAS(api, session_forward_batch) &&
                  api->session_forward_batch != NULL,
              "the cuda plugin's table has session_forward_batch (struct_size %u)", api ? api->struct_size : 0u);
        dlclose(h);
    }
    if (llm_backend_available(LLM_BACKEND_CUDA)) {
        /* a GPU machine: the device is listed */
        CHECK(llm_backend_device_count(LLM_BACKEND_CUDA) >= 1, "devices");
        char name[256];
        size_t need;
        CHECK(llm_backend_device_name(LLM_BACKEND_CUDA, 0, name, sizeof name, &need) == LLM_OK, "name");
        printf("device 0: %s\n", name);
        return;
    }
    /* no GPU: it must have loaded (its dependencies resolved, the ABI accepted) and then found no
     * driver or no device */
    CHECK(strstr(why, "cannot load") == NULL && strstr(why, "ABI") == NULL, "the plugin itself loads: %s", why);
    CHECK(strstr(why, "driver") || strstr(why, "device"), "reason names the driver or the device: %s", why);
    const char *colon = strrchr(why, ':');
    check_unavailable(colon ? colon + 2 : why);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: test_backend SCENARIO PLUGIN LLAMA_F32 GEMMA3_F32 LLAMA_Q8_0\n");
        return 2;
    }
    const char *sc = argv[1], *plugin = argv[2];
    g_llama = argv[3];
    g_gemma = argv[4];
    g_q8 = argv[5];
    char path[4096];
    if (strcmp(sc, "absent") == 0) {
        setenv("LLM_BACKEND_PATH", "/nonexistent/libllm-backends", 1);
    } else if (strcmp(sc, "garbage") == 0) {
        /* a file that is not an ELF object, next to the fixtures */
        snprintf(path, sizeof path, "%s.garbage-plugin.so", g_llama);
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL, "write %s", path);
        if (f) {
            fputs("this is not a shared object\n", f);
            fclose(f);
        }
        setenv("LLM_BACKEND_PATH", path, 1);
    } else {
        setenv("LLM_BACKEND_PATH", plugin, 1);
    }
    if (strcmp(sc, "wrong_abi") == 0) setenv("LLM_MOCK_ABI", "99", 1);
    if (strcmp(sc, "init_fail") == 0) setenv("LLM_MOCK_FAIL", "init", 1);
    if (strcmp(sc, "no_device") == 0) setenv("LLM_MOCK_FAIL", "no_device", 1);
    if (strcmp(sc, "upload_oom") == 0) setenv("LLM_MOCK_FAIL", "upload_oom", 1);
    if (strcmp(sc, "session_oom") == 0) setenv("LLM_MOCK_FAIL", "session_oom", 1);
    if (strcmp(sc, "forward_oom") == 0) setenv("LLM_MOCK_FAIL", "forward_oom", 1);
    if (strcmp(sc, "fail_once") == 0) setenv("LLM_MOCK_FAIL", "forward_fail_once", 1);
    if (strcmp(sc, "low_memory") == 0) setenv("LLM_MOCK_FREE_MIB", "1", 1);
    if (strcmp(sc, "batch_nobatch") == 0) setenv("LLM_MOCK_NO_BATCH", "1", 1);
    if (strcmp(sc, "batch_oldtable") == 0) setenv("LLM_MOCK_OLD_TABLE", "1", 1);
    g_plugin = plugin;
    if (strcmp(sc, "features") == 0) {
        /* everything but GeGLU */
        char hex[32];
        snprintf(hex, sizeof hex, "%x", 0x1fffu & ~(1u << 9));
        setenv("LLM_MOCK_FEATURES", hex, 1);
    }

    check_cpu_backend();
    if (strcmp(sc, "absent") == 0) check_unavailable("does not exist");
    else if (strcmp(sc, "garbage") == 0) check_unavailable("cannot load");
    else if (strcmp(sc, "nosym") == 0) check_unavailable("no symbol llm_backend_plugin_entry");
    else if (strcmp(sc, "wrong_abi") == 0) check_unavailable("ABI version 99");
    else if (strcmp(sc, "init_fail") == 0) check_unavailable("no CUDA driver");
    else if (strcmp(sc, "no_device") == 0) check_unavailable("no device");
    else if (strcmp(sc, "mock") == 0) scenario_mock();
    else if (strcmp(sc, "upload_oom") == 0) check_refused(g_llama, "out of device memory", LLM_ERR_OUT_OF_MEMORY);
    else if (strcmp(sc, "low_memory") == 0) check_refused(g_llama, "MiB free", LLM_ERR_BACKEND);
    else if (strcmp(sc, "session_oom") == 0) scenario_session_oom();
    else if (strcmp(sc, "forward_oom") == 0) scenario_forward_oom();
    else if (strcmp(sc, "fail_once") == 0) scenario_fail_once();
    else if (strcmp(sc, "features") == 0) {
        check_refused(g_gemma, "does not implement GeGLU", LLM_ERR_BACKEND);
        check_refused(g_q8, "cannot upload Q8_0", LLM_ERR_BACKEND);
        llm_model *m = load(g_llama, NULL);
        llm_status st;
        llm_context *c = m ? context(m, LLM_BACKEND_CUDA, LLM_PRECISION_FAST, &st, NULL) : NULL;
        CHECK(c && strcmp(llm_context_backend_name(c), "cuda") == 0, "llama still runs on the plugin");
        llm_context_free(c);
        llm_model_free(m);
    } else if (strcmp(sc, "batch") == 0) scenario_batch(1);
    else if (strcmp(sc, "batch_nobatch") == 0 || strcmp(sc, "batch_oldtable") == 0) scenario_batch(0);
    else if (strcmp(sc, "real_cuda") == 0) scenario_real_cuda();
    else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "test_backend[%s]", sc);
    if (g_skip) {
        printf("SKIP %s: llm_session_step_batch returns LLM_ERR_UNSUPPORTED (the core's batched step is not "
               "implemented in this build)\n", name);
        check_summary(name);
        return 77;
    }
    return check_summary(name);
}
