/* Saved sessions (llm_session_save / load): a session saved mid-generation and loaded into a fresh
 * session - of the same context, and of a second context - continues bit for bit as the saved one
 * did (tokens, texts, finishes, logits), in both precisions, on the real Gemma 3 model (text with
 * stop strings and logit bias, a grammar, a chat conversation) and on random models of other
 * architectures; through a file too. Errors: another model's state (same shapes, other weights),
 * a context too small, truncations at many lengths, byte flips, a newer version, NULL arguments;
 * each leaves the session as it was (it then continues exactly as the reference).
 *
 * usage: test_state GEMMA3.gguf LLAMA_A.gguf LLAMA_B.gguf QWEN3.gguf TMPDIR
 * (LLAMA_A and LLAMA_B have the same shapes and metadata and other weights) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"
#include "state_crc.h"

#define MAX_STEPS 40

/* What a session does over some steps: tokens, finishes, texts and a hash of each step's
 * logits (the row the next token is sampled from). */
typedef struct record {
    int n;
    int32_t tok[MAX_STEPS];
    int fin[MAX_STEPS];
    uint64_t logit_hash[MAX_STEPS];
    int32_t n_past[MAX_STEPS];
    char text[4096];
} record;

static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* A script of what happens after the save point: steps, and optionally a chat message or a feed
 * in between (step index -> action). */
typedef struct script {
    int n_steps;
    int chat_at;          /* before this step: llm_session_chat(user, chat_text); -1 none */
    const char *chat_text;
} script;

static void run(llm_session *s, const script *sc, record *r) {
    memset(r, 0, sizeof *r);
    size_t tl = 0;
    for (int i = 0; i < sc->n_steps && i < MAX_STEPS; i++) {
        if (i == sc->chat_at) {
            llm_status st = llm_session_chat(s, "user", sc->chat_text);
            CHECK(st == LLM_OK, "chat: %s %s", llm_status_str(st), llm_last_error(s));
        }
        int32_t tok = -1;
        const char *text = NULL;
        size_t len = 0;
        llm_finish fin = LLM_FINISH_NONE;
        llm_status st = llm_session_step(s, &tok, &text, &len, &fin);
        CHECK(st == LLM_OK, "step %d: %s %s", i, llm_status_str(st), llm_last_error(s));
        const float *lg = NULL;
        int32_t nv = 0;
        if (llm_session_logits(s, -1, &lg, &nv) == LLM_OK) r->logit_hash[i] = fnv(lg, (size_t)nv * sizeof *lg);
        r->tok[i] = tok;
        r->fin[i] = (int)fin;
        r->n_past[i] = llm_session_n_past(s);
        if (len && tl + len + 2 < sizeof r->text) {
            memcpy(r->text + tl, text, len);
            tl += len;
        }
        if (fin != LLM_FINISH_NONE && tl + 2 < sizeof r->text) r->text[tl++] = '|';
        r->n++;
    }
    r->text[tl] = 0;
}

static int same(const record *a, const record *b, const char *what) {
    int ok = a->n == b->n && strcmp(a->text, b->text) == 0;
    for (int i = 0; ok && i < a->n; i++)
        ok = a->tok[i] == b->tok[i] && a->fin[i] == b->fin[i] && a->logit_hash[i] == b->logit_hash[i] &&
             a->n_past[i] == b->n_past[i];
    CHECK(ok, "%s: the restored session differs (reference \"%s\", restored \"%s\")", what, a->text, b->text);
    return ok;
}

typedef enum kind { K_TEXT, K_TOKENS, K_GRAMMAR, K_CHAT, K_SHIFT, K_SHIFT_RECOMPUTE } kind;

typedef struct env {
    llm_model *m;
    llm_options *o;
    llm_context *c1, *c2;
} env;

static int g_kv_type = LLM_KV_F32; /* of the contexts env_open makes */

