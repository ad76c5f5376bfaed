/* libFuzzer target for lib/grammar: the GBNF parser and the matcher. Build with -DLLM_FUZZ=ON
 * using clang (tests/grammar.cmake); run with the shipped grammars as seeds:
 *   build-gram-fuzz/tests/fuzz_gbnf -dict=tests/fuzz/gbnf.dict -timeout=10 CORPUS ../shared/testdata/grammars
 *
 * Input: GRAMMAR NUL BYTES. Without a NUL byte the whole input is the grammar and the bytes fed
 * are a fixed probe (JSON-ish text with multi-byte and invalid UTF-8). The grammar is copied to an
 * exact-size buffer so that AddressSanitizer sees any read past its end. If it parses, the bytes
 * are fed in pieces of 1..4 (allowed pieces accepted, refused ones skipped) while the answers are
 * checked against each other: allows agrees with the whole-vocabulary mask of a small vocabulary,
 * accept succeeds exactly when allows said yes, can_end implies no unfinished sequence. The
 * matcher's tables are made small so that their emptying and bounds are exercised and one
 * input stays fast. Checked besides "no crash, no leak, no UB, no hang": statuses are ones the
 * header allows and messages are NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PROBE[] = "{\"a\": [1, -2.5e3, \"x\\u00e9\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"], \"b\": true}\n"
                            "( 1+2 )=3\n\xff\xc3(\xed\xa0\x80 ok";

/* a small vocabulary: every byte, a few multi-byte pieces and fragments */
static char g_pieces[256 + 16][8];
static size_t g_lens[256 + 16];
static llm_token_trie *g_trie;

static const char *piece(void *ud, int32_t id, size_t *len) {
    (void)ud;
    *len = g_lens[id];
    return g_pieces[id];
}

static void init_vocab(void) {
    static const char *extra[16] = {"\"", "\": ", "true", "\xc3\xa9", "\xc3", "\xa9", "\xe6\x97\xa5", "\xe6\x97",
                                    "\xf0\x9f\x98\x80", "\x9f\x98", "ab", "{\"", "\n", "1.5", "\\u", ""};
    for (int b = 0; b < 256; b++) g_pieces[b][0] = (char)b, g_lens[b] = 1;
    for (int k = 0; k < 16; k++) {
        g_lens[256 + k] = strlen(extra[k]);
        memcpy(g_pieces[256 + k], extra[k], g_lens[256 + k]);
    }
    if (llm_token_trie_build(256 + 16, piece, NULL, &g_trie, NULL) != LLM_OK) abort();
}

static void check_err(llm_status st, const llm_err *err) {
    if (st != LLM_OK && st != LLM_ERR_FORMAT && st != LLM_ERR_LIMIT && st != LLM_ERR_OUT_OF_MEMORY &&
        st != LLM_ERR_INVALID_ARGUMENT)
        abort();
    if (st != LLM_OK && memchr(err->msg, 0, sizeof err->msg) == NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_trie) init_vocab();
    const uint8_t *nul = memchr(data, 0, size);
    const size_t glen = nul ? (size_t)(nul - data) : size;
    const uint8_t *bytes = nul ? nul + 1 : (const uint8_t *)PROBE;
    const size_t n = nul ? size - glen - 1 : sizeof PROBE - 1;
    char *text = malloc(glen ? glen : 1);
    if (!text) return 0;
    if (glen) memcpy(text, data, glen);
    llm_grammar *g = NULL;
    llm_err err = {0};
    llm_status st = llm_grammar_parse(text, glen, NULL, &g, &err);
    check_err(st, &err);
    if ((st == LLM_OK) != (g != NULL)) abort();
    free(text);
    if (!g) return 0;
    llm_gmatcher *m = NULL;
    st = llm_gmatcher_new(g, &m, &err);
    check_err(st, &err);
    if (m) {
        m->limit[LLM_GM_T_NODES] = 4096;
        m->limit[LLM_GM_T_SETS] = 1024;
        m->limit[LLM_GM_T_MEMBERS] = 16384;
        m->limit[LLM_GM_T_POS] = 1024;
        uint8_t mask[256 + 16];
        size_t k = 0, steps = 0;
        while (k < n && steps++ < 256) {
            const size_t len = 1 + (k * 7 + steps) % 4 > n - k ? n - k : 1 + (k * 7 + steps) % 4;
            const int a = llm_gmatcher_allows(m, (const char *)bytes + k, len, &err);
            if (a < 0) {
                check_err(err.code, &err);
                break;
            }
            if (steps % 16 == 1) { /* the mask agrees with the one-token question */
                st = llm_gmatcher_fill_mask(m, g_trie, mask, &err);
                check_err(st, &err);
                if (st != LLM_OK) break;
                for (int32_t t = 0; t < 256 + 16; t += 3) {
                    const int b = llm_gmatcher_allows(m, g_pieces[t], g_lens[t], &err);
                    if (b >= 0 && b != (g_lens[t] ? mask[t] : 1)) abort();
                }
            }
            st = llm_gmatcher_accept(m, (const char *)bytes + k, len, &err);
            if ((st == LLM_OK) != (a == 1) && st != LLM_ERR_LIMIT && st != LLM_ERR_OUT_OF_MEMORY) abort();
            if (llm_gmatcher_can_end(m) && !llm_gmatcher_allows(m, "", 0, &err)) abort();
            (void)llm_gmatcher_must_end(m);
            k += len;
        }
        llm_gmatcher_reset(m);
        (void)llm_gmatcher_can_end(m);
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);
    return 0;
}
