/* llm_model_estimate_memory against the memory really used, on real models, and the
 * LLM_OPT_MEMORY_LIMIT budget.
 *
 *   measure_memory [--ctx N] [--table] MODEL...
 *
 * For each model and each case (mapped or read, repack on or off, F32 / F16 / Q8_0 KV cache), a
 * child process measures its resident memory, loads the model, creates a context and a session,
 * fills the whole context (a prompt up to n_ctx - 16 positions, then generation until the context
 * is full, so the sampler's arrays are used too) and measures again. Resident memory is the Rss
 * of the process's anonymous mappings (heap, thread stacks, large allocations) plus its mappings
 * of the model file, from /proc/self/smaps: the pages of the library's own code, which a first
 * use faults in, are not the model's. |estimate.total_bytes - measured| must be within 5% of
 * measured. Then the budget: load, context and session creation with limits just below and at
 * the bytes they need. Prints a table (--table: Markdown, for README.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm.h"

static int g_fail = 0;
static int g_stages = 0; /* --stages: print the resident size after each step (stderr) */
#define CHECK(cond, ...)                                                                                             \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
            fprintf(stderr, __VA_ARGS__);                                                                            \
            fprintf(stderr, "\n");                                                                                   \
            g_fail = 1;                                                                                              \
        }                                                                                                            \
    } while (0)

/* Rss (bytes) of the anonymous mappings and of the mappings of `file` (a resolved path). */
static long long resident_bytes(const char *file) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[4096];
    int counted = 0;
    long long total = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        unsigned long long off;
        char dev[16];
        unsigned long inode;
        int n = 0;
        if (sscanf(line, "%lx-%lx %7s %llx %15s %lu %n", &lo, &hi, perms, &off, dev, &inode, &n) >= 6 && n > 0) {
            char *name = line + n;
            name[strcspn(name, "\n")] = 0;
            counted = name[0] == 0 || strcmp(name, "[heap]") == 0 || strncmp(name, "[stack", 6) == 0 ||
                      strncmp(name, "[anon", 5) == 0 || (file && strcmp(name, file) == 0);
            continue;
        }
        long long kb;
        if (counted && sscanf(line, "Rss: %lld kB", &kb) == 1) total += kb * 1024;
    }
    fclose(f);
    return total;
}

typedef struct mcase {
    const char *name;
    int mmap, repack, kv_type, precision;
} mcase;

static const mcase k_cases[] = {
    {"mmap, repack, F32 KV", 1, 1, LLM_KV_F32, LLM_PRECISION_FAST},
    {"read, repack, F32 KV", 0, 1, LLM_KV_F32, LLM_PRECISION_FAST},
    {"mmap, no repack, F32 KV", 1, 0, LLM_KV_F32, LLM_PRECISION_FAST},
    {"read, no repack, F32 KV", 0, 0, LLM_KV_F32, LLM_PRECISION_FAST},
    {"mmap, repack, F16 KV", 1, 1, LLM_KV_F16, LLM_PRECISION_FAST},
    {"mmap, repack, Q8_0 KV", 1, 1, LLM_KV_Q8_0, LLM_PRECISION_FAST},
    {"mmap, repack, F32 KV, exact", 1, 1, LLM_KV_F32, LLM_PRECISION_EXACT},
};

static llm_options *case_options(const mcase *c, int n_ctx) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_USE_MMAP, c->mmap);
    llm_options_set_int(o, LLM_OPT_REPACK, c->repack);
    llm_options_set_int(o, LLM_OPT_KV_TYPE, c->kv_type);
    llm_options_set_int(o, LLM_OPT_PRECISION, c->precision);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, n_ctx);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_BACKEND, LLM_BACKEND_CPU);
    llm_options_set_int(o, LLM_OPT_SEED, 42); /* default sampling: the sampler's arrays are used */
    return o;
}

static const char k_text[] =
    "The old lighthouse keeper climbed the spiral stairs every evening, counting the steps as his father had "
    "taught him. From the lamp room he could see the harbour, the fishing boats coming home, and the long line "
    "of hills that turned blue and then grey as the sun went down. He wrote in his logbook the direction of the "
    "wind, the height of the waves and the names of the ships that passed, and when the night was clear he "
    "watched the stars wheel slowly over the sea until the morning came. ";

