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

/* The pieces of text's tokens joined by '|' (no BOS, special tokens parsed). */
static void pieces(const llm_tokenizer *tok, const char *text, char *out, size_t cap) {
    int32_t *ids = NULL;
    size_t n = 0, o = 0;
    llm_err err = {0};
    out[0] = '\0';
    if (llm_tokenizer_encode(tok, text, strlen(text), 0, 1, &ids, &n, &err) != LLM_OK) {
        snprintf(out, cap, "<error %s>", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = llm_tokenizer_piece(tok, ids[i], 1, &pl);
        if (o + pl + 2 >= cap) break;
        if (i) out[o++] = '|';
        memcpy(out + o, p, pl);
        o += pl;
    }
    out[o] = '\0';
    free(ids);
}

static void check_pieces(const llm_tokenizer *tok, const char *name, const char *text, const char *want) {
    char got[1024];
    pieces(tok, text, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s: pieces of '%s': want '%s' got '%s'\n", name, text, want, got);
        failures++;
    }
}

/* Round trip of a multilingual text through a byte-level BPE vocab (lossless by design). */
static void check_round_trip(const llm_tokenizer *tok, const char *name) {
    const char *txt = "Hello  w\xC3\xB6rld 1234567 \xD0\x91\xD1\x8A\xD0\xBB\xD0\xB3\xD0\xB0\xD1\x80\xD1\x81\xD0\xBA\xD0\xB8 "
                      "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x81 \xF0\x9F\xA6\x99\t\r\n  x \xC2\xBD \xD9\xA3 'S 're";
    int32_t *ids = NULL;
    size_t n = 0;
    char *out = NULL;
    llm_err err = {0};
    CHECK(llm_tokenizer_encode(tok, txt, strlen(txt), 0, 0, &ids, &n, &err) == LLM_OK);
    CHECK(llm_tokenizer_decode(tok, ids, n, 0, &out, NULL, &err) == LLM_OK);
    if (!out || strcmp(out, txt) != 0) {
        fprintf(stderr, "%s: round trip gave '%s'\n", name, out ? out : "(null)");
        failures++;
    }
    free(out);
    free(ids);
}

/* Pre-tokenizer cases the shipped vectors do not reach, checked by hand against each family's
 * split patterns (tokenizer.json); pieces show where the pre-tokenizer cut, since no merge
 * crosses a cut. */
static void test_bpe_pretokenizers(const char *dir) {
    static const char *const names[] = {"falcon", "deepseek-llm", "deepseek-coder", "starcoder", "refact", "mpt", "gpt-neox"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        loaded l;
        if (load(dir, names[i], &l)) continue;
        test_invalid_utf8(l.tok);
        check_round_trip(l.tok, names[i]);
        unload(&l);
    }
    loaded l;
    if (load(dir, "falcon", &l) == 0) {
        /* [0-9]{3} after Digits: threes from the left */
        check_pieces(l.tok, "falcon", "1234567", "123|456|7");
        /* Punctuation runs are cut off first, so ByteLevel's " ?[^\s\p{L}\p{N}]+" never
         * takes the space in front of them */
        check_pieces(l.tok, "falcon", "a ,b", "a| |,|b");
        /* Digits runs on the byte symbols: the second byte of U+0439 (D0 B9) is the symbol of
         * U+00B9 (superscript one), a number, so the letter is cut in two (the vectors'
         * "\xD0\xB3" in Bulgarian shows the same) */
        check_pieces(l.tok, "falcon", "\xD0\xB9", "\xD0|\xB9");
        unload(&l);
    }
    if (load(dir, "starcoder", &l) == 0) {
        check_pieces(l.tok, "starcoder", "x=123", "x|=|1|2|3"); /* individual digits */
        unload(&l);
    }
    if (load(dir, "deepseek-coder", &l) == 0) {
        check_pieces(l.tok, "deepseek-coder", "a\r\nb", "a|\r|\n|b"); /* [\r\n] one at a time */
        unload(&l);
    }
    if (load(dir, "mpt", &l) == 0) {
        /* NFC: e + U+0301 is the same text as U+00E9 */
        char a[256], b[256];
        pieces(l.tok, "caf\x65\xCC\x81", a, sizeof a);
        pieces(l.tok, "caf\xC3\xA9", b, sizeof b);
        CHECK(strcmp(a, b) == 0);
        unload(&l);
    }
    if (load(dir, "gpt-neox", &l) == 0) { /* no tokenizer.ggml.pre: GPT-2's, without NFC */
        char a[256], b[256];
        pieces(l.tok, "caf\x65\xCC\x81", a, sizeof a);
        pieces(l.tok, "caf\xC3\xA9", b, sizeof b);
        CHECK(strcmp(a, b) != 0);
        unload(&l);
    }
}

static void test_wordpiece(const char *dir) {
    loaded l;
    if (load(dir, "bert-bge", &l)) return;
    const llm_tokenizer *tok = l.tok;
    test_invalid_utf8(tok);
    /* BERT's normalizer drops Cc/Cf/Co (U+0080 here) but keeps unassigned code points */
    int32_t u[8];
    CHECK(encode(tok, "\xF4\x8F\xBF\xBF \xEF\xBF\xBF \xC2\x80", 0, 0, u, 8) == 2 && u[0] == 100 && u[1] == 100);
    CHECK(llm_tokenizer_bos(tok) == 101 && llm_tokenizer_eos(tok) == 102);
    CHECK(llm_tokenizer_add_bos(tok) && llm_tokenizer_add_eos(tok));
    int32_t ids[128];
    size_t n = encode(tok, "Hello world", 1, 0, ids, 128);
    CHECK(n == 4 && ids[0] == 101 && ids[1] == 7592 && ids[2] == 2088 && ids[3] == 102);
    /* lowercase, accents stripped, control characters dropped, whitespace of any kind */
    check_pieces(tok, "bert", "H\xC3\xA9LLO\x01\xE2\x80\x83W\xC3\xB6rld!", " hello| world| !");
    /* CJK ideographs stand alone; punctuation is a word of its own */
    check_pieces(tok, "bert", "\xE4\xB8\xAD\xE6\x96\x87" "a.b", " \xE4\xB8\xAD| \xE6\x96\x87| a| .| b");
    /* continuation pieces have no phantom space */
    check_pieces(tok, "bert", "tokenization", " token|ization");
    /* a word over 100 code points is unknown */
    char longw[128];
    memset(longw, 'a', 101);
    longw[101] = '\0';
    n = encode(tok, longw, 0, 0, ids, 128);
    CHECK(n == 1 && ids[0] == 100);
    /* decode drops the first phantom space */
    n = encode(tok, "hello world", 0, 0, ids, 128);
    char *out = NULL;
    llm_err err = {0};
    CHECK(llm_tokenizer_decode(tok, ids, n, 0, &out, NULL, &err) == LLM_OK);
    CHECK(out && strcmp(out, "hello world") == 0);
    free(out);
    unload(&l);
}

/* Seeded random strings (text-like code points mixed with stray bytes) through every vocab:
 * each encode succeeds or reports invalid UTF-8, and its ids decode. Meant for the sanitizer
 * builds, where a bad index or leak in any pre-tokenizer path shows up. */
static uint32_t rng_next(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*st >> 33);
}