static llm_options *make_options(int precision, int n_ctx) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_KV_TYPE, g_kv_type);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, n_ctx);
    llm_options_set_int(o, LLM_OPT_PRECISION, precision);
    llm_options_set_int(o, LLM_OPT_THREADS, 1);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 1.1);
    llm_options_set_int(o, LLM_OPT_TOP_K, 50);
    llm_options_set_float(o, LLM_OPT_MIN_P, 0.0);
    llm_options_set_int(o, LLM_OPT_SEED, 4242);
    llm_options_set_float(o, LLM_OPT_REPEAT_PENALTY, 1.1);
    return o;
}

static llm_status env_open(env *e, const char *path, int precision, int n_ctx) {
    memset(e, 0, sizeof *e);
    e->o = make_options(precision, n_ctx);
    llm_status st = llm_model_load_file(path, e->o, &e->m);
    if (st == LLM_OK) st = llm_context_new(e->m, e->o, &e->c1);
    if (st == LLM_OK) {
        /* a second context, of the same size (a larger one would go on where this one is full) */
        llm_options *o2 = make_options(precision, n_ctx);
        st = llm_context_new(e->m, o2, &e->c2);
        llm_options_free(o2);
    }
    CHECK(st == LLM_OK, "%s: %s", path, llm_status_str(st));
    return st;
}

static void env_close(env *e) {
    llm_context_free(e->c1);
    llm_context_free(e->c2);
    llm_model_free(e->m);
    llm_options_free(e->o);
}

/* Sets up a session of the given kind and brings it to the save point. */
static void prepare(llm_session *s, kind k, int pre_steps) {
    llm_status st = LLM_OK;
    if (k == K_TEXT) {
        llm_session_add_stop(s, " the ");
        llm_session_add_stop(s, ".\n");
        const int32_t bt[2] = {5, 7};
        const float bv[2] = {1.5f, -2.0f};
        llm_session_set_logit_bias(s, bt, bv, 2);
        llm_session_set_int(s, LLM_OPT_TOP_LOGPROBS, 3);
        llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 9);
        st = llm_session_feed_text(s, "Once upon a time, in a small village by the sea,", -1, LLM_FEED_ADD_BOS);
    } else if (k == K_TOKENS) {
        const int32_t toks[6] = {1, 17, 23, 99, 4, 61};
        llm_session_add_stop(s, "a");
        llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 7);
        llm_session_set_int(s, LLM_OPT_ALL_LOGITS, 1);
        st = llm_session_feed_tokens(s, toks, 6);
    } else if (k == K_GRAMMAR) {
        st = llm_session_set_grammar(s, "root ::= \"Answer: \" [a-z ]+ \" = \" [0-9]+ \".\"", NULL);
        CHECK(st == LLM_OK, "grammar: %s", llm_last_error(s));
        llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 12);
        st = llm_session_feed_text(s, "Two plus two:", -1, LLM_FEED_ADD_BOS);
    } else if (k == K_SHIFT || k == K_SHIFT_RECOMPUTE) {
        /* a context of 48: the pre-steps shift it, the script shifts it again */
        int32_t toks[30];
        for (int i = 0; i < 30; i++) toks[i] = 11 + 7 * i;
        llm_session_set_int(s, LLM_OPT_CONTEXT_SHIFT, k == K_SHIFT ? LLM_SHIFT : LLM_SHIFT_RECOMPUTE);
        llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 0);
        st = llm_session_feed_tokens(s, toks, 30);
    } else {
        llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 10);
        st = llm_session_chat(s, "user", "Name three colours.");
    }
    CHECK(st == LLM_OK, "prepare %d: %s %s", (int)k, llm_status_str(st), llm_last_error(s));
    for (int i = 0; i < pre_steps; i++) {
        int32_t tok;
        llm_finish fin;
        st = llm_session_step(s, &tok, NULL, NULL, &fin);
        CHECK(st == LLM_OK, "pre-step %d: %s", i, llm_last_error(s));
    }
}

