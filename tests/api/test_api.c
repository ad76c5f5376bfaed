/* Public API tests on the real Gemma 3 270M model (argv[1]): loading three ways, metadata,
 * tokenizer calls, generation determinism, the step API, stop strings, UTF-8 boundaries, chat,
 * logits, and every kind of bad input reported through a status and a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

static const char *g_path;
static llm_model *g_model;

static int utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
        if (!len || i + len > n) return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80) return 0;
        if (len == 3 && c == 0xe0 && p[i + 1] < 0xa0) return 0;
        if (len == 3 && c == 0xed && p[i + 1] > 0x9f) return 0;
        if (len == 4 && c == 0xf0 && p[i + 1] < 0x90) return 0;
        if (len == 4 && c == 0xf4 && p[i + 1] > 0x8f) return 0;
        i += len;
    }
    return 1;
}

static llm_session *new_session(llm_context **ctx_out, int n_ctx, double temp, int64_t seed) {
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, n_ctx);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, temp);
    llm_options_set_int(o, LLM_OPT_SEED, seed);
    llm_context *c = NULL;
    llm_session *s = NULL;
    llm_status st = llm_context_new(g_model, o, &c);
    CHECK(st == LLM_OK, "context_new: %s", llm_last_error(o));
    if (c) {
        st = llm_session_new(c, o, &s);
        CHECK(st == LLM_OK, "session_new: %s", llm_last_error(c));
    }
    llm_options_free(o);
    *ctx_out = c;
    return s;
}

typedef struct collected {
    char text[8192];
    size_t len;
    int32_t tokens[512];
    int n_tokens;
    int pieces_valid;
} collected;

static int collect(void *ud, const char *text, size_t len, int32_t token) {
    collected *c = ud;
    if (!utf8_valid(text, len)) c->pieces_valid = 0;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    if (c->n_tokens < 512) c->tokens[c->n_tokens++] = token;
    return 0;
}

static void generate_text(llm_session *s, const char *prompt, int max_tokens, collected *out, llm_finish *why) {
    memset(out, 0, sizeof *out);
    out->pieces_valid = 1;
    CHECK(llm_session_reset(s) == LLM_OK, "reset");
    CHECK(llm_session_set_int(s, LLM_OPT_MAX_TOKENS, max_tokens) == LLM_OK, "max tokens");
    llm_status st = llm_session_feed_text(s, prompt, -1, LLM_FEED_ADD_BOS);
    CHECK(st == LLM_OK, "feed: %s", llm_last_error(s));
    st = llm_session_generate(s, collect, out, why);
    CHECK(st == LLM_OK, "generate: %s", llm_last_error(s));
}

static void test_versions_and_status(void) {
    CHECK(strcmp(llm_version(), LLM_VERSION_STRING) == 0, "version %s", llm_version());
    CHECK(llm_version_number() == LLM_VERSION_NUMBER, "version number");
    for (int code = 0; code <= LLM_ERR_INTERNAL; code++)
        CHECK(llm_status_str((llm_status)code) && *llm_status_str((llm_status)code), "status %d text", code);
    CHECK(strcmp(llm_status_str((llm_status)999), "unknown status") == 0, "unknown status text");
    CHECK(strcmp(llm_last_error(NULL), "invalid handle") == 0, "last_error(NULL)");
}

static void test_options(void) {
    llm_options *o = llm_options_new();
    CHECK(o != NULL, "options_new");
    CHECK(llm_options_set_int(o, LLM_OPT_THREADS, -1) == LLM_ERR_INVALID_ARGUMENT, "negative threads refused");
    CHECK(strstr(llm_last_error(o), "threads") != NULL, "message names the option: %s", llm_last_error(o));
    CHECK(llm_options_set_float(o, LLM_OPT_TOP_P, 1.5) == LLM_ERR_INVALID_ARGUMENT, "top_p > 1 refused");
    CHECK(llm_options_set_float(o, LLM_OPT_THREADS, 1.5) == LLM_ERR_TYPE_MISMATCH, "float for int option");
    CHECK(llm_options_set_int(o, (llm_option)9999, 1) == LLM_ERR_INVALID_ARGUMENT, "unknown key");
    CHECK(llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.5) == LLM_OK, "temperature");
    double v = 0, lo = 0, hi = 0;
    CHECK(llm_options_get_float(o, LLM_OPT_TEMPERATURE, &v) == LLM_OK && v == 0.5, "get temperature");
    CHECK(llm_option_bounds(LLM_OPT_TOP_P, &lo, &hi) == LLM_OK && lo == 0 && hi == 1, "bounds");
    int64_t iv = 0;
    CHECK(llm_options_get_int(NULL, LLM_OPT_MAX_SESSIONS, &iv) == LLM_OK && iv == 8, "default max sessions");
    llm_options_free(o);
    llm_options_free(NULL);
}

static void test_null_handles(void) {
    llm_model *m = (llm_model *)1;
    CHECK(llm_model_load_file(NULL, NULL, &m) == LLM_ERR_INVALID_ARGUMENT && m == NULL, "load NULL path");
    CHECK(llm_model_load_file("x", NULL, NULL) == LLM_ERR_INVALID_ARGUMENT, "load NULL out");
    CHECK(llm_model_load_memory(NULL, 10, NULL, &m) == LLM_ERR_INVALID_ARGUMENT, "memory NULL");
    CHECK(llm_model_load_reader(NULL, NULL, NULL, NULL, NULL, &m) == LLM_ERR_INVALID_ARGUMENT, "reader NULL");
    llm_context *c = (llm_context *)1;
    CHECK(llm_context_new(NULL, NULL, &c) == LLM_ERR_INVALID_ARGUMENT && c == NULL, "context on NULL model");
    llm_session *s = (llm_session *)1;
    CHECK(llm_session_new(NULL, NULL, &s) == LLM_ERR_INVALID_ARGUMENT, "session on NULL context");
    CHECK(llm_session_feed_text(NULL, "a", -1, 0) == LLM_ERR_INVALID_ARGUMENT, "feed NULL");
    CHECK(llm_session_feed_tokens(NULL, NULL, 0) == LLM_ERR_INVALID_ARGUMENT, "feed tokens NULL");
    CHECK(llm_session_generate(NULL, NULL, NULL, NULL) == LLM_ERR_INVALID_ARGUMENT, "generate NULL");
    CHECK(llm_session_step(NULL, NULL, NULL, NULL, NULL) == LLM_ERR_INVALID_ARGUMENT, "step NULL");
    CHECK(llm_session_reset(NULL) == LLM_ERR_INVALID_ARGUMENT, "reset NULL");
    CHECK(llm_session_chat(NULL, "user", "x") == LLM_ERR_INVALID_ARGUMENT, "chat NULL");
    CHECK(llm_session_add_stop(NULL, "x") == LLM_ERR_INVALID_ARGUMENT, "stop NULL");
    const float *lg;
    CHECK(llm_session_logits(NULL, -1, &lg, NULL) == LLM_ERR_INVALID_ARGUMENT, "logits NULL");
    size_t n;
    int32_t t[4];
    CHECK(llm_tokenize(NULL, "a", -1, 0, t, 4, &n) == LLM_ERR_INVALID_ARGUMENT, "tokenize NULL");
    char buf[16];
    CHECK(llm_detokenize(NULL, t, 1, 0, buf, sizeof buf, &n) == LLM_ERR_INVALID_ARGUMENT, "detokenize NULL");
    CHECK(llm_token_to_piece(NULL, 1, 0, buf, sizeof buf, &n) == LLM_ERR_INVALID_ARGUMENT, "piece NULL");
    CHECK(llm_model_n_vocab(NULL) == 0 && strcmp(llm_model_architecture(NULL), "") == 0, "queries on NULL");
    CHECK(llm_session_n_past(NULL) == 0 && llm_context_n_ctx(NULL) == 0, "counts on NULL");
    llm_model_free(NULL);
    llm_context_free(NULL);
    llm_session_free(NULL);
    CHECK(strcmp(llm_last_error(buf), "invalid handle") == 0, "last_error on a non-handle");
}

static void test_bad_files(void) {
    llm_options *o = llm_options_new();
    llm_model *m = NULL;
    CHECK(llm_model_load_file("/nonexistent/model.gguf", o, &m) == LLM_ERR_IO && m == NULL, "missing file");
    CHECK(strstr(llm_last_error(o), "/nonexistent/model.gguf") != NULL, "message names the path: %s", llm_last_error(o));
    const char junk[] = "this is not a gguf file at all, not even close..";
    CHECK(llm_model_load_memory(junk, sizeof junk, o, &m) == LLM_ERR_FORMAT, "junk: %s", llm_last_error(o));
    CHECK(strstr(llm_last_error(o), "magic") != NULL, "message mentions the magic: %s", llm_last_error(o));
    /* the first KiB of the real model: a valid header, truncated metadata */
    FILE *f = fopen(g_path, "rb");
    char head[1024];
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    CHECK(got == sizeof head, "read head");
    CHECK(llm_model_load_memory(head, got, o, &m) == LLM_ERR_FORMAT, "truncated: %s", llm_last_error(o));
    CHECK(strstr(llm_last_error(o), "truncated") != NULL, "message says truncated: %s", llm_last_error(o));
    llm_options_free(o);
}

