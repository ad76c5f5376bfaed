/* Unit tests of the tokenizer component on the shipped vocab-only GGUF files:
 * invalid UTF-8 rejection, special tokens, EOG detection, pieces and decoding.
 * argv[1]: the gguf-vocab directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"
#include "tokenizer/tokenizer.h"

static int failures;
#define CHECK(c)                                                          \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

typedef struct loaded {
    gguf_source src;
    gguf_file *gf;
    llm_tokenizer *tok;
} loaded;

static int load(const char *dir, const char *name, loaded *l) {
    char path[1024];
    llm_err err = {0};
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    memset(l, 0, sizeof *l);
    if (gguf_source_open_file(path, 1, &l->src, &err) != LLM_OK || gguf_parse(l->src.data, l->src.size, &l->gf, &err) != LLM_OK ||
        llm_tokenizer_new(l->gf, &l->tok, &err) != LLM_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
        failures++;
        return -1;
    }
    return 0;
}

static void unload(loaded *l) {
    llm_tokenizer_free(l->tok);
    gguf_free(l->gf);
    gguf_source_close(&l->src);
}

static size_t encode(const llm_tokenizer *tok, const char *s, int bos, int special, int32_t *out, size_t cap) {
    int32_t *ids = NULL;
    size_t n = 0;
    llm_err err = {0};
    llm_status st = llm_tokenizer_encode(tok, s, strlen(s), bos, special, &ids, &n, &err);
    CHECK(st == LLM_OK);
    if (st != LLM_OK) return 0;
    for (size_t i = 0; i < n && i < cap; i++) out[i] = ids[i];
    free(ids);
    return n;
}

static void test_invalid_utf8(const llm_tokenizer *tok) {
    static const struct {
        const char *s;
        size_t len, offset;
    } cases[] = {
        {"ab\xC0\xAF", 4, 2},             /* overlong '/' */
        {"\xE0\x80\xAF", 3, 0},           /* overlong 3-byte */
        {"\xF0\x80\x80\xAF", 4, 0},       /* overlong 4-byte */
        {"x\x80y", 3, 1},                 /* lone continuation */
        {"hello \xE2\x82", 8, 6},         /* truncated sequence at the end */
        {"\xE2\x82 z", 4, 0},             /* truncated in the middle */
        {"\xED\xA0\x80", 3, 0},           /* surrogate U+D800 */
        {"ok\xED\xBF\xBF", 5, 2},         /* surrogate U+DFFF */
        {"\xF4\x90\x80\x80", 4, 0},       /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0},       /* invalid lead F5 */
        {"\xFF", 1, 0},
        {"abc\xC3", 4, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = (int32_t *)1;
        size_t n = 99;
        llm_err err = {0};
        llm_status st = llm_tokenizer_encode(tok, cases[i].s, cases[i].len, 1, 1, &ids, &n, &err);
        CHECK(st == LLM_ERR_INVALID_UTF8);
        CHECK(ids == NULL && n == 0);
        char want[64];
        snprintf(want, sizeof want, "offset %zu", cases[i].offset);
        if (!strstr(err.msg, want)) {
            fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, err.msg, want);
            failures++;
        }
    }
    /* valid edge cases still pass */
    int32_t ids[64];
    CHECK(encode(tok, "\xF4\x8F\xBF\xBF \xEF\xBF\xBF \xC2\x80", 0, 0, ids, 64) > 0);
}

