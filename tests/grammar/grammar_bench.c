/* Timing of lib/grammar on a real vocabulary (not a test):
 *
 *   python3 tests/grammar/vocab_from_hf.py ../shared/testdata/tokenizers/hf/gemma3/tokenizer.json /tmp/gemma3.hex
 *   build/grammar_bench ../shared/testdata/grammars/json.gbnf /tmp/gemma3.hex '{"a": ' '{"a": "xy' '{"a": 12'
 *
 * For each prefix (the output so far), after accepting it:
 *   allows/token   llm_gmatcher_allows over every token of the vocabulary, per call (warm caches)
 *   mask cold      a new matcher: accept the prefix, one fill_mask (every state computed anew)
 *   mask warm      fill_mask with the transitions cached but the mask slots emptied
 *   mask cached    fill_mask of a position whose mask is kept
 * and how many tokens the mask allows. Times are the minimum over repetitions (the least
 * disturbed by other work on the machine), the cold one over 5 fresh matchers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"
#include "read_file.h"

typedef struct vocab {
    char **piece;
    size_t *len;
    int32_t n;
} vocab;

static const char *vocab_piece(void *ud, int32_t id, size_t *len) {
    const vocab *v = ud;
    *len = v->len[id];
    return v->piece[id];
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int load_vocab(const char *path, vocab *v) {
    size_t len = 0;
    char *text = test_read_file(path, &len);
    if (!text) return -1;
    size_t lines = 1;
    for (size_t k = 0; k < len; k++) lines += text[k] == '\n';
    v->piece = calloc(lines, sizeof *v->piece);
    v->len = calloc(lines, sizeof *v->len);
    if (!v->piece || !v->len) return -1;
    char *s = text;
    while (s < text + len) {
        char *e = strchr(s, '\n');
        if (!e) e = text + len;
        const size_t n = (size_t)(e - s) / 2;
        char *p = malloc(n + 1);
        if (!p) return -1;
        for (size_t k = 0; k < n; k++) p[k] = (char)(hexval(s[2 * k]) << 4 | hexval(s[2 * k + 1]));
        v->piece[v->n] = p;
        v->len[v->n++] = n;
        s = e + 1;
    }
    free(text);
    return 0;
}

static double now_ms(void) { return (double)llm_now_ns() / 1e6; }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: grammar_bench GRAMMAR VOCAB_HEX PREFIX...\n");
        return 1;
    }
    size_t glen = 0;
    char *gtext = test_read_file(argv[1], &glen);
    vocab v = {0};
    if (!gtext || load_vocab(argv[2], &v)) {
        fprintf(stderr, "cannot read the grammar or the vocabulary\n");
        return 1;
    }
    llm_err err = {0};
    llm_grammar *g = NULL;
    llm_token_trie *trie = NULL;
    double t0 = now_ms();
    if (llm_grammar_parse(gtext, glen, NULL, &g, &err) != LLM_OK) {
        fprintf(stderr, "grammar: %s\n", err.msg);
        return 1;
    }
    const double t_parse = now_ms() - t0;
    t0 = now_ms();
    if (llm_token_trie_build(v.n, vocab_piece, &v, &trie, &err) != LLM_OK) {
        fprintf(stderr, "trie: %s\n", err.msg);
        return 1;
    }
    printf("vocabulary: %d tokens; grammar parse %.3f ms, tree build %.1f ms\n", v.n, t_parse, now_ms() - t0);
    uint8_t *mask = malloc((size_t)v.n);
    for (int a = 3; a < argc; a++) {
        const char *prefix = argv[a];
        const size_t plen = strlen(prefix);
        llm_gmatcher *m = NULL;
        double cold = 1e30;
        for (int r = 0; r < 5; r++) {
            llm_gmatcher_free(m);
            m = NULL;
            t0 = now_ms();
            if (llm_gmatcher_new(g, &m, &err) != LLM_OK || llm_gmatcher_accept(m, prefix, plen, &err) != LLM_OK ||
                llm_gmatcher_fill_mask(m, trie, mask, &err) != LLM_OK) {
                fprintf(stderr, "prefix %s: %s\n", prefix, err.msg);
                return 1;
            }
            const double t = now_ms() - t0;
            if (t < cold) cold = t;
        }
        long n_allowed = 0;
        for (int32_t t = 0; t < v.n; t++) n_allowed += mask[t];
        /* warm: transitions cached, masks not */
        double warm = 1e30, cached = 1e30;
        for (int r = 0; r < 20; r++) {
            for (int k = 0; k < LLM_GM_MASK_SLOTS; k++) m->masks[k].trie_id = 0;
            t0 = now_ms();
            llm_gmatcher_fill_mask(m, trie, mask, &err);
            const double t = now_ms() - t0;
            if (t < warm) warm = t;
        }
        for (int r = 0; r < 20; r++) {
            t0 = now_ms();
            llm_gmatcher_fill_mask(m, trie, mask, &err);
            const double t = now_ms() - t0;
            if (t < cached) cached = t;
        }
        /* one-token questions over the whole vocabulary */
        long yes = 0;
        for (int32_t t = 0; t < v.n; t++) yes += llm_gmatcher_allows(m, v.piece[t], v.len[t], &err) == 1;
        double per_tok_ns = 1e30;
        for (int r = 0; r < 5; r++) {
            t0 = now_ms();
            for (int32_t t = 0; t < v.n; t++) yes += llm_gmatcher_allows(m, v.piece[t], v.len[t], &err) == 1;
            const double t = (now_ms() - t0) * 1e6 / v.n;
            if (t < per_tok_ns) per_tok_ns = t;
        }
        printf("prefix %-14s allowed %6ld  allows/token %6.1f ns  mask cold %7.3f ms  warm %7.3f ms  cached %6.3f ms\n",
               prefix, n_allowed, per_tok_ns, cold, warm, cached);
        llm_gmatcher_free(m);
    }
    free(mask);
    for (int32_t t = 0; t < v.n; t++) free(v.piece[t]);
    free(v.piece);
    free(v.len);
    free(gtext);
    llm_token_trie_free(trie);
    llm_grammar_free(g);
    return 0;
}