/* Reader callbacks over a FILE*, to load through the reader path. */
static size_t rd_read(void *ud, void *buf, size_t n) { return fread(buf, 1, n, (FILE *)ud); }
static int rd_seek(void *ud, uint64_t off) { return fseek((FILE *)ud, (long)off, SEEK_SET); }
static uint64_t rd_size(void *ud) {
    FILE *f = ud;
    long cur = ftell(f);
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    fseek(f, cur, SEEK_SET);
    return (uint64_t)end;
}
static int count_progress(void *ud, float p) {
    float *last = ud;
    if (p < *last) return 0; /* progress must not go backwards */
    *last = p;
    return 1;
}
static int abort_progress(void *ud, float p) {
    (void)ud;
    return p < 0.5f;
}

static void test_load_paths(void) {
    llm_options *o = llm_options_new();
    float last = 0;
    llm_options_set_progress(o, count_progress, &last);
    FILE *f = fopen(g_path, "rb");
    llm_model *m = NULL;
    llm_status st = llm_model_load_reader(rd_read, rd_seek, rd_size, f, o, &m);
    CHECK(st == LLM_OK, "reader load: %s", llm_last_error(o));
    CHECK(last == 1.0f, "progress reached 1 (%g)", last);
    if (m) {
        CHECK(llm_model_n_vocab(m) == llm_model_n_vocab(g_model), "reader model vocab");
        llm_model_free(m);
    }
    /* aborting through the progress callback */
    rewind(f);
    llm_options_set_progress(o, abort_progress, NULL);
    st = llm_model_load_reader(rd_read, rd_seek, rd_size, f, o, &m);
    CHECK(st == LLM_ERR_ABORTED && m == NULL, "aborted load gives LLM_ERR_ABORTED (%d)", st);
    llm_options_set_progress(o, NULL, NULL);
    /* from memory, and without mmap */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *data = malloc((size_t)size);
    CHECK(data && fread(data, 1, (size_t)size, f) == (size_t)size, "read file");
    fclose(f);
    st = llm_model_load_memory(data, (size_t)size, o, &m);
    free(data); /* the library copied it */
    CHECK(st == LLM_OK, "memory load: %s", llm_last_error(o));
    if (m) {
        int32_t t[8];
        size_t n = 0;
        CHECK(llm_tokenize(m, "Hello", -1, LLM_TOKENIZE_ADD_BOS, t, 8, &n) == LLM_OK && n >= 2, "memory model tokenizes");
        llm_model_free(m);
    }
    llm_options_set_int(o, LLM_OPT_USE_MMAP, 0);
    st = llm_model_load_file(g_path, o, &m);
    CHECK(st == LLM_OK, "read (no mmap) load: %s", llm_last_error(o));
    llm_model_free(m);
    llm_options_free(o);
}