/* The child: measures one case; writes the measured bytes (or -1), then the estimate, to fd. The
 * estimate is computed afterwards, so that its freed allocations are not reused by the load (a
 * process's heap keeps freed pages resident). */
static void run_case(const char *path, const char *real, const mcase *c, int n_ctx, int fd) {
    long long result = -1;
    llm_options *o = case_options(c, n_ctx);
    const long long before = resident_bytes(real);
    llm_model *m = NULL;
    llm_context *ctx = NULL;
    llm_session *s = NULL;
    llm_status st = llm_model_load_file(path, o, &m);
    if (g_stages) fprintf(stderr, "  %s: after load %.1f MiB\n", c->name, (double)(resident_bytes(real) - before) / 1048576.0);
    if (st == LLM_OK) st = llm_context_new(m, o, &ctx);
    if (st == LLM_OK) st = llm_session_new(ctx, o, &s);
    if (g_stages) fprintf(stderr, "  %s: after session %.1f MiB\n", c->name, (double)(resident_bytes(real) - before) / 1048576.0);
    int32_t *toks = malloc((size_t)n_ctx * sizeof *toks);
    size_t n = 0;
    while (st == LLM_OK && n + 16 < (size_t)n_ctx) {
        size_t got = 0;
        st = llm_tokenize(m, k_text, -1, 0, toks + n, (size_t)n_ctx - 16 - n, &got);
        if (st == LLM_ERR_BUFFER_TOO_SMALL) { /* the tail: the text's first tokens */
            int32_t *all = malloc(got * sizeof *all);
            st = llm_tokenize(m, k_text, -1, 0, all, got, &got);
            memcpy(toks + n, all, ((size_t)n_ctx - 16 - n) * sizeof *all);
            free(all);
            n = (size_t)n_ctx - 16;
        } else {
            n += got;
        }
    }
    if (st == LLM_OK) st = llm_session_feed_tokens(s, toks, n);
    if (g_stages) fprintf(stderr, "  %s: after feed %.1f MiB\n", c->name, (double)(resident_bytes(real) - before) / 1048576.0);
    llm_finish why = LLM_FINISH_NONE;
    if (st == LLM_OK) st = llm_session_generate(s, NULL, NULL, &why);
    free(toks);
    if (st == LLM_OK && llm_session_n_past(s) == n_ctx) result = resident_bytes(real) - before;
    if (st != LLM_OK) fprintf(stderr, "%s: %s: %s\n", c->name, llm_status_str(st), s ? llm_last_error(s) : ctx ? llm_last_error(ctx) : llm_last_error(o));
    else if (result < 0) fprintf(stderr, "%s: the context was not filled (%d of %d)\n", c->name, (int)llm_session_n_past(s), n_ctx);
    llm_session_free(s);
    llm_context_free(ctx);
    llm_model_free(m);
    llm_memory_estimate e;
    memset(&e, 0, sizeof e);
    e.size = sizeof e;
    st = llm_model_estimate_memory(path, o, &e);
    if (st != LLM_OK) fprintf(stderr, "%s: estimate: %s\n", c->name, llm_last_error(o));
    if (st != LLM_OK) result = -1;
    if (write(fd, &result, sizeof result) != (ssize_t)sizeof result || write(fd, &e, sizeof e) != (ssize_t)sizeof e)
        fprintf(stderr, "%s: cannot report\n", c->name);
    llm_options_free(o);
}

