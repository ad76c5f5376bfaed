/* Driver of tests/grammar/test_grammar_walk.py: lib/grammar seen from outside, its outputs checked
 * there against the Python reference (gbnf_ref.py).
 *
 *   grammar_walk parse GRAMMAR              "OK", or "ERR <status> <message>" (exit 2)
 *   grammar_walk walk GRAMMAR VOCAB SEED N MAXLEN
 *       N random walks: from the start, a random token the mask allows, accepted, until the
 *       grammar must end, or may end and a coin says stop; past MAXLEN bytes the walk prefers
 *       bytes that close things ("}])\n...) so that it finishes. Prints "W <hex>" for each
 *       finished walk and "U <hex>" for one given up (8 x MAXLEN bytes). On the way it checks that
 *       the mask equals llm_gmatcher_allows for sampled tokens and that every allowed token is
 *       accepted; a mismatch is printed on stderr and the exit status is 3.
 *   grammar_walk replay FILE...             runs each file through the body of the libFuzzer target
 *       tests/fuzz/fuzz_gbnf.c (GRAMMAR NUL BYTES), which aborts on a broken invariant
 *   grammar_walk check GRAMMAR              reads hex lines on stdin; prints for each "<p><c>":
 *       p = 1 when the bytes are allowed (a prefix of the language, fed in random pieces),
 *       c = 1 when they are moreover a whole string of the language (can_end)
 * GRAMMAR and VOCAB are files; VOCAB has one token per line, its bytes in hex. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "read_file.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ull;
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a hex line into out (capacity >= strlen(line) / 2); returns the byte count or -1. */
static long unhex(const char *line, char *out) {
    size_t n = 0;
    for (const char *s = line; *s && *s != '\n' && *s != '\r'; s += 2) {
        const int a = hexval(s[0]), b = a >= 0 ? hexval(s[1]) : -1;
        if (a < 0 || b < 0) return -1;
        out[n++] = (char)(a << 4 | b);
    }
    return (long)n;
}

static void print_hex(const char *tag, const char *s, size_t n) {
    printf("%s ", tag);
    for (size_t k = 0; k < n; k++) printf("%02x", (unsigned char)s[k]);
    putchar('\n');
}

static llm_grammar *load_grammar(const char *path) {
    size_t len = 0;
    char *text = test_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    llm_grammar *g = NULL;
    llm_err err = {0};
    const llm_status st = llm_grammar_parse(text, len, NULL, &g, &err);
    free(text);
    if (st != LLM_OK) {
        printf("ERR %d %s\n", (int)st, err.msg);
        exit(2);
    }
    return g;
}

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

static void load_vocab(const char *path, vocab *v) {
    size_t len = 0;
    char *text = test_read_file(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if ((size_t)v->n == cap) {
            cap = cap ? cap * 2 : 1024;
            v->piece = realloc(v->piece, cap * sizeof *v->piece);
            v->len = realloc(v->len, cap * sizeof *v->len);
            if (!v->piece || !v->len) exit(1);
        }
        char *buf = malloc(strlen(line) / 2 + 1);
        const long n = buf ? unhex(line, buf) : -1;
        if (n < 0) {
            fprintf(stderr, "bad vocabulary line: %s\n", line);
            exit(1);
        }
        v->piece[v->n] = buf;
        v->len[v->n] = (size_t)n;
        v->n++;
    }
    free(text);
}

