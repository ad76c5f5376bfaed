/* Seeded random inputs through the public tokenizer calls of a real model: random bytes
 * (mostly invalid UTF-8), random code points, fragments of special tokens and whitespace runs.
 * Every call must return OK or INVALID_UTF8 (and nothing else), never crash (the ASan build runs
 * this too), and valid text must decode back to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t put_cp(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static const char *k_frags[] = {"<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<", ">", "<start_of",
                                "\n", "  ", "\t\t", " ", "\xe2\x96\x81", "<0x41>", "<unused5>", "'s", "123456"};

static size_t make_input(char *buf, size_t cap, int kind) {
    size_t n = 0, target = next() % (cap / 8);
    while (n + 8 < cap && n < target) {
        if (kind == 0) {
            buf[n++] = (char)(next() & 0xff);
        } else {
            uint64_t r = next() % 10;
            if (r < 3) {
                const char *f = k_frags[next() % (sizeof k_frags / sizeof k_frags[0])];
                size_t l = strlen(f);
                if (n + l >= cap) break;
                memcpy(buf + n, f, l);
                n += l;
            } else {
                uint32_t cp;
                do {
                    uint64_t plane = next() % 8;
                    cp = plane < 4 ? (uint32_t)(0x20 + next() % 0x60)
                                   : plane < 7 ? (uint32_t)(next() % 0x10000) : (uint32_t)(0x10000 + next() % 0x100000);
                } while ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0);
                n += put_cp(buf + n, cp);
            }
        }
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_tokenize_fuzz MODEL [iterations]\n");
        return 1;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 3000;
    llm_model *m = NULL;
    llm_options *o = llm_options_new();
    CHECK(llm_model_load_file(argv[1], o, &m) == LLM_OK, "load: %s", llm_last_error(o));
    llm_options_free(o);
    if (!m) return check_summary("test_tokenize_fuzz");
    static char in[4096], out[16384];
    static int32_t toks[8192];
    int bad_status = 0, bad_roundtrip = 0, invalid = 0;
    for (int it = 0; it < iters; it++) {
        int kind = it % 3 == 0 ? 0 : 1;
        size_t n = make_input(in, sizeof in, kind);
        int flags = (int)(next() % 4);
        size_t nt = 0;
        llm_status st = llm_tokenize(m, in, (ptrdiff_t)n, flags, toks, 8192, &nt);
        if (st == LLM_ERR_INVALID_UTF8) {
            invalid++;
            continue;
        }
        if (st != LLM_OK) {
            bad_status++;
            continue;
        }
        size_t len = 0, skip = 0;
        if ((flags & LLM_TOKENIZE_ADD_BOS) && nt > 0 && toks[0] == llm_token_bos(m)) skip = 1; /* added, not typed */
        st = llm_detokenize(m, toks + skip, nt - skip, (flags & LLM_TOKENIZE_SPECIAL) ? LLM_DETOKENIZE_SPECIAL : 0, out,
                            sizeof out, &len);
        if (st != LLM_OK) {
            bad_status++;
            continue;
        }
        /* U+2581 decodes as a space in SentencePiece vocabularies, as in the reference */
        {
            int has_meta = strstr(in, "\xe2\x96\x81") != NULL;
            if (!has_meta && (len != n || memcmp(out, in, n) != 0)) {
                if (bad_roundtrip++ < 5) {
                    fprintf(stderr, "round trip differs for input %d (%zu bytes, flags %d):\n[%.*s]\n[%.*s]\n", it, n,
                            flags, (int)n, in, (int)len, out);
                }
            }
        }
        for (size_t i = 0; i < nt; i++) {
            char piece[256];
            size_t need;
            llm_token_to_piece(m, toks[i], 0, piece, sizeof piece, &need);
        }
    }
    CHECK(bad_status == 0, "%d calls returned an unexpected status", bad_status);
    CHECK(bad_roundtrip == 0, "%d valid inputs did not round-trip", bad_roundtrip);
    CHECK(invalid > 0, "random bytes produced invalid UTF-8 errors (%d)", invalid);
    printf("%d inputs, %d invalid UTF-8\n", iters, invalid);
    llm_model_free(m);
    return check_summary("test_tokenize_fuzz");
}