static void *save_buf(llm_session *s, size_t *n) {
    size_t need = 0;
    llm_status st = llm_session_save(s, NULL, 0, &need);
    CHECK(st == LLM_ERR_BUFFER_TOO_SMALL && need > 0, "save size: %s", llm_status_str(st));
    void *b = malloc(need);
    st = llm_session_save(s, b, need, n);
    CHECK(st == LLM_OK && *n == need, "save: %s %s", llm_status_str(st), llm_last_error(s));
    return b;
}

/* Reference vs restored, for one model, kind and precision. Returns the saved state (caller
 * frees) when keep is set. */
static void *round_trip(env *e, kind k, const char *name, const script *sc, int pre_steps, const char *tmpdir,
                        size_t *state_len) {
    llm_session *s = NULL, *s2 = NULL, *s3 = NULL;
    llm_session_new(e->c1, e->o, &s);
    prepare(s, k, pre_steps);
    size_t n = 0;
    void *state = save_buf(s, &n);
    const int32_t shifts_at_save = llm_session_n_shifts(s);
    if (k == K_SHIFT || k == K_SHIFT_RECOMPUTE) CHECK(shifts_at_save > 0, "%s: no shift before the save", name);
    record ref, got;
    run(s, sc, &ref);
    const int32_t shifts_ref = llm_session_n_shifts(s);
    if (k == K_SHIFT || k == K_SHIFT_RECOMPUTE) CHECK(shifts_ref > shifts_at_save, "%s: no shift after the save", name);
    CHECK(ref.n == sc->n_steps, "%s: reference ran %d steps", name, ref.n);

    /* a fresh session of the same context (created with other options: they come from the state) */
    CHECK(llm_session_new(e->c1, NULL, &s2) == LLM_OK, "session 2");
    llm_status st = llm_session_load(s2, state, n);
    CHECK(st == LLM_OK, "%s: load: %s %s", name, llm_status_str(st), llm_last_error(s2));
    CHECK(llm_session_n_shifts(s2) == shifts_at_save, "%s: n_shifts %d after load, %d saved", name,
          (int)llm_session_n_shifts(s2), (int)shifts_at_save);
    run(s2, sc, &got);
    same(&ref, &got, name);
    CHECK(llm_session_n_shifts(s2) == shifts_ref, "%s: n_shifts", name);

    /* a session of the second context, through a file; it had a conversation before */
    char path[1024];
    snprintf(path, sizeof path, "%s/test_state_%d.llms", tmpdir, (int)k);
    llm_session_new(e->c2, NULL, &s3);
    llm_session_feed_text(s3, "Something else entirely", -1, LLM_FEED_ADD_BOS);
    llm_session_set_grammar(s3, "root ::= \"x\"", NULL);
    llm_session_add_stop(s3, "zzz");
    /* save_file from a session loaded from the buffer: the same state again */
    llm_session *s4 = NULL;
    llm_session_new(e->c1, NULL, &s4);
    CHECK(llm_session_load(s4, state, n) == LLM_OK, "load s4");
    st = llm_session_save_file(s4, path);
    CHECK(st == LLM_OK, "save_file: %s %s", llm_status_str(st), llm_last_error(s4));
    llm_session_free(s4);
    st = llm_session_load_file(s3, path);
    CHECK(st == LLM_OK, "%s: load_file: %s %s", name, llm_status_str(st), llm_last_error(s3));
    if (sc->n_steps > 0) {
        run(s3, sc, &got);
        same(&ref, &got, name);
    }
    remove(path);
    llm_session_free(s);
    llm_session_free(s2);
    llm_session_free(s3);
    *state_len = n;
    return state;
}

static llm_status load_copy(llm_session *s, const void *data, size_t n) {
    /* an exact-size copy, so that AddressSanitizer sees a read past the end */
    void *c = malloc(n ? n : 1);
    if (n) memcpy(c, data, n);
    llm_status st = llm_session_load(s, c, n);
    free(c);
    return st;
}

/* Every malformed variant fails with its status and leaves the session as it was: afterwards it
 * runs the script exactly as the reference. */