static long long measure(const char *path, const char *real, const mcase *c, int n_ctx, llm_memory_estimate *e) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        run_case(path, real, c, n_ctx, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    long long r = -1;
    if (pid < 0 || read(fds[0], &r, sizeof r) != (ssize_t)sizeof r || read(fds[0], e, sizeof *e) != (ssize_t)sizeof *e)
        r = -1;
    close(fds[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return r;
}

static int g_cases = 99; /* --cases N: the first N cases only */

static double mib(unsigned long long b) { return (double)b / (1024.0 * 1024.0); }

/* Threads creating and freeing contexts and sessions of one model under a limit that admits only
 * some of them at once: the running totals must come back to zero. */
typedef struct churn {
    llm_model *m;
    llm_options *o;
    int ok, refused, errors;
} churn;

static void *churn_thread(void *arg) {
    churn *c = arg;
    for (int i = 0; i < 40; i++) {
        llm_context *ctx = NULL;
        llm_session *s = NULL;
        llm_status st = llm_context_new(c->m, c->o, &ctx);
        if (st == LLM_OK) st = llm_session_new(ctx, c->o, &s);
        if (st == LLM_OK) c->ok++;
        else if (st == LLM_ERR_LIMIT) c->refused++;
        else c->errors++;
        llm_session_free(s);
        llm_context_free(ctx);
    }
    return NULL;
}

/* The limit: just below and at what load, context and session need. */
static void check_limits(const char *path, int n_ctx) {
    const mcase c = {"limits", 1, 1, LLM_KV_F32, LLM_PRECISION_FAST};
    llm_options *o = case_options(&c, n_ctx);
    llm_memory_estimate e;
    memset(&e, 0, sizeof e);
    e.size = sizeof e;
    CHECK(llm_model_estimate_memory(path, o, &e) == LLM_OK, "estimate: %s", llm_last_error(o));
    const unsigned long long model = e.weights_resident + e.repacked_bytes + e.model_overhead_bytes;
    const unsigned long long session = e.kv_bytes_per_session + e.scratch_bytes;
    char want[64];
    llm_model *m = NULL;
    llm_context *ctx = NULL, *ctx2 = NULL;
    llm_session *s = NULL, *s2 = NULL;

    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)model - 1);
    CHECK(llm_model_load_file(path, o, &m) == LLM_ERR_LIMIT && !m, "load under the limit");
    snprintf(want, sizeof want, "model %.1f MiB", mib(model));
    CHECK(strstr(llm_last_error(o), "memory limit") && strstr(llm_last_error(o), want), "load message: %s (want %s)",
          llm_last_error(o), want);
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)model);
    CHECK(llm_model_load_file(path, o, &m) == LLM_OK, "load at the limit: %s", llm_last_error(o));
    if (!m) goto done;

    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)(model + e.context_bytes) - 1);
    CHECK(llm_context_new(m, o, &ctx) == LLM_ERR_LIMIT && !ctx, "context under the limit");
    snprintf(want, sizeof want, "this context %.1f MiB", mib(e.context_bytes));
    CHECK(strstr(llm_last_error(o), want) != NULL, "context message: %s (want %s)", llm_last_error(o), want);
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)(model + e.context_bytes));
    CHECK(llm_context_new(m, o, &ctx) == LLM_OK, "context at the limit: %s", llm_last_error(o));
    if (!ctx) goto done;
    /* a second context does not fit under the same limit */
    CHECK(llm_context_new(m, o, &ctx2) == LLM_ERR_LIMIT, "second context");
    snprintf(want, sizeof want, "contexts %.1f MiB", mib(e.context_bytes));
    CHECK(strstr(llm_last_error(o), want) != NULL, "second context message: %s (want %s)", llm_last_error(o), want);

    const unsigned long long need = model + e.context_bytes + session;
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)need - 1);
    CHECK(llm_session_new(ctx, o, &s) == LLM_ERR_LIMIT && !s, "session under the limit");
    snprintf(want, sizeof want, "this session %.1f MiB", mib(session));
    CHECK(strstr(llm_last_error(ctx), want) != NULL, "session message: %s (want %s)", llm_last_error(ctx), want);
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)need);
    CHECK(llm_session_new(ctx, o, &s) == LLM_OK, "session at the limit: %s", llm_last_error(ctx));
    CHECK(llm_session_new(ctx, o, &s2) == LLM_ERR_LIMIT && !s2, "second session");
    snprintf(want, sizeof want, "sessions %.1f MiB", mib(session));
    CHECK(strstr(llm_last_error(ctx), want) != NULL, "second session message: %s (want %s)", llm_last_error(ctx), want);
    /* freeing gives the bytes back */
    llm_session_free(s);
    s = NULL;
    CHECK(llm_session_new(ctx, o, &s2) == LLM_OK, "session after a free: %s", llm_last_error(ctx));
    /* without a limit anything goes */
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, 0);
    CHECK(llm_session_new(ctx, o, &s) == LLM_OK, "session without a limit");
    llm_session_free(s);
    llm_session_free(s2);
    s = s2 = NULL;
    llm_context_free(ctx);
    ctx = NULL;
    { /* 4 threads, room for 2 contexts with a session each */
        llm_options *to[4];
        churn cs[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            to[i] = case_options(&c, n_ctx);
            llm_options_set_int(to[i], LLM_OPT_THREADS, 1);
            llm_options_set_int(to[i], LLM_OPT_MEMORY_LIMIT, (int64_t)(model + 2 * (e.context_bytes + session)));
            cs[i] = (churn){m, to[i], 0, 0, 0};
            pthread_create(&th[i], NULL, churn_thread, &cs[i]);
        }
        int ok = 0, refused = 0, errors = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            ok += cs[i].ok;
            refused += cs[i].refused;
            errors += cs[i].errors;
            llm_options_free(to[i]);
        }
        printf("limits: 4 threads created %d context+session pairs, %d refused by the limit\n", ok, refused);
        CHECK(ok > 0 && errors == 0, "threads: %d created, %d errors", ok, errors);
    }
    /* everything freed: exactly one context and one session fit again */
    llm_options_set_int(o, LLM_OPT_MEMORY_LIMIT, (int64_t)need);
    CHECK(llm_context_new(m, o, &ctx) == LLM_OK, "context after the threads: %s", llm_last_error(o));
    if (ctx) CHECK(llm_session_new(ctx, o, &s) == LLM_OK, "session after the threads: %s", llm_last_error(ctx));