static void test_metadata(void) {
    CHECK(strcmp(llm_model_architecture(g_model), "gemma3") == 0, "arch %s", llm_model_architecture(g_model));
    CHECK(llm_model_n_vocab(g_model) == 262144, "vocab %d", llm_model_n_vocab(g_model));
    CHECK(llm_model_n_layer(g_model) == 18, "layers");
    CHECK(llm_model_n_embd(g_model) == 640, "embd");
    CHECK(llm_model_n_ctx_train(g_model) == 32768, "ctx train");
    uint64_t np = llm_model_n_params(g_model);
    CHECK(np > 250000000 && np < 300000000, "params %llu", (unsigned long long)np);
    int64_t iv = 0;
    CHECK(llm_model_meta_int(g_model, "gemma3.block_count", &iv) == LLM_OK && iv == 18, "meta int");
    double fv = 0;
    CHECK(llm_model_meta_float(g_model, "gemma3.rope.freq_base", &fv) == LLM_OK && fv == 1000000.0, "meta float");
    char buf[64];
    size_t need = 0;
    CHECK(llm_model_meta_str(g_model, "general.architecture", buf, sizeof buf, &need) == LLM_OK &&
              strcmp(buf, "gemma3") == 0 && need == 6, "meta str");
    CHECK(llm_model_meta_str(g_model, "general.architecture", buf, 3, &need) == LLM_ERR_BUFFER_TOO_SMALL && need == 6,
          "meta str too small");
    CHECK(llm_model_meta_int(g_model, "no.such.key", &iv) == LLM_ERR_NOT_FOUND, "missing key");
    CHECK(llm_model_meta_int(g_model, "general.architecture", &iv) == LLM_ERR_TYPE_MISMATCH, "type mismatch");
    CHECK(llm_model_meta_str(g_model, "tokenizer.ggml.tokens", buf, sizeof buf, &need) == LLM_ERR_TYPE_MISMATCH, "array as str");
    int32_t n = llm_model_meta_count(g_model);
    CHECK(n > 20, "meta count %d", n);
    CHECK(llm_model_meta_key(g_model, 0) != NULL && llm_model_meta_key(g_model, n) == NULL, "meta keys");
}