static void errors(env *e, env *other, env *same_shape, const char *tmpdir) {
    llm_session *s = NULL;
    llm_session_new(e->c1, e->o, &s);
    prepare(s, K_TOKENS, 2);
    size_t n = 0;
    uint8_t *state = save_buf(s, &n);
    const script sc = {12, -1, NULL};
    record ref, got;
    run(s, &sc, &ref);

    llm_session *t = NULL;
    llm_session_new(e->c1, NULL, &t);
    CHECK(llm_session_load(t, state, n) == LLM_OK, "load");
    llm_status st;
    /* truncations */
    int bad = 0;
    for (size_t len = 0; len < n && len < 400; len++) bad += load_copy(t, state, len) != LLM_ERR_FORMAT;
    for (size_t len = n > 400 ? n - 400 : 0; len < n; len++) bad += load_copy(t, state, len) != LLM_ERR_FORMAT;
    for (size_t len = 400; len + 400 < n; len += 997) bad += load_copy(t, state, len) != LLM_ERR_FORMAT;
    CHECK(bad == 0, "%d truncated states were not LLM_ERR_FORMAT", bad);
    /* one more byte, and bytes flipped */
    uint8_t *c = malloc(n + 1);
    memcpy(c, state, n);
    c[n] = 0;
    CHECK(load_copy(t, c, n + 1) == LLM_ERR_FORMAT, "an extra byte");
    uint64_t x = 12345;
    bad = 0;
    for (int i = 0; i < 300; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const size_t at = i < 64 ? (size_t)i : (size_t)(x >> 33) % n;
        const uint8_t flip = (uint8_t)(1u << ((x >> 20) & 7));
        memcpy(c, state, n);
        c[at] ^= flip;
        st = load_copy(t, c, n);
        if (st != LLM_ERR_FORMAT) {
            bad++;
            fprintf(stderr, "flip at %zu: %s\n", at, llm_status_str(st));
        }
    }
    CHECK(bad == 0, "%d corrupted states were not LLM_ERR_FORMAT", bad);
    /* a newer version, checksum recomputed; the same unfixed is corrupted */
    memcpy(c, state, n);
    c[4] = 2;
    CHECK(load_copy(t, c, n) == LLM_ERR_FORMAT, "version changed without its checksum");
    state_fix_crc(c, n);
    st = load_copy(t, c, n);
    CHECK(st == LLM_ERR_UNSUPPORTED, "newer version: %s", llm_status_str(st));
    CHECK(strstr(llm_last_error(t), "version") != NULL, "message: %s", llm_last_error(t));
    /* consistent checksum, values out of range: still malformed */
    bad = 0;
    for (size_t at = 16; at < n - 4 && at < 16 + 600; at += 3) {
        memcpy(c, state, n);
        c[at] ^= 0x80;
        state_fix_crc(c, n);
        st = load_copy(t, c, n);
        if (st == LLM_ERR_OUT_OF_MEMORY || st == LLM_ERR_INTERNAL) bad++;
        if (st == LLM_OK) { /* a change that still makes a state (a sampling value, a logit, a text): fine,
                             * but load the original back */
            CHECK(llm_session_load(t, state, n) == LLM_OK, "reload");
        }
    }
    CHECK(bad == 0, "%d consistent corruptions gave an unexpected status", bad);
    free(c);
    /* NULLs and sizes */
    size_t need = 1;
    CHECK(llm_session_save(NULL, NULL, 0, &need) == LLM_ERR_INVALID_ARGUMENT && need == 0, "save NULL session");
    CHECK(llm_session_save(t, NULL, 0, NULL) == LLM_ERR_INVALID_ARGUMENT, "save NULL needed");
    CHECK(llm_session_save(t, NULL, 5, &need) == LLM_ERR_INVALID_ARGUMENT, "save NULL buffer");
    {
        uint8_t small[8];
        CHECK(llm_session_save(t, small, sizeof small, &need) == LLM_ERR_BUFFER_TOO_SMALL && need == n, "too small");
    }
    CHECK(llm_session_load(NULL, state, n) == LLM_ERR_INVALID_ARGUMENT, "load NULL session");
    CHECK(llm_session_load(t, NULL, n) == LLM_ERR_INVALID_ARGUMENT, "load NULL data");
    CHECK(llm_session_load(t, NULL, 0) == LLM_ERR_FORMAT, "load empty");
    CHECK(llm_session_save_file(t, NULL) == LLM_ERR_INVALID_ARGUMENT, "save_file NULL");
    CHECK(llm_session_save_file(NULL, "x") == LLM_ERR_INVALID_ARGUMENT, "save_file NULL session");
    CHECK(llm_session_load_file(t, NULL) == LLM_ERR_INVALID_ARGUMENT, "load_file NULL");
    CHECK(llm_session_load_file(NULL, "x") == LLM_ERR_INVALID_ARGUMENT, "load_file NULL session");
    char path[1024];
    snprintf(path, sizeof path, "%s/test_state_missing/none.llms", tmpdir);
    CHECK(llm_session_load_file(t, path) == LLM_ERR_IO, "load_file missing");
    CHECK(llm_session_save_file(t, path) == LLM_ERR_IO, "save_file into a missing folder");

    /* another model's state: other architecture; same shapes and metadata, other weights */
    llm_session *o = NULL;
    llm_session_new(other->c1, other->o, &o);
    prepare(o, K_TOKENS, 1);
    size_t on = 0;
    void *ostate = save_buf(o, &on);
    st = llm_session_load(t, ostate, on);
    CHECK(st == LLM_ERR_INVALID_ARGUMENT, "another architecture: %s", llm_status_str(st));
    free(ostate);
    llm_session_free(o);
    llm_session_new(same_shape->c1, same_shape->o, &o);
    prepare(o, K_TOKENS, 1);
    ostate = save_buf(o, &on);
    CHECK(on == n || on != n, "sizes");
    st = llm_session_load(t, ostate, on);
    CHECK(st == LLM_ERR_INVALID_ARGUMENT, "same shapes, other weights: %s", llm_status_str(st));
    CHECK(strstr(llm_last_error(t), "model") != NULL, "message: %s", llm_last_error(t));
    free(ostate);
    llm_session_free(o);

    /* a context too small for the state */
    {
        llm_options *so = make_options(LLM_PRECISION_FAST, 4);
        llm_context *sc8 = NULL;
        llm_session *s8 = NULL;
        CHECK(llm_context_new(e->m, so, &sc8) == LLM_OK, "small context");
        llm_session_new(sc8, so, &s8);
        const int32_t one = 3;
        llm_session_feed_tokens(s8, &one, 1);
        st = llm_session_load(s8, state, n);
        CHECK(st == LLM_ERR_INVALID_ARGUMENT, "context too small: %s", llm_status_str(st));
        CHECK(llm_session_n_past(s8) == 1, "the small session is unchanged");
        llm_session_free(s8);
        llm_context_free(sc8);
        llm_options_free(so);
    }

    /* after all that, t still runs as the reference */
    run(t, &sc, &got);
    same(&ref, &got, "after failed loads");
    llm_session_free(t);
    llm_session_free(s);
    free(state);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s GEMMA3.gguf LLAMA_A.gguf LLAMA_B.gguf QWEN3.gguf TMPDIR\n", argv[0]);
        return 2;
    }
    const char *tmpdir = argv[5];
    static const int precisions[2] = {LLM_PRECISION_FAST, LLM_PRECISION_EXACT};
    for (int pi = 0; pi < 2; pi++) {
        const int prec = precisions[pi];
        char name[128];
        size_t n = 0;
        env g;
        if (env_open(&g, argv[1], prec, 96) == LLM_OK) {
            const script text = {14, -1, NULL}, gram = {10, -1, NULL}, chat = {14, 6, "And two more?"};
            snprintf(name, sizeof name, "gemma3 text, precision %d", prec);
            free(round_trip(&g, K_TEXT, name, &text, 4, tmpdir, &n));
            snprintf(name, sizeof name, "gemma3 grammar, precision %d", prec);
            free(round_trip(&g, K_GRAMMAR, name, &gram, 4, tmpdir, &n));
            snprintf(name, sizeof name, "gemma3 chat, precision %d", prec);
            free(round_trip(&g, K_CHAT, name, &chat, 3, tmpdir, &n));
            /* saved before the generation started (right after the feed) and at once after load */
            snprintf(name, sizeof name, "gemma3 chat at the message, precision %d", prec);
            free(round_trip(&g, K_CHAT, name, &chat, 0, tmpdir, &n));
        }
        env_close(&g);
        for (int mi = 2; mi <= 4; mi++) {
            env r;
            if (env_open(&r, argv[mi], prec, 48) == LLM_OK) {
                const script toks = {16, -1, NULL};
                snprintf(name, sizeof name, "%s tokens, precision %d", argv[mi], prec);
                free(round_trip(&r, K_TOKENS, name, &toks, 3, tmpdir, &n));
                snprintf(name, sizeof name, "%s text, precision %d", argv[mi], prec);
                free(round_trip(&r, K_TEXT, name, &toks, 2, tmpdir, &n));
                /* after a context shift (and shifting again after the load) */
                const script shift = {30, -1, NULL};
                snprintf(name, sizeof name, "%s context shift, precision %d", argv[mi], prec);
                free(round_trip(&r, K_SHIFT, name, &shift, 24, tmpdir, &n));
                snprintf(name, sizeof name, "%s context shift (recompute), precision %d", argv[mi], prec);
                free(round_trip(&r, K_SHIFT_RECOMPUTE, name, &shift, 24, tmpdir, &n));
            }
            env_close(&r);
        }
    }
    /* KV caches of other element types: rows saved and loaded in their own type */
    {
        static const int kv_types[2] = {LLM_KV_F16, LLM_KV_Q8_0};
        for (int ki = 0; ki < 2; ki++) {
            char name[128];
            size_t n = 0;
            env g;
            g_kv_type = kv_types[ki];
            if (env_open(&g, argv[1], LLM_PRECISION_FAST, 96) == LLM_OK) {
                const script text = {10, -1, NULL};
                snprintf(name, sizeof name, "gemma3 text, KV type %d", kv_types[ki]);
                void *state = round_trip(&g, K_TEXT, name, &text, 3, tmpdir, &n);
                /* a context of another KV type refuses it */
                g_kv_type = LLM_KV_F32;
                llm_options *fo = make_options(LLM_PRECISION_FAST, 96);
                llm_context *fc = NULL;
                llm_session *fs = NULL;
                CHECK(llm_context_new(g.m, fo, &fc) == LLM_OK && llm_session_new(fc, fo, &fs) == LLM_OK, "F32 context");
                llm_status st = llm_session_load(fs, state, n);
                CHECK(st == LLM_ERR_INVALID_ARGUMENT, "KV type %d state into an F32 context: %s", kv_types[ki],
                      llm_status_str(st));
                CHECK(strstr(llm_last_error(fs), "KV") != NULL, "message: %s", llm_last_error(fs));
                llm_session_free(fs);
                llm_context_free(fc);
                llm_options_free(fo);
                free(state);
            }
            env_close(&g);
        }
        g_kv_type = LLM_KV_F32;
    }
    env a = {0}, b = {0}, q = {0};
    if (env_open(&a, argv[2], LLM_PRECISION_FAST, 48) == LLM_OK &&
        env_open(&b, argv[3], LLM_PRECISION_FAST, 48) == LLM_OK &&
        env_open(&q, argv[4], LLM_PRECISION_FAST, 48) == LLM_OK) {
        errors(&a, &q, &b, tmpdir);
    }
    env_close(&a);
    env_close(&b);
    env_close(&q);
    return check_summary("test_state");
}