static int walk_main(int argc, char **argv) {
    if (argc != 7) return 1;
    llm_grammar *g = load_grammar(argv[2]);
    vocab v = {0};
    load_vocab(argv[3], &v);
    g_rng ^= strtoull(argv[4], NULL, 10) * 0x2545F4914F6CDD1Dull;
    const long walks = strtol(argv[5], NULL, 10);
    const size_t max_len = (size_t)strtoul(argv[6], NULL, 10);
    llm_token_trie *trie = NULL;
    llm_gmatcher *m = NULL;
    llm_err err = {0};
    if (llm_token_trie_build(v.n, vocab_piece, &v, &trie, &err) != LLM_OK ||
        llm_gmatcher_new(g, &m, &err) != LLM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    uint8_t *mask = malloc((size_t)v.n + 1);
    int32_t *allowed = malloc(((size_t)v.n + 1) * sizeof *allowed);
    size_t longest = 0;
    for (int32_t t = 0; t < v.n; t++)
        if (v.len[t] > longest) longest = v.len[t];
    char *out = malloc(max_len * 8 + longest + 1);
    int bad = 0;
    static const char closers[] = "\"}])\n;=.";
    for (long w = 0; w < walks && !bad; w++) {
        llm_gmatcher_reset(m);
        size_t n = 0;
        int finished = 0;
        while (n < max_len * 8) {
            if (llm_gmatcher_must_end(m) || (llm_gmatcher_can_end(m) && (n > max_len || rnd_below(8) == 0))) {
                finished = llm_gmatcher_can_end(m);
                break;
            }
            if (llm_gmatcher_fill_mask(m, trie, mask, &err) != LLM_OK) {
                fprintf(stderr, "fill_mask: %s\n", err.msg);
                bad = 1;
                break;
            }
            size_t n_allowed = 0;
            for (int32_t t = 0; t < v.n; t++)
                if (mask[t]) allowed[n_allowed++] = t;
            for (int k = 0; k < 24; k++) { /* the mask against the one-token question */
                const int32_t t = (int32_t)rnd_below((size_t)v.n);
                const int a = llm_gmatcher_allows(m, v.piece[t], v.len[t], &err);
                if (a != (v.len[t] ? mask[t] : 1)) {
                    fprintf(stderr, "walk %ld at %zu bytes: mask[%d] = %d but allows = %d\n", w, n, t, mask[t], a);
                    bad = 1;
                }
            }
            if (n_allowed == 0) {
                fprintf(stderr, "walk %ld: stuck after %zu bytes (no token allowed, cannot end)\n", w, n);
                print_hex("S", out, n);
                bad = 1;
                break;
            }
            int32_t pick = allowed[rnd_below(n_allowed)];
            if (n > max_len && rnd_below(4) != 0) { /* steer towards an end */
                for (const char *c = closers; *c; c++) {
                    int32_t found = -1;
                    for (size_t k = 0; k < n_allowed && found < 0; k++)
                        if (v.len[allowed[k]] == 1 && v.piece[allowed[k]][0] == *c) found = allowed[k];
                    if (found >= 0 && rnd_below(3) != 0) {
                        pick = found;
                        break;
                    }
                }
            }
            if (llm_gmatcher_accept(m, v.piece[pick], v.len[pick], &err) != LLM_OK) {
                fprintf(stderr, "walk %ld: token %d allowed by the mask but not accepted: %s\n", w, pick, err.msg);
                bad = 1;
                break;
            }
            memcpy(out + n, v.piece[pick], v.len[pick]);
            n += v.len[pick];
        }
        print_hex(finished ? "W" : "U", out, n);
    }
    free(mask);
    free(allowed);
    free(out);
    for (int32_t t = 0; t < v.n; t++) free(v.piece[t]);
    free(v.piece);
    free(v.len);
    llm_gmatcher_free(m);
    llm_token_trie_free(trie);
    llm_grammar_free(g);
    return bad ? 3 : 0;
}

static int check_main(int argc, char **argv) {
    if (argc != 3) return 1;
    llm_grammar *g = load_grammar(argv[2]);
    llm_gmatcher *m = NULL;
    llm_err err = {0};
    if (llm_gmatcher_new(g, &m, &err) != LLM_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    size_t cap = 1 << 16;
    char *line = malloc(cap), *buf = malloc(cap);
    int rc = 0;
    while (fgets(line, (int)cap, stdin)) {
        const long n = unhex(line, buf);
        if (n < 0) {
            fprintf(stderr, "bad line\n");
            rc = 1;
            break;
        }
        llm_gmatcher_reset(m);
        int ok = 1;
        for (size_t at = 0; at < (size_t)n && ok;) { /* random pieces: UTF-8 split anywhere */
            size_t k = 1 + rnd_below(4);
            if (k > (size_t)n - at) k = (size_t)n - at;
            const int a = llm_gmatcher_allows(m, buf + at, k, &err);
            if (a < 0) {
                fprintf(stderr, "allows: %s\n", err.msg);
                rc = 1;
                ok = 0;
                break;
            }
            if (!a) ok = 0;
            else if (llm_gmatcher_accept(m, buf + at, k, &err) != LLM_OK) {
                fprintf(stderr, "accept after allows: %s\n", err.msg);
                rc = 3;
                ok = 0;
            }
            at += k;
        }
        printf("%d%d\n", ok, ok && llm_gmatcher_can_end(m));
    }
    free(line);
    free(buf);
    llm_gmatcher_free(m);
    llm_grammar_free(g);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* tests/fuzz/fuzz_gbnf.c */

static int replay_main(int argc, char **argv) {
    for (int k = 2; k < argc; k++) {
        size_t len = 0;
        char *data = test_read_file(argv[k], &len);
        if (!data) {
            fprintf(stderr, "cannot read %s\n", argv[k]);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        free(data);
    }
    puts("OK");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "replay") == 0) return replay_main(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "parse") == 0) {
        llm_grammar_free(load_grammar(argv[2]));
        puts("OK");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "walk") == 0) return walk_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return check_main(argc, argv);
    fprintf(stderr,
            "usage: grammar_walk parse GRAMMAR | walk GRAMMAR VOCAB SEED N MAXLEN | check GRAMMAR < hex lines | "
            "replay FILE...\n");
    return 1;
}