done:
    llm_session_free(s);
    llm_session_free(s2);
    llm_context_free(ctx2);
    llm_context_free(ctx);
    llm_model_free(m);
    llm_options_free(o);
}

int main(int argc, char **argv) {
    int n_ctx = 2048, table = 0, argi = 1, limits = 1;
    for (; argi < argc && argv[argi][0] == '-'; argi++) {
        if (strcmp(argv[argi], "--ctx") == 0 && argi + 1 < argc) n_ctx = atoi(argv[++argi]);
        else if (strcmp(argv[argi], "--table") == 0) table = 1;
        else if (strcmp(argv[argi], "--no-limits") == 0) limits = 0;
        else if (strcmp(argv[argi], "--stages") == 0) g_stages = 1;
        else if (strcmp(argv[argi], "--cases") == 0 && argi + 1 < argc) g_cases = atoi(argv[++argi]);
    }
    if (argi >= argc) {
        fprintf(stderr, "usage: measure_memory [--ctx N] [--table] [--no-limits] MODEL...\n");
        return 2;
    }
    if (table) printf("| model | case | estimate MiB | measured MiB | difference |\n|---|---|---:|---:|---:|\n");
    for (; argi < argc; argi++) {
        const char *path = argv[argi];
        char *real = realpath(path, NULL);
        if (!real) {
            printf("SKIP %s: not found\n", path);
            continue;
        }
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0] && (int)i < g_cases; i++) {
            const mcase *c = &k_cases[i];
            llm_memory_estimate e;
            memset(&e, 0, sizeof e);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            const long long got = measure(path, real, c, n_ctx, &e);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            const double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            CHECK(got > 0, "%s, %s: no measurement", base, c->name);
            if (got <= 0) continue;
            const double diff = ((double)e.total_bytes - (double)got) / (double)got * 100.0;
            if (table)
                printf("| %s | %s | %.1f | %.1f | %+.1f%% |\n", base, c->name, mib(e.total_bytes), mib((unsigned long long)got),
                       diff);
            else
                printf("%-40s %-30s estimate %8.1f MiB (weights %.1f resident %.1f repacked %.1f overhead %.1f "
                       "context %.1f kv %.1f scratch %.1f)  measured %8.1f MiB  %+.2f%%  (%.1f s)\n",
                       base, c->name, mib(e.total_bytes), mib(e.weights_bytes), mib(e.weights_resident),
                       mib(e.repacked_bytes), mib(e.model_overhead_bytes), mib(e.context_bytes),
                       mib(e.kv_bytes_per_session), mib(e.scratch_bytes), mib((unsigned long long)got), diff, secs);
            fflush(stdout);
            CHECK(diff <= 5.0 && diff >= -5.0, "%s, %s: estimate %.1f MiB vs measured %.1f MiB (%+.2f%%)", base, c->name,
                  mib(e.total_bytes), mib((unsigned long long)got), diff);
        }
        if (limits) { /* in a child as well: the parent's heap stays as the measurements found it */
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                check_limits(path, n_ctx);
                fflush(NULL);
                _exit(g_fail);
            }
            int wst = 0;
            CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
                  "%s: the memory limit checks failed", base);
        }
        free(real);
    }
    if (!g_fail) printf("OK\n");
    return g_fail;
}