static void test_tokenizer(void) {
    int32_t t[64];
    size_t n = 0;
    CHECK(llm_tokenize(g_model, "Hello world", -1, LLM_TOKENIZE_ADD_BOS, t, 64, &n) == LLM_OK, "tokenize");
    CHECK(n >= 3 && t[0] == llm_token_bos(g_model), "BOS first (n=%zu)", n);
    char buf[256];
    size_t need = 0;
    CHECK(llm_detokenize(g_model, t, n, 0, buf, sizeof buf, &need) == LLM_OK && strcmp(buf, "Hello world") == 0,
          "round trip: '%s'", buf);
    CHECK(llm_tokenize(g_model, "Hello world", -1, 0, t, 1, &n) == LLM_ERR_BUFFER_TOO_SMALL && n >= 2, "too small");
    CHECK(llm_tokenize(g_model, "bad \xff\xfe utf8", -1, 0, t, 64, &n) == LLM_ERR_INVALID_UTF8, "invalid utf8");
    CHECK(llm_tokenize(g_model, "<start_of_turn>", -1, LLM_TOKENIZE_SPECIAL, t, 64, &n) == LLM_OK && n == 1,
          "special token parsed (n=%zu)", n);
    int32_t sot = t[0];
    CHECK(llm_tokenize(g_model, "<start_of_turn>", -1, 0, t, 64, &n) == LLM_OK && n > 1, "special as text (n=%zu)", n);
    CHECK(llm_token_to_piece(g_model, sot, LLM_DETOKENIZE_SPECIAL, buf, sizeof buf, &need) == LLM_OK &&
              strcmp(buf, "<start_of_turn>") == 0, "special piece '%s'", buf);
    CHECK(llm_token_to_piece(g_model, 99999999, 0, buf, sizeof buf, &need) == LLM_ERR_INVALID_ARGUMENT, "bad id");
    int32_t eot = -1;
    llm_tokenize(g_model, "<end_of_turn>", -1, LLM_TOKENIZE_SPECIAL, &eot, 1, &n);
    CHECK(llm_token_is_eog(g_model, eot) && llm_token_is_eog(g_model, llm_token_eos(g_model)), "end_of_turn is EOG");
}

