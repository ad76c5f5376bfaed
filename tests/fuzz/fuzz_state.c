/* libFuzzer target for saved sessions (llm_session_load, lib/state + lib/api/api_state.c): the
 * input is loaded into a session of a small model; when the load succeeds the session is stepped
 * once (then reset). Each input is tried twice: as it is, and - when it starts with the LLMS
 * header - with its length field and checksum recomputed, so that the fuzzer reaches the parser
 * behind the checksum. Checked besides "no crash, no leak, no UB": the statuses are the ones the
 * header documents, and a failed load leaves the session as it was (its n_past).
 *
 * The model comes from the environment variable LLM_FUZZ_STATE_MODEL (tests/state.cmake makes
 * one with tests/tools/make_model.py). Built two ways:
 *   - with -DLLM_FUZZ=ON and clang: fuzz_state, a libFuzzer binary. Seeds:
 *       build/tests/fuzz_state_replay MODEL --write-seeds CORPUS
 *       LLM_FUZZ_STATE_MODEL=MODEL build-fuzz/tests/fuzz_state CORPUS
 *   - always: fuzz_state_replay (LLM_FUZZ_STATE_MAIN), the ctest regression: it makes valid
 *     states of several sessions, and feeds them and many random mutations of them (truncations,
 *     byte flips and overwrites, counts and lengths set huge; each tried with and without the
 *     checksum recomputed) through the same entry point; files and folders given after the model
 *     are replayed too. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "../state/state_crc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static llm_model *g_model;
static llm_context *g_ctx;
static llm_session *g_sess;

static void init(void) {
    const char *path = getenv("LLM_FUZZ_STATE_MODEL");
    if (!path) {
        fprintf(stderr, "fuzz_state: set LLM_FUZZ_STATE_MODEL to a small GGUF model\n");
        abort();
    }
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 32);
    llm_options_set_int(o, LLM_OPT_THREADS, 1);
    if (llm_model_load_file(path, o, &g_model) != LLM_OK || llm_context_new(g_model, o, &g_ctx) != LLM_OK ||
        llm_session_new(g_ctx, o, &g_sess) != LLM_OK) {
        fprintf(stderr, "fuzz_state: cannot load %s\n", path);
        abort();
    }
    llm_options_free(o);
}

/* Makes the envelope of a state consistent: payload length and checksum. */
static void fix_envelope(uint8_t *b, size_t n) {
    const uint64_t len = n - 20;
    for (int i = 0; i < 8; i++) b[8 + i] = (uint8_t)(len >> (8 * i));
    state_fix_crc(b, n);
}

static void try_load(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exact size: AddressSanitizer sees reads past the end */
    if (!copy) return;
    if (size) memcpy(copy, data, size);
    const int32_t before = llm_session_n_past(g_sess);
    const llm_status st = llm_session_load(g_sess, copy, size);
    free(copy);
    if (st != LLM_OK && st != LLM_ERR_FORMAT && st != LLM_ERR_INVALID_ARGUMENT && st != LLM_ERR_UNSUPPORTED &&
        st != LLM_ERR_LIMIT && st != LLM_ERR_OUT_OF_MEMORY) {
        fprintf(stderr, "fuzz_state: unexpected status %s\n", llm_status_str(st));
        abort();
    }
    if (st != LLM_OK) {
        if (st != LLM_ERR_OUT_OF_MEMORY && llm_session_n_past(g_sess) != before) {
            fprintf(stderr, "fuzz_state: a failed load changed the session\n");
            abort();
        }
        const char *msg = llm_last_error(g_sess);
        if (!msg || !msg[0]) abort();
        return;
    }
    int32_t tok;
    const char *text;
    size_t len;
    llm_finish fin;
    const llm_status ss = llm_session_step(g_sess, &tok, &text, &len, &fin);
    if (ss != LLM_OK && ss != LLM_ERR_STATE && ss != LLM_ERR_CONTEXT_FULL && ss != LLM_ERR_FORMAT &&
        ss != LLM_ERR_LIMIT && ss != LLM_ERR_OUT_OF_MEMORY) {
        fprintf(stderr, "fuzz_state: step after load: %s\n", llm_status_str(ss));
        abort();
    }
    llm_session_reset(g_sess);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_sess) init();
    try_load(data, size);
    if (size >= 20 && memcmp(data, "LLMS", 4) == 0) {
        uint8_t *fixed = malloc(size);
        if (!fixed) return 0;
        memcpy(fixed, data, size);
        fix_envelope(fixed, size);
        try_load(fixed, size);
        free(fixed);
    }
    return 0;
}