static void test_llama_spm(const char *dir) {
    loaded l;
    if (load(dir, "llama-spm", &l)) return;
    const llm_tokenizer *tok = l.tok;
    CHECK(llm_tokenizer_n_vocab(tok) == 32000);
    CHECK(llm_tokenizer_bos(tok) == 1 && llm_tokenizer_eos(tok) == 2);
    CHECK(llm_tokenizer_add_bos(tok) == 1 && llm_tokenizer_add_eos(tok) == 0);
    CHECK(llm_tokenizer_is_eog(tok, 2) && !llm_tokenizer_is_eog(tok, 1) && !llm_tokenizer_is_eog(tok, 100));
    CHECK(llm_tokenizer_find(tok, "<s>", 3) == 1);
    CHECK(llm_tokenizer_find(tok, "nope-not-a-token", 16) == -1);
    CHECK(llm_tokenizer_token_type(tok, 1) == LLM_TOKTYPE_CONTROL);
    CHECK(llm_tokenizer_token_type(tok, 3) == LLM_TOKTYPE_BYTE);
    test_invalid_utf8(tok);

    int32_t ids[64];
    size_t n = encode(tok, "Hello world", 1, 0, ids, 64);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 15043 && ids[2] == 3186);
    /* special tokens: parsed only when asked */
    n = encode(tok, "a</s>b", 0, 1, ids, 64);
    CHECK(n >= 3);
    int found = 0;
    for (size_t i = 0; i < n && i < 64; i++) found |= ids[i] == 2;
    CHECK(found);
    n = encode(tok, "a</s>b", 0, 0, ids, 64);
    for (size_t i = 0; i < n && i < 64; i++) CHECK(ids[i] != 2);
    /* empty text: only BOS */
    n = encode(tok, "", 1, 0, ids, 64);
    CHECK(n == 1 && ids[0] == 1);
    /* byte fallback and pieces */
    n = encode(tok, "\xF0\x9F\x98\x80", 0, 0, ids, 64); /* U+1F600: not in the vocab */
    CHECK(n == 5 && ids[1] == 3 + 0xF0);
    size_t pl;
    const char *p = llm_tokenizer_piece(tok, 3 + 0xF0, 0, &pl);
    CHECK(p && pl == 1 && (unsigned char)p[0] == 0xF0);
    p = llm_tokenizer_piece(tok, 1, 0, &pl);
    CHECK(p && pl == 0);
    p = llm_tokenizer_piece(tok, 1, 1, &pl);
    CHECK(p && pl == 3 && memcmp(p, "<s>", 3) == 0);
    CHECK(llm_tokenizer_piece(tok, 32000, 0, &pl) == NULL);
    /* decode drops the prefix space, skips BOS unless special */
    n = encode(tok, "Hello world", 1, 0, ids, 64);
    char *out = NULL;
    size_t ol = 0;
    llm_err err = {0};
    CHECK(llm_tokenizer_decode(tok, ids, n, 0, &out, &ol, &err) == LLM_OK);
    CHECK(out && strcmp(out, "Hello world") == 0 && ol == 11);
    free(out);
    CHECK(llm_tokenizer_decode(tok, ids, n, 1, &out, &ol, &err) == LLM_OK);
    CHECK(out && strcmp(out, "<s> Hello world") == 0);
    free(out);
    int32_t bad = 40000;
    CHECK(llm_tokenizer_decode(tok, &bad, 1, 0, &out, &ol, &err) == LLM_ERR_INVALID_ARGUMENT);
    unload(&l);
}

static void test_gpt2(const char *dir) {
    loaded l;
    if (load(dir, "gpt-2", &l)) return;
    const llm_tokenizer *tok = l.tok;
    CHECK(llm_tokenizer_is_eog(tok, 50256));
    test_invalid_utf8(tok);
    int32_t ids[64];
    size_t n = encode(tok, "Hello world", 0, 0, ids, 64);
    CHECK(n == 2 && ids[0] == 15496 && ids[1] == 995);
    char *out = NULL;
    llm_err err = {0};
    const char *txt = "  tabs\tand\nnew  lines \xC3\xA9\xF0\x9F\x98\x80!";
    int32_t *all = NULL;
    size_t na = 0;
    CHECK(llm_tokenizer_encode(tok, txt, strlen(txt), 0, 0, &all, &na, &err) == LLM_OK);
    CHECK(llm_tokenizer_decode(tok, all, na, 0, &out, NULL, &err) == LLM_OK);
    CHECK(out && strcmp(out, txt) == 0);
    free(out);
    free(all);
    unload(&l);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_tokenizer_unit GGUF_VOCAB_DIR\n");
        return 2;
    }
    test_llama_spm(argv[1]);
    test_gpt2(argv[1]);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