static void test_chat_render(void) {
    const char *roles[] = {"system", "user", "assistant", "user"};
    const char *contents[] = {"Be brief.", "  Hi!  ", "Hello.", "Bye"};
    char buf[512];
    size_t need = 0;
    CHECK(llm_chat_render(g_model, roles, contents, 4, 1, buf, sizeof buf, &need) == LLM_OK, "render");
    const char *want = "<bos><start_of_turn>user\nBe brief.\n\nHi!<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                       "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n";
    CHECK(strcmp(buf, want) == 0, "gemma rendering:\n%s", buf);
}

static void test_generation(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 256, 0.8, 1234);
    if (!s) return;
    collected a, b;
    llm_finish why = LLM_FINISH_NONE;
    generate_text(s, "The capital of France is", 16, &a, &why);
    CHECK(why == LLM_FINISH_LENGTH || why == LLM_FINISH_EOG, "finish %d", why);
    CHECK(a.n_tokens > 0 && a.pieces_valid, "generated %d tokens", a.n_tokens);
    llm_session_set_int(s, LLM_OPT_SEED, 1234);
    generate_text(s, "The capital of France is", 16, &b, &why);
    CHECK(a.len == b.len && memcmp(a.text, b.text, a.len) == 0, "same seed, same text:\n%s\n%s", a.text, b.text);
    CHECK(a.n_tokens == b.n_tokens && memcmp(a.tokens, b.tokens, sizeof(int32_t) * (size_t)a.n_tokens) == 0, "same tokens");

    /* the step API gives the same tokens and text as generate */
    llm_session_set_int(s, LLM_OPT_SEED, 1234);
    llm_session_reset(s);
    llm_session_feed_text(s, "The capital of France is", -1, LLM_FEED_ADD_BOS);
    char text[8192] = "";
    size_t len = 0;
    int32_t toks[64];
    int nt = 0;
    llm_finish f = LLM_FINISH_NONE;
    while (f == LLM_FINISH_NONE && nt < 64) {
        int32_t tok;
        const char *piece;
        size_t plen;
        CHECK(llm_session_step(s, &tok, &piece, &plen, &f) == LLM_OK, "step: %s", llm_last_error(s));
        if (tok >= 0) toks[nt++] = tok;
        memcpy(text + len, piece, plen);
        len += plen;
        text[len] = '\0';
    }
    CHECK(len == a.len && memcmp(text, a.text, len) == 0, "step text equals generate text:\n%s\n%s", text, a.text);
    CHECK(nt >= a.n_tokens, "step token count %d vs %d", nt, a.n_tokens);
    CHECK(memcmp(toks, a.tokens, sizeof(int32_t) * (size_t)(a.n_tokens < nt ? a.n_tokens : nt)) == 0 || a.n_tokens != nt,
          "step tokens equal generate tokens");

    /* greedy is deterministic whatever the seed */
    llm_session_set_float(s, LLM_OPT_TEMPERATURE, 0.0);
    llm_session_set_int(s, LLM_OPT_SEED, 1);
    generate_text(s, "Question: What is the capital of France?\nAnswer:", 4, &a, &why);
    llm_session_set_int(s, LLM_OPT_SEED, 2);
    generate_text(s, "Question: What is the capital of France?\nAnswer:", 4, &b, &why);
    CHECK(a.len == b.len && memcmp(a.text, b.text, a.len) == 0, "greedy deterministic");
    /* the packaged model is the pretrained (base) Gemma 3 270M: it answers in this format */
    CHECK(strncmp(a.text, " Paris", 6) == 0, "greedy answer is Paris: '%s'", a.text);

    /* stop strings: cut the greedy text before a substring that spans token boundaries */
    generate_text(s, "Once upon a time", 24, &a, &why);
    if (a.len > 12) {
        char stop[8];
        memcpy(stop, a.text + a.len / 2, 5);
        stop[5] = '\0';
        const char *at = strstr(a.text, stop);
        size_t expect = (size_t)(at - a.text);
        CHECK(llm_session_add_stop(s, stop) == LLM_OK, "add stop");
        CHECK(llm_session_add_stop(s, "") == LLM_ERR_INVALID_ARGUMENT, "empty stop refused");
        generate_text(s, "Once upon a time", 24, &b, &why);
        CHECK(why == LLM_FINISH_STOP, "finish STOP (%d) for stop '%s' in '%s'", why, stop, a.text);
        CHECK(b.len == expect && memcmp(a.text, b.text, expect) == 0, "text cut before the stop:\n'%s'\n'%s'", a.text,
              b.text);
        llm_session_clear_stops(s);
    }
    /* logits */
    const float *lg = NULL;
    int32_t nv = 0;
    CHECK(llm_session_logits(s, -1, &lg, &nv) == LLM_OK && nv == 262144 && lg, "logits");
    CHECK(llm_session_logits(s, 5, &lg, &nv) == LLM_ERR_INVALID_ARGUMENT, "logits row out of range");
    llm_session_free(s);
    llm_context_free(c);
}