#ifdef LLM_FUZZ_STATE_MAIN
/* Valid states of sessions in several conditions, saved into *out (count returned). */
static int make_seeds(uint8_t **out, size_t *lens, int max) {
    int n = 0;
    llm_options *o = llm_options_new();
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.9);
    llm_options_set_int(o, LLM_OPT_SEED, 7);
    for (int k = 0; k < 5 && n < max; k++) {
        llm_session *s = NULL;
        if (llm_session_new(g_ctx, o, &s) != LLM_OK) abort();
        const int32_t toks[4] = {1, 30, 40, 50};
        if (k == 1) llm_session_add_stop(s, "ab");
        if (k == 2 && llm_session_set_grammar(s, "root ::= [a-z]+ \" \" [a-z]*", NULL) != LLM_OK) abort();
        if (k == 3) {
            const int32_t bt[1] = {9};
            const float bv[1] = {2.0f};
            llm_session_set_logit_bias(s, bt, bv, 1);
            llm_session_set_int(s, LLM_OPT_ALL_LOGITS, 1);
        }
        if (k > 0 && llm_session_feed_tokens(s, toks, 4) != LLM_OK) abort();
        for (int i = 0; i < k; i++) {
            int32_t t;
            llm_finish f;
            llm_session_step(s, &t, NULL, NULL, &f);
        }
        size_t need = 0;
        llm_session_save(s, NULL, 0, &need);
        out[n] = malloc(need);
        if (!out[n] || llm_session_save(s, out[n], need, &lens[n]) != LLM_OK) abort();
        n++;
        llm_session_free(s);
    }
    llm_options_free(o);
    return n;
}

static void replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        const size_t got = fread(buf + len, 1, cap - len, f);
        if (!got) break;
        len += got;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [--write-seeds DIR | [--iterations N] FILE|DIR...]\n", argv[0]);
        return 2;
    }
    setenv("LLM_FUZZ_STATE_MODEL", argv[1], 1);
    init();
    uint8_t *seeds[8];
    size_t lens[8];
    const int n_seeds = make_seeds(seeds, lens, 8);
    long iterations = 3000;
    int replayed = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--write-seeds") && i + 1 < argc) {
            for (int k = 0; k < n_seeds; k++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/seed_%d.llms", argv[i + 1], k);
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(seeds[k], 1, lens[k], f) != lens[k] || fclose(f) != 0) return 1;
            }
            printf("fuzz_state: %d seeds written to %s\n", n_seeds, argv[i + 1]);
            return 0;
        }
        if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
            iterations = atol(argv[++i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.') continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                replay_file(path);
                replayed++;
            }
            closedir(d);
        } else {
            replay_file(argv[i]);
            replayed++;
        }
    }
    /* the seeds as they are (each must load), then random mutations */
    for (int k = 0; k < n_seeds; k++) {
        if (llm_session_load(g_sess, seeds[k], lens[k]) != LLM_OK) {
            fprintf(stderr, "fuzz_state: seed %d does not load: %s\n", k, llm_last_error(g_sess));
            return 1;
        }
        LLVMFuzzerTestOneInput(seeds[k], lens[k]);
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (long it = 0; it < iterations; it++) {
        const int k = (int)(it % n_seeds);
        size_t n = lens[k];
        uint8_t *m = malloc(n + 64);
        if (!m) abort();
        memcpy(m, seeds[k], n);
        const int flips = 1 + (int)(it % 4);
        for (int f = 0; f < flips; f++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            const size_t at = (size_t)(x >> 33) % n;
            switch ((x >> 8) % 4) {
            case 0: m[at] ^= (uint8_t)(1u << ((x >> 20) & 7)); break;
            case 1: m[at] = (uint8_t)(x >> 40); break;
            case 2: /* a length or count set large */
                if (at + 8 <= n) memset(m + at, 0xFF, (x >> 24) % 2 ? 8 : 4);
                break;
            default: /* cut */
                if (at > 20) n = at;
                break;
            }
        }
        LLVMFuzzerTestOneInput(m, n);
        free(m);
    }
    for (int k = 0; k < n_seeds; k++) free(seeds[k]);
    llm_session_free(g_sess);
    llm_context_free(g_ctx);
    llm_model_free(g_model);
    printf("fuzz_state: %d seeds, %ld mutations, %d files replayed: no failure\n", n_seeds, iterations, replayed);
    return 0;
}
#endif
