/* re.search for literal values (enum/const strings beside a "pattern", and format checks): the
 * tree is compiled to a Thompson NFA and run over the code points with state sets, so the cost
 * is bounded by states x length (no backtracking blow-up). Python's '$' matches at the end and
 * before a final newline; '^' and \A only at the start; \Z only at the end. */
#include <stdlib.h>
#include <string.h>

#include "schema/schema_regex.h"

#define NFA_MAX_STATES 20000
#define NFA_MAX_WORK 20000000

typedef enum { N_CHAR, N_SPLIT, N_BOL, N_EOL, N_EOS, N_MATCH } nk;

typedef struct nst {
    nk k;
    const rx *set; /* N_CHAR */
    int out, out1;
} nst;

typedef struct nfa {
    nst *st;
    size_t n;
    bool overflow;
} nfa;

static int add(nfa *a, nk k, const rx *set, int out, int out1) {
    if (a->overflow || a->n >= NFA_MAX_STATES) {
        a->overflow = true;
        return 0;
    }
    a->st[a->n] = (nst){k, set, out, out1};
    return (int)a->n++;
}

/* The start state of r followed by next. */
static int compile(nfa *a, const rx *r, int next, size_t depth) {
    if (a->overflow || depth > 1000) {
        a->overflow = true;
        return 0;
    }
    switch (r->k) {
    case RX_EMPTY: return next;
    case RX_NEVER: return add(a, N_CHAR, NULL, next, -1);
    case RX_SET: return add(a, N_CHAR, r, next, -1);
    case RX_BOL: return add(a, N_BOL, NULL, next, -1);
    case RX_EOL: return add(a, N_EOL, NULL, next, -1);
    case RX_EOS: return add(a, N_EOS, NULL, next, -1);
    case RX_SEQ:
        for (size_t i = r->n; i-- > 0;) next = compile(a, r->kids[i], next, depth + 1);
        return next;
    case RX_ALT: {
        if (r->n == 0) return next;
        int s = compile(a, r->kids[r->n - 1], next, depth + 1);
        for (size_t i = r->n - 1; i-- > 0;) s = add(a, N_SPLIT, NULL, compile(a, r->kids[i], next, depth + 1), s);
        return s;
    }
    case RX_REP: {
        int cur = next;
        if (r->max < 0) {
            int loop = add(a, N_SPLIT, NULL, -1, next);
            int body = compile(a, r->kids[0], loop, depth + 1);
            if (!a->overflow) a->st[loop].out = body;
            cur = loop;
        } else {
            for (int64_t i = r->min; i < r->max && !a->overflow; i++)
                cur = add(a, N_SPLIT, NULL, compile(a, r->kids[0], cur, depth + 1), next);
        }
        for (int64_t i = 0; i < r->min && !a->overflow; i++) cur = compile(a, r->kids[0], cur, depth + 1);
        return cur;
    }
    }
    return next;
}

typedef struct run {
    const nfa *a;
    const uint32_t *cps;
    size_t len;
    unsigned *mark;
    unsigned gen;
    int *stack;
} run;

static void add_state(run *r, int *list, size_t *n, int s, size_t pos) {
    size_t top = 0;
    r->stack[top++] = s;
    while (top) {
        int x = r->stack[--top];
        if (x < 0 || r->mark[x] == r->gen) continue;
        r->mark[x] = r->gen;
        const nst *st = &r->a->st[x];
        switch (st->k) {
        case N_SPLIT:
            r->stack[top++] = st->out1;
            r->stack[top++] = st->out;
            break;
        case N_BOL:
            if (pos == 0) r->stack[top++] = st->out;
            break;
        case N_EOL:
            if (pos == r->len || (pos + 1 == r->len && r->cps[pos] == '\n')) r->stack[top++] = st->out;
            break;
        case N_EOS:
            if (pos == r->len) r->stack[top++] = st->out;
            break;
        default: list[(*n)++] = x;
        }
    }
}

int rx_search(const rx *re, const char *s, size_t slen, bool upper) {
    nfa a = {.st = malloc(NFA_MAX_STATES * sizeof(nst))};
    uint32_t *cps = malloc((slen + 1) * sizeof *cps);
    if (!a.st || !cps) {
        free(a.st);
        free(cps);
        return -1;
    }
    size_t len = 0;
    for (size_t i = 0; i < slen;) i += sc_utf8_decode(s + i, slen - i, &cps[len++]);
    int match = add(&a, N_MATCH, NULL, -1, -1);
    int start = compile(&a, re, match, 0);
    int result = 0;
    if (a.overflow || (a.n + 1) * (len + 1) > NFA_MAX_WORK) result = -1;
    int *cur = NULL, *nxt = NULL;
    run r = {.a = &a, .cps = cps, .len = len};
    if (result == 0) {
        cur = malloc(a.n * sizeof *cur);
        nxt = malloc(a.n * sizeof *nxt);
        r.mark = calloc(a.n, sizeof *r.mark);
        r.stack = malloc((2 * a.n + 2) * sizeof *r.stack);
        if (!cur || !nxt || !r.mark || !r.stack) result = -1;
    }
    if (result == 0) {
        size_t nc = 0;
        r.gen = 1;
        for (size_t pos = 0;; pos++) {
            add_state(&r, cur, &nc, start, pos); /* re.search: a match may start anywhere */
            bool found = false;
            for (size_t i = 0; i < nc && !found; i++) found = a.st[cur[i]].k == N_MATCH;
            if (found) {
                result = 1;
                break;
            }
            if (pos == len) break;
            r.gen++;
            size_t nn = 0;
            for (size_t i = 0; i < nc; i++) {
                const nst *st = &a.st[cur[i]];
                if (st->k == N_CHAR && st->set && cs_has(upper ? &st->set->upper : &st->set->lower, cps[pos]))
                    add_state(&r, nxt, &nn, st->out, pos + 1);
            }
            int *t = cur;
            cur = nxt;
            nxt = t;
            nc = nn;
        }
    }
    free(cur);
    free(nxt);
    free(r.mark);
    free(r.stack);
    free(a.st);
    free(cps);
    return result;
}