/* Random tokens from the whole vocabulary (byte tokens included) must still come out as whole,
 * valid UTF-8 pieces. */
static void test_utf8_boundaries(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 512, 5.0, 99);
    if (!s) return;
    llm_session_set_int(s, LLM_OPT_TOP_K, 0);
    llm_session_set_float(s, LLM_OPT_TOP_P, 1.0);
    llm_session_set_float(s, LLM_OPT_MIN_P, 0.0);
    collected a;
    llm_finish why;
    generate_text(s, "Write in Japanese and emoji: 日本語 🙂", 64, &a, &why);
    CHECK(a.pieces_valid, "every piece is valid UTF-8");
    CHECK(utf8_valid(a.text, a.len), "the whole text is valid UTF-8");
    llm_session_free(s);
    llm_context_free(c);
}

static void test_context_limits(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 16, 0.0, 1);
    if (!s) return;
    const char *longp = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                        "sixteen seventeen eighteen nineteen twenty";
    CHECK(llm_session_feed_text(s, longp, -1, LLM_FEED_ADD_BOS) == LLM_ERR_CONTEXT_FULL, "prompt longer than context");
    CHECK(strstr(llm_last_error(s), "do not fit") != NULL, "message: %s", llm_last_error(s));
    CHECK(llm_session_n_past(s) == 0, "nothing fed after the failure");
    CHECK(llm_session_feed_text(s, "\xc3\x28", -1, 0) == LLM_ERR_INVALID_UTF8, "invalid UTF-8 prompt");
    CHECK(llm_session_generate(s, NULL, NULL, NULL) == LLM_ERR_STATE, "generate before feeding");
    int32_t bad = 300000;
    CHECK(llm_session_feed_tokens(s, &bad, 1) == LLM_ERR_INVALID_ARGUMENT, "token outside the vocabulary");
    CHECK(llm_session_feed_text(s, "Hi", -1, LLM_FEED_ADD_BOS) == LLM_OK, "short prompt");
    llm_finish why = LLM_FINISH_NONE;
    CHECK(llm_session_generate(s, NULL, NULL, &why) == LLM_OK && (why == LLM_FINISH_CONTEXT || why == LLM_FINISH_EOG),
          "generation ends at the context size (%d)", why);
    CHECK(llm_session_n_past(s) <= 16, "n_past within context");
    llm_session_free(s);
    /* max sessions */
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_MAX_SESSIONS, 1);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 32);
    llm_context *c1 = NULL;
    llm_session *a = NULL, *b = NULL;
    CHECK(llm_context_new(g_model, o, &c1) == LLM_OK, "ctx");
    CHECK(llm_session_new(c1, o, &a) == LLM_OK, "first session");
    CHECK(llm_session_new(c1, o, &b) == LLM_ERR_LIMIT && b == NULL, "second session over the limit");
    CHECK(strstr(llm_last_error(c1), "maximum") != NULL, "limit message: %s", llm_last_error(c1));
    llm_session_free(a);
    llm_context_free(c1);
    llm_options_free(o);
    llm_context_free(c);
}