static void test_random_text(const char *dir) {
    static const char *const names[] = {"llama-spm", "phi-3", "baichuan", "gpt-2", "falcon", "deepseek-llm",
                                        "deepseek-coder", "starcoder", "refact", "mpt", "gpt-neox", "bert-bge"};
    static const char *const pool[] = {"a", "Z", "7", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", ".", "!!", "\xC2\xBD",
                                       "\xC2\xB2", "\xD0\xB3", "\xC3\xA9", "e\xCC\x81", "\xC4\xB0", "\xE4\xB8\xAD",
                                       "\xEF\xBC\x81", "\xE3\x80\x80", "\xF0\x9F\xA6\x99", "\xE2\x80\x8D",
                                       "\xD9\xA3", "\xE0\xA4\x95\xE0\xA5\x8D", "\xEA\xB0\x80", "\xE2\x96\x81",
                                       "\xC2\x85", "\x01", "[CLS]", "<s>", "<|endoftext|>"};
    uint64_t st = 12345;
    for (size_t v = 0; v < sizeof names / sizeof names[0]; v++) {
        loaded l;
        if (load(dir, names[v], &l)) continue;
        for (int it = 0; it < 300; it++) {
            char buf[512];
            size_t n = 0, parts = rng_next(&st) % 40;
            for (size_t k = 0; k < parts; k++) {
                uint32_t r = rng_next(&st);
                if (r % 16 == 0) { /* a stray byte, often not UTF-8 */
                    buf[n++] = (char)(r >> 8);
                    continue;
                }
                const char *p = pool[(r >> 4) % (sizeof pool / sizeof pool[0])];
                size_t pl = strlen(p);
                memcpy(buf + n, p, pl);
                n += pl;
            }
            int32_t *ids = NULL;
            size_t ni = 0;
            llm_err err = {0};
            llm_status es = llm_tokenizer_encode(l.tok, buf, n, (int)(it & 1), (int)(it & 2), &ids, &ni, &err);
            CHECK(es == LLM_OK || es == LLM_ERR_INVALID_UTF8);
            if (es == LLM_OK) {
                char *out = NULL;
                CHECK(llm_tokenizer_decode(l.tok, ids, ni, 1, &out, NULL, &err) == LLM_OK);
                free(out);
            }
            free(ids);
        }
        unload(&l);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_tokenizer_unit GGUF_VOCAB_DIR\n");
        return 2;
    }
    test_llama_spm(argv[1]);
    test_gpt2(argv[1]);
    test_bpe_pretokenizers(argv[1]);
    test_wordpiece(argv[1]);
    test_random_text(argv[1]);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