static int stop_after_three(void *ud, const char *t, size_t n, int32_t tok) {
    (void)t, (void)n, (void)tok;
    return ++*(int *)ud >= 3;
}

static void test_chat_session(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 1024, 0.0, 1);
    if (!s) return;
    llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 16);
    CHECK(llm_session_chat(s, "system", "Answer in one short sentence.") == LLM_OK, "system: %s", llm_last_error(s));
    CHECK(llm_session_chat(s, "user", "What is the capital of France?") == LLM_OK, "user: %s", llm_last_error(s));
    collected a;
    memset(&a, 0, sizeof a);
    a.pieces_valid = 1;
    llm_finish why;
    CHECK(llm_session_generate(s, collect, &a, &why) == LLM_OK, "reply: %s", llm_last_error(s));
    CHECK(a.len > 0 && strstr(a.text, "<end_of_turn>") == NULL, "reply '%s'", a.text);
    int32_t after_first = llm_session_n_past(s);
    CHECK(llm_session_chat(s, "user", "And of Italy?") == LLM_OK, "second user turn");
    CHECK(llm_session_n_past(s) > after_first, "conversation continues in the cache");
    memset(&a, 0, sizeof a);
    a.pieces_valid = 1;
    CHECK(llm_session_generate(s, collect, &a, &why) == LLM_OK && a.len > 0, "second reply '%s'", a.text);
    int calls = 0;
    CHECK(llm_session_chat(s, "user", "Count to twenty.") == LLM_OK, "third turn");
    CHECK(llm_session_generate(s, stop_after_three, &calls, &why) == LLM_OK && why == LLM_FINISH_ABORTED && calls == 3,
          "callback stops generation (why %d calls %d)", why, calls);
    llm_session_free(s);
    llm_context_free(c);
}

int main(int argc, char **argv) {
    test_versions_and_status();
    test_options();
    test_null_handles();
    if (argc < 2 || !*argv[1]) {
        printf("no model path given: the model tests need the Gemma 3 270M file\n");
        return check_summary("test_api") ? 1 : 1;
    }
    g_path = argv[1];
    llm_options *o = llm_options_new();
    llm_status st = llm_model_load_file(g_path, o, &g_model);
    CHECK(st == LLM_OK, "load %s: %s", g_path, llm_last_error(o));
    llm_options_free(o);
    if (g_model) {
        test_bad_files();
        test_load_paths();
        test_metadata();
        test_tokenizer();
        test_chat_render();
        test_generation();
        test_utf8_boundaries();
        test_context_limits();
        test_chat_session();
        llm_model_free(g_model);
    }
    return check_summary("test_api");
}
