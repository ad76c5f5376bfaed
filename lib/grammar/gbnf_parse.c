/* GBNF text -> compiled grammar (grammar_internal.h).
 *
 * The notation is llama.cpp's: `name ::= alternatives`; a newline ends a rule except inside ( ),
 * after `|` or right after `::=`; `#` starts a comment; items are "literals", [classes] and
 * [^classes] with ranges, `.`, (groups) and rule names, each followed by any number of * + ?
 * {m} {m,} {m,n}, which apply to everything before them in the item (so "ab"* repeats "ab").
 *
 * Groups with several alternatives and repeated items become helper rules, so that the matcher
 * only ever sees rules, alternatives and elements:
 *   X*       S ::= X S | ()                  (S is in tail position: the stack does not grow)
 *   X{m,}    X ... X S                       (m copies)
 *   X{m,n}   X ... X O(n-m),  O(k) ::= X O(k-1) | ()   (nested, never X? X? X?, whose
 *                                                       ambiguity would multiply the stacks)
 * A grammar the matcher could loop on is rejected here: a rule that can reach itself before
 * consuming a character (left recursion, including an unbounded repetition of something that
 * can match nothing). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_internal.h"

typedef struct u32vec {
    uint32_t *v;
    uint32_t n, cap;
} u32vec;

typedef struct prule {
    u32vec body;      /* the alternatives, each ended by END */
    uint32_t n_alts;
    size_t at;        /* named: where the name is defined (or first referenced, until defined);
                       * helper: where the item it stands for starts */
    size_t ref_at;    /* named: the first reference */
    uint32_t name_at; /* named: offset of the name in the text */
    uint32_t name_len;/* 0 for a helper rule */
    uint8_t defined;
    uint8_t referenced;
} prule;

typedef struct parser {
    const char *t;
    size_t len, i;
    prule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *names; /* open addressing over named rules: index + 1, 0 = empty */
    uint32_t names_cap;
    llm_grange *ranges;
    uint32_t n_ranges, cap_ranges;
    u32vec class_start; /* start of each class in ranges */
    uint32_t any_class; /* the class of `.`, UINT32_MAX until used */
    size_t total;       /* elements, rules and ranges so far, against LLM_GRAMMAR_MAX_ELEMENTS */
    int depth;
    llm_err *err;
    llm_status status; /* the first error */
} parser;

#define UNBOUNDED UINT32_MAX

/* ---- errors ------------------------------------------------------------------------------- */
static void where(const parser *p, size_t at, unsigned long *line, unsigned long *col) {
    unsigned long l = 1, c = 1;
    for (size_t k = 0; k < at && k < p->len; k++) {
        const unsigned char b = (unsigned char)p->t[k];
        if (b == '\n') {
            l++;
            c = 1;
        } else if ((b & 0xC0) != 0x80) { /* columns count code points, not bytes */
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int fail_at(parser *p, size_t at, llm_status code, const char *fmt, ...) LLM_PRINTF(4, 5);
static int fail_at(parser *p, size_t at, llm_status code, const char *fmt, ...) {
    if (p->status != LLM_OK) return -1;
    char what[LLM_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    unsigned long line, col;
    where(p, at, &line, &col);
    p->status = llm_err_set(p->err, code, "line %lu, column %lu: %s", line, col, what);
    return -1;
}
#define FAIL(p, ...) fail_at((p), (p)->i, LLM_ERR_FORMAT, __VA_ARGS__)

static int oom(parser *p) {
    if (p->status == LLM_OK) p->status = llm_err_set(p->err, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    return -1;
}

/* Counts n more units of compiled size. */
static int budget(parser *p, size_t n) {
    p->total += n;
    if (p->total > LLM_GRAMMAR_MAX_ELEMENTS)
        return fail_at(p, p->i, LLM_ERR_LIMIT, "the grammar compiles to more than %u elements",
                       LLM_GRAMMAR_MAX_ELEMENTS);
    return 0;
}

static int vec_push(parser *p, u32vec *v, uint32_t x) {
    if (v->n == v->cap) {
        const uint32_t cap = v->cap ? v->cap * 2 : 16;
        uint32_t *nv = realloc(v->v, (size_t)cap * sizeof *nv);
        if (!nv) return oom(p);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

static int emit(parser *p, u32vec *v, uint32_t x) {
    if (budget(p, 1)) return -1;
    return vec_push(p, v, x);
}

/* ---- rules -------------------------------------------------------------------------------- */
static int new_rule(parser *p, uint32_t *out) {
    if (budget(p, 1)) return -1;
    if (p->n_rules == p->cap_rules) {
        const uint32_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
        prule *nr = realloc(p->rules, (size_t)cap * sizeof *nr);
        if (!nr) return oom(p);
        p->rules = nr;
        p->cap_rules = cap;
    }
    memset(&p->rules[p->n_rules], 0, sizeof p->rules[0]);
    *out = p->n_rules++;
    return 0;
}

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < n; k++) h = (h ^ (uint8_t)s[k]) * 16777619u;
    return h;
}

/* The named rule text[at .. at + n), created (undefined) when first seen. */
static int named_rule(parser *p, size_t at, size_t n, uint32_t *out) {
    if (p->names_cap == 0 || (p->n_rules + 1) * 2 > p->names_cap) {
        const uint32_t cap = p->names_cap ? p->names_cap * 2 : 256;
        uint32_t *nt = calloc(cap, sizeof *nt);
        if (!nt) return oom(p);
        for (uint32_t k = 0; k < p->names_cap; k++) {
            const uint32_t r = p->names[k];
            if (!r) continue;
            const prule *pr = &p->rules[r - 1];
            uint32_t h = name_hash(p->t + pr->name_at, pr->name_len) & (cap - 1);
            while (nt[h]) h = (h + 1) & (cap - 1);
            nt[h] = r;
        }
        free(p->names);
        p->names = nt;
        p->names_cap = cap;
    }
    uint32_t h = name_hash(p->t + at, n) & (p->names_cap - 1);
    for (; p->names[h]; h = (h + 1) & (p->names_cap - 1)) {
        const prule *pr = &p->rules[p->names[h] - 1];
        if (pr->name_len == n && memcmp(p->t + pr->name_at, p->t + at, n) == 0) {
            *out = p->names[h] - 1;
            return 0;
        }
    }
    uint32_t r;
    if (new_rule(p, &r)) return -1;
    p->rules[r].name_at = (uint32_t)at;
    p->rules[r].name_len = (uint32_t)n;
    p->rules[r].at = at;
    p->names[h] = r + 1;
    *out = r;
    return 0;
}

/* A helper rule whose alternatives are body (moved into it). */
static int helper_rule(parser *p, u32vec *body, uint32_t n_alts, size_t at, uint32_t *out) {
    uint32_t r;
    if (new_rule(p, &r)) return -1;
    p->rules[r].body = *body;
    p->rules[r].n_alts = n_alts;
    p->rules[r].at = at;
    p->rules[r].defined = 1;
    memset(body, 0, sizeof *body);
    *out = r;
    return 0;
}

/* ---- lexing ------------------------------------------------------------------------------- */
static int peek(const parser *p, size_t k) { return p->i + k < p->len ? (unsigned char)p->t[p->i + k] : -1; }

static void space(parser *p, int newlines) {
    while (p->i < p->len) {
        const char c = p->t[p->i];
        if (c == ' ' || c == '\t' || (newlines && (c == '\r' || c == '\n'))) {
            p->i++;
        } else if (c == '#') {
            while (p->i < p->len && p->t[p->i] != '\r' && p->t[p->i] != '\n') p->i++;
        } else {
            break;
        }
    }
}

static int is_name_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* One code point of the text (validated UTF-8). */
static int text_cp(parser *p, uint32_t *cp) {
    const uint8_t *s = (const uint8_t *)p->t + p->i;
    const int n = llm_utf8_seq_len(s[0]);
    if (s[0] == 0) return FAIL(p, "NUL byte in the grammar");
    uint32_t lo, hi;
    if (n == 0 || p->i + (size_t)n > p->len || !llm_utf8_prefix_range(s, n, &lo, &hi))
        return FAIL(p, "invalid UTF-8");
    *cp = lo;
    p->i += (size_t)n;
    return 0;
}

static int hex_digits(parser *p, int n, uint32_t *out) {
    const size_t at = p->i;
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
        const int c = peek(p, (size_t)k);
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return FAIL(p, "expected %d hexadecimal digits", n);
        v = (v << 4) | (uint32_t)d;
    }
    p->i += (size_t)n;
    if (v > LLM_MAX_CP) return fail_at(p, at, LLM_ERR_FORMAT, "code point above U+10FFFF");
    *out = v;
    return 0;
}

/* One character of a literal or class, escapes decoded. */
static int lit_char(parser *p, int in_class, uint32_t *cp) {
    const int c = peek(p, 0);
    if (c < 0) return FAIL(p, in_class ? "unterminated character class" : "unterminated string literal");
    if (c != '\\') return text_cp(p, cp);
    const int e = peek(p, 1);
    switch (e) {
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case '\\': case '"': case '[': case ']': case '-': *cp = (uint32_t)e; break;
    case 'x': p->i += 2; return hex_digits(p, 2, cp);
    case 'u': p->i += 2; return hex_digits(p, 4, cp);
    case 'U': p->i += 2; return hex_digits(p, 8, cp);
    default: return FAIL(p, "unknown escape");
    }
    p->i += 2;
    return 0;
}

static int repeat_count(parser *p, uint32_t *out) {
    const size_t at = p->i;
    uint64_t v = 0;
    if (peek(p, 0) < '0' || peek(p, 0) > '9') return FAIL(p, "expected a number");
    while (peek(p, 0) >= '0' && peek(p, 0) <= '9') {
        if (v <= LLM_GRAMMAR_MAX_REPEAT) v = v * 10 + (uint64_t)(peek(p, 0) - '0');
        p->i++;
    }
    if (v > LLM_GRAMMAR_MAX_REPEAT)
        return fail_at(p, at, LLM_ERR_LIMIT, "repetition count above %u", LLM_GRAMMAR_MAX_REPEAT);
    *out = (uint32_t)v;
    return 0;
}

/* ---- classes ------------------------------------------------------------------------------ */
static int cmp_range(const void *a, const void *b) {
    const llm_grange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int push_range(parser *p, uint32_t lo, uint32_t hi) {
    if (budget(p, 1)) return -1;
    if (p->n_ranges == p->cap_ranges) {
        const uint32_t cap = p->cap_ranges ? p->cap_ranges * 2 : 64;
        llm_grange *nr = realloc(p->ranges, (size_t)cap * sizeof *nr);
        if (!nr) return oom(p);
        p->ranges = nr;
        p->cap_ranges = cap;
    }
    p->ranges[p->n_ranges].lo = lo;
    p->ranges[p->n_ranges].hi = hi;
    p->n_ranges++;
    return 0;
}

/* Turns the ranges from index first on (as written) into a sorted, merged, positive class. */
static int finish_class(parser *p, uint32_t first, int negated, uint32_t *out) {
    uint32_t n = p->n_ranges - first, m = 0;
    llm_grange *r = n ? p->ranges + first : NULL; /* ranges is NULL before the first range */
    if (n) qsort(r, n, sizeof *r, cmp_range);
    for (uint32_t k = 0; k < n; k++) {
        if (m > 0 && r[k].lo <= r[m - 1].hi + 1) {
            if (r[k].hi > r[m - 1].hi) r[m - 1].hi = r[k].hi;
        } else {
            r[m++] = r[k];
        }
    }
    p->n_ranges = first + m;
    if (negated) { /* the complement has at most one range more */
        llm_grange *tmp = malloc(((size_t)m + 1) * sizeof *tmp);
        if (!tmp) return oom(p);
        uint32_t c = 0, next = 0;
        for (uint32_t k = 0; k < m; k++) {
            const llm_grange x = p->ranges[first + k];
            if (x.lo > next) tmp[c++] = (llm_grange){next, x.lo - 1};
            next = x.hi + 1;
        }
        if (next <= LLM_MAX_CP) tmp[c++] = (llm_grange){next, LLM_MAX_CP};
        p->n_ranges = first;
        for (uint32_t k = 0; k < c; k++) {
            if (push_range(p, tmp[k].lo, tmp[k].hi)) {
                free(tmp);
                return -1;
            }
        }
        free(tmp);
    }
    *out = p->class_start.n;
    return vec_push(p, &p->class_start, first);
}

static int parse_class(parser *p, uint32_t *out) {
    p->i++; /* [ */
    const int negated = peek(p, 0) == '^';
    if (negated) p->i++;
    const uint32_t first = p->n_ranges;
    while (peek(p, 0) != ']') {
        const size_t lo_at = p->i;
        uint32_t lo, hi;
        if (lit_char(p, 1, &lo)) return -1;
        hi = lo;
        if (peek(p, 0) == '-' && peek(p, 1) != ']' && peek(p, 1) >= 0) {
            p->i++;
            if (lit_char(p, 1, &hi)) return -1;
            if (hi < lo) return fail_at(p, lo_at, LLM_ERR_FORMAT, "range end before its start");
        }
        if (push_range(p, lo, hi)) return -1;
    }
    p->i++; /* ] */
    return finish_class(p, first, negated, out);
}

/* ---- items, sequences, alternatives -------------------------------------------------------- */
static int parse_alternatives(parser *p, int nested, u32vec *body, uint32_t *n_alts);

/* Applies {lo, hi} (hi UNBOUNDED: no maximum) to the item body[from .. n). */
static int repeat(parser *p, u32vec *body, uint32_t from, uint32_t lo, uint32_t hi, size_t at) {
    uint32_t x;
    if (body->n - from == 1) {
        x = body->v[from];
    } else { /* several elements (a literal, a group's sequence) or none: one helper rule */
        u32vec one = {0};
        for (uint32_t k = from; k < body->n; k++)
            if (vec_push(p, &one, body->v[k])) goto fail_one;
        if (emit(p, &one, LLM_GE_MAKE(LLM_GE_END, 0))) goto fail_one;
        uint32_t r;
        if (helper_rule(p, &one, 1, at, &r)) goto fail_one;
        x = LLM_GE_MAKE(LLM_GE_REF, r);
        goto have_x;
    fail_one:
        free(one.v);
        return -1;
    }
have_x:
    body->n = from;
    for (uint32_t k = 0; k < lo; k++)
        if (emit(p, body, x)) return -1;
    if (hi == lo) return 0;
    uint32_t tail = UINT32_MAX; /* the helper after the copies */
    const uint32_t chain = hi == UNBOUNDED ? 1 : hi - lo;
    for (uint32_t k = 0; k < chain; k++) {
        uint32_t r;
        u32vec alts = {0};
        if (new_rule(p, &r)) return -1;
        /* unbounded: S ::= X S | ();  bounded: O(k) ::= X O(k-1) | (), O(1) ::= X | () */
        const uint32_t next = hi == UNBOUNDED ? r : tail;
        if (emit(p, &alts, x) || (next != UINT32_MAX && emit(p, &alts, LLM_GE_MAKE(LLM_GE_REF, next))) ||
            emit(p, &alts, LLM_GE_MAKE(LLM_GE_END, 0)) || emit(p, &alts, LLM_GE_MAKE(LLM_GE_END, 0))) {
            free(alts.v);
            return -1;
        }
        p->rules[r].body = alts;
        p->rules[r].n_alts = 2;
        p->rules[r].at = at;
        p->rules[r].defined = 1;
        tail = r;
    }
    return emit(p, body, LLM_GE_MAKE(LLM_GE_REF, tail));
}

static int parse_group(parser *p, u32vec *body) {
    const size_t at = p->i;
    if (++p->depth > LLM_GRAMMAR_MAX_NESTING)
        return fail_at(p, at, LLM_ERR_LIMIT, "groups nested deeper than %d", LLM_GRAMMAR_MAX_NESTING);
    p->i++; /* ( */
    space(p, 1);
    u32vec inner = {0};
    uint32_t n_alts = 0;
    if (parse_alternatives(p, 1, &inner, &n_alts)) goto fail;
    if (peek(p, 0) != ')') {
        FAIL(p, "expected ')'");
        goto fail;
    }
    p->i++;
    p->depth--;
    if (n_alts == 1) { /* a plain sequence: inline it (without its END) */
        for (uint32_t k = 0; k + 1 < inner.n; k++)
            if (vec_push(p, body, inner.v[k])) goto fail;
        p->total--; /* the END is gone */
        free(inner.v);
        return 0;
    }
    uint32_t r;
    if (helper_rule(p, &inner, n_alts, at, &r)) goto fail;
    return emit(p, body, LLM_GE_MAKE(LLM_GE_REF, r));
fail:
    free(inner.v);
    return -1;
}

static int parse_sequence(parser *p, int nested, u32vec *body) {
    for (;;) {
        const size_t at = p->i;
        const uint32_t from = body->n;
        const int c = peek(p, 0);
        if (c == '"') {
            p->i++;
            while (peek(p, 0) != '"') {
                uint32_t cp;
                if (lit_char(p, 0, &cp) || emit(p, body, LLM_GE_MAKE(LLM_GE_CHAR1, cp))) return -1;
            }
            p->i++;
        } else if (c == '[') {
            uint32_t k;
            if (parse_class(p, &k) || emit(p, body, LLM_GE_MAKE(LLM_GE_CLASS, k))) return -1;
        } else if (c == '.') {
            p->i++;
            if (p->any_class == UINT32_MAX) {
                const uint32_t first = p->n_ranges;
                if (push_range(p, 0, LLM_MAX_CP) || finish_class(p, first, 0, &p->any_class)) return -1;
            }
            if (emit(p, body, LLM_GE_MAKE(LLM_GE_CLASS, p->any_class))) return -1;
        } else if (c == '(') {
            if (parse_group(p, body)) return -1;
        } else if (c >= 0 && is_name_char(c)) {
            size_t n = 0;
            while (is_name_char(peek(p, n))) n++;
            uint32_t r;
            if (named_rule(p, p->i, n, &r)) return -1;
            if (!p->rules[r].referenced) {
                p->rules[r].referenced = 1;
                p->rules[r].ref_at = p->i;
            }
            p->i += n;
            if (emit(p, body, LLM_GE_MAKE(LLM_GE_REF, r))) return -1;
        } else {
            return 0;
        }
        space(p, nested);
        for (int op = peek(p, 0); op == '*' || op == '+' || op == '?' || op == '{'; op = peek(p, 0)) {
            p->i++;
            uint32_t lo = 0, hi = UNBOUNDED;
            if (op == '+') {
                lo = 1;
            } else if (op == '?') {
                hi = 1;
            } else if (op == '{') {
                space(p, nested);
                if (repeat_count(p, &lo)) return -1;
                space(p, nested);
                hi = lo;
                if (peek(p, 0) == ',') {
                    p->i++;
                    space(p, nested);
                    hi = UNBOUNDED;
                    if (peek(p, 0) >= '0' && peek(p, 0) <= '9') {
                        if (repeat_count(p, &hi)) return -1;
                        if (hi < lo) return FAIL(p, "repetition maximum below its minimum");
                    }
                    space(p, nested);
                }
                if (peek(p, 0) != '}') return FAIL(p, "expected '}'");
                p->i++;
            }
            if (repeat(p, body, from, lo, hi, at)) return -1;
            space(p, nested);
        }
    }
}

static int parse_alternatives(parser *p, int nested, u32vec *body, uint32_t *n_alts) {
    for (;;) {
        if (parse_sequence(p, nested, body) || emit(p, body, LLM_GE_MAKE(LLM_GE_END, 0))) return -1;
        (*n_alts)++;
        if (peek(p, 0) != '|') return 0;
        p->i++;
        space(p, 1);
    }
}

static int parse_rule(parser *p) {
    const size_t at = p->i;
    size_t n = 0;
    while (is_name_char(peek(p, n))) n++;
    if (n == 0) return FAIL(p, "expected a rule name");
    uint32_t r;
    if (named_rule(p, at, n, &r)) return -1;
    p->i += n;
    if (p->rules[r].defined) return fail_at(p, at, LLM_ERR_FORMAT, "rule '%.*s' defined twice", (int)n, p->t + at);
    space(p, 0);
    if (p->i + 3 > p->len || memcmp(p->t + p->i, "::=", 3) != 0) return FAIL(p, "expected '::='");
    p->i += 3;
    space(p, 1);
    u32vec body = {0};
    uint32_t n_alts = 0;
    if (parse_alternatives(p, 0, &body, &n_alts)) {
        free(body.v);
        return -1;
    }
    /* the rules array may have moved while the body was parsed */
    p->rules[r].body = body;
    p->rules[r].n_alts = n_alts;
    p->rules[r].defined = 1;
    p->rules[r].at = at;
    const int c = peek(p, 0);
    if (c == '\r') p->i += peek(p, 1) == '\n' ? 2 : 1;
    else if (c == '\n') p->i++;
    else if (c >= 0) return FAIL(p, c == ')' ? "unbalanced ')'" : "unexpected character");
    return 0;
}

/* ---- checks on the whole grammar ---------------------------------------------------------- */
static void print_rule(const parser *p, uint32_t r, char *out, size_t cap) {
    const prule *pr = &p->rules[r];
    if (pr->name_len) {
        snprintf(out, cap, "%.*s", (int)(pr->name_len > 64 ? 64 : pr->name_len), p->t + pr->name_at);
    } else {
        unsigned long line, col;
        where(p, pr->at, &line, &col);
        snprintf(out, cap, "(%lu:%lu)", line, col);
    }
}

/* Nullable rules (can match the empty string), by counting down each alternative's elements
 * that are not yet known nullable: linear in the grammar's size, whatever the rule order. */
static int find_nullable(parser *p, const uint32_t *alt_rule, const uint32_t *alt_start, uint32_t n_alts,
                         const uint32_t *elems, uint8_t *nullable) {
    const uint32_t nr = p->n_rules;
    uint32_t *pending = malloc((size_t)n_alts * sizeof *pending);
    uint32_t *occ_start = calloc((size_t)nr + 1, sizeof *occ_start);
    uint32_t *queue = malloc((size_t)nr * sizeof *queue);
    uint32_t *occ = NULL;
    size_t n_occ = 0;
    if (!pending || !occ_start || !queue) goto oom;
    /* occurrences of each rule, as the alternatives that reference it (CSR) */
    for (uint32_t a = 0; a < n_alts; a++)
        for (uint32_t e = alt_start[a]; LLM_GE_KIND(elems[e]) != LLM_GE_END; e++)
            if (LLM_GE_KIND(elems[e]) == LLM_GE_REF) {
                occ_start[LLM_GE_ARG(elems[e]) + 1]++;
                n_occ++;
            }
    for (uint32_t r = 0; r < nr; r++) occ_start[r + 1] += occ_start[r];
    occ = malloc((n_occ ? n_occ : 1) * sizeof *occ);
    if (!occ) goto oom;
    uint32_t qn = 0;
    for (uint32_t a = 0; a < n_alts; a++) {
        uint32_t count = 0;
        for (uint32_t e = alt_start[a]; LLM_GE_KIND(elems[e]) != LLM_GE_END; e++) {
            if (LLM_GE_KIND(elems[e]) == LLM_GE_REF) {
                const uint32_t s = LLM_GE_ARG(elems[e]);
                occ[occ_start[s]++] = a;
                count++;
            } else {
                count = UINT32_MAX / 2; /* a character: never nullable */
            }
        }
        pending[a] = count;
        if (count == 0 && !nullable[alt_rule[a]]) {
            nullable[alt_rule[a]] = 1;
            queue[qn++] = alt_rule[a];
        }
    }
    for (uint32_t r = nr; r > 0; r--) occ_start[r] = occ_start[r - 1]; /* undo the fill's shift */
    occ_start[0] = 0;
    for (uint32_t qi = 0; qi < qn; qi++) {
        const uint32_t s = queue[qi];
        for (uint32_t k = occ_start[s]; k < occ_start[s + 1]; k++) {
            const uint32_t a = occ[k];
            if (--pending[a] == 0 && !nullable[alt_rule[a]]) {
                nullable[alt_rule[a]] = 1;
                queue[qn++] = alt_rule[a];
            }
        }
    }
    free(pending);
    free(occ_start);
    free(queue);
    free(occ);
    return 0;
oom:
    free(pending);
    free(occ_start);
    free(queue);
    free(occ);
    return oom(p);
}

/* Rejects a rule that can reach itself before consuming a character: the edges r -> s where s is
 * referenced after only nullable elements in an alternative of r, searched for a cycle. */
static int check_left_recursion(parser *p, const llm_grammar *g, const uint32_t *alt_rule) {
    const uint32_t nr = g->n_rules, n_alts = g->rule_alts[nr];
    uint8_t *nullable = calloc(nr ? nr : 1, 1);
    uint32_t *edge_start = calloc((size_t)nr + 1, sizeof *edge_start);
    uint32_t *edges = NULL, *stack = NULL, *cursor = NULL;
    uint8_t *color = NULL;
    int rc = -1;
    if (!nullable || !edge_start) goto oom;
    if (find_nullable(p, alt_rule, g->alt_start, n_alts, g->elems, nullable)) goto out;
    size_t n_edges = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t r = 0; r < nr; r++) {
            for (uint32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++) {
                for (uint32_t e = g->alt_start[a]; LLM_GE_KIND(g->elems[e]) == LLM_GE_REF; e++) {
                    const uint32_t s = LLM_GE_ARG(g->elems[e]);
                    if (pass == 0) edge_start[r + 1]++;
                    else edges[edge_start[r] + cursor[r]++] = s;
                    if (!nullable[s]) break;
                }
            }
        }
        if (pass == 0) {
            for (uint32_t r = 0; r < nr; r++) edge_start[r + 1] += edge_start[r];
            n_edges = edge_start[nr];
            edges = malloc((n_edges ? n_edges : 1) * sizeof *edges);
            cursor = calloc(nr ? nr : 1, sizeof *cursor);
            if (!edges || !cursor) goto oom;
        }
    }
    /* iterative depth-first search (rules can be a million deep) */
    color = calloc(nr ? nr : 1, 1);
    stack = malloc((nr ? nr : 1) * sizeof *stack);
    if (!color || !stack) goto oom;
    memset(cursor, 0, (nr ? nr : 1) * sizeof *cursor);
    for (uint32_t start = 0; start < nr; start++) {
        if (color[start]) continue;
        uint32_t sp = 0;
        stack[sp++] = start;
        color[start] = 1;
        while (sp) {
            const uint32_t r = stack[sp - 1];
            if (edge_start[r] + cursor[r] == edge_start[r + 1]) {
                color[r] = 2;
                sp--;
                continue;
            }
            const uint32_t s = edges[edge_start[r] + cursor[r]++];
            if (color[s] == 0) {
                color[s] = 1;
                stack[sp++] = s;
            } else if (color[s] == 1) { /* a cycle: stack from s to the top, back to s */
                uint32_t from = sp - 1;
                while (stack[from] != s) from--;
                uint32_t named = UINT32_MAX;
                for (uint32_t k = from; k < sp && named == UINT32_MAX; k++)
                    if (p->rules[stack[k]].name_len) named = stack[k];
                if (named == UINT32_MAX) {
                    fail_at(p, p->rules[s].at, LLM_ERR_FORMAT,
                            "left recursion: this repetition can repeat an item that matches the "
                            "empty string, without end");
                    goto out;
                }
                /* the cycle's named rules, from the first one round to it again */
                char path[320] = "", name[80];
                size_t used = 0;
                const uint32_t len = sp - from;
                uint32_t first = from;
                while (stack[first] != named) first++;
                for (uint32_t k = 0; k <= len && used + 80 < sizeof path; k++) {
                    const uint32_t x = stack[from + (first - from + k) % len];
                    if (!p->rules[x].name_len) continue;
                    print_rule(p, x, name, sizeof name);
                    used += (size_t)snprintf(path + used, sizeof path - used, "%s%s", used ? " -> " : "", name);
                }
                print_rule(p, named, name, sizeof name);
                fail_at(p, p->rules[named].at, LLM_ERR_FORMAT,
                        "left recursion: rule '%s' can reach itself without consuming a character (%s)", name,
                        path);
                goto out;
            }
        }
    }
    rc = 0;
    goto out;
oom:
    oom(p);
out:
    free(nullable);
    free(edge_start);
    free(edges);
    free(cursor);
    free(color);
    free(stack);
    return rc;
}

/* ---- assembling the compiled grammar ------------------------------------------------------ */
void llm_grammar_free(llm_grammar *g) {
    if (!g) return;
    free(g->elems);
    free(g->alt_start);
    free(g->rule_alts);
    free(g->ranges);
    free(g->class_ranges);
    free(g);
}

static int assemble(parser *p, uint32_t root, llm_grammar **out) {
    llm_grammar *g = calloc(1, sizeof *g);
    if (!g) return oom(p);
    uint32_t n_elems = 0, n_alts = 0;
    for (uint32_t r = 0; r < p->n_rules; r++) {
        n_elems += p->rules[r].body.n;
        n_alts += p->rules[r].n_alts;
    }
    g->elems = malloc(((size_t)n_elems + 1) * sizeof *g->elems);
    g->alt_start = malloc(((size_t)n_alts + 1) * sizeof *g->alt_start);
    g->rule_alts = malloc(((size_t)p->n_rules + 1) * sizeof *g->rule_alts);
    g->ranges = malloc(((size_t)p->n_ranges + 1) * sizeof *g->ranges);
    g->class_ranges = malloc(((size_t)p->class_start.n + 1) * sizeof *g->class_ranges);
    uint32_t *alt_rule = malloc(((size_t)n_alts + 1) * sizeof *alt_rule);
    if (!g->elems || !g->alt_start || !g->rule_alts || !g->ranges || !g->class_ranges || !alt_rule) {
        free(alt_rule);
        llm_grammar_free(g);
        return oom(p);
    }
    uint32_t e = 0, a = 0;
    for (uint32_t r = 0; r < p->n_rules; r++) {
        const prule *pr = &p->rules[r];
        g->rule_alts[r] = a;
        for (uint32_t k = 0; k < pr->body.n; k++) {
            if (k == 0 || LLM_GE_KIND(pr->body.v[k - 1]) == LLM_GE_END) {
                alt_rule[a] = r;
                g->alt_start[a++] = e + k;
            }
        }
        if (pr->body.n) memcpy(g->elems + e, pr->body.v, (size_t)pr->body.n * sizeof *g->elems);
        e += pr->body.n;
    }
    g->rule_alts[p->n_rules] = a;
    g->n_elems = n_elems;
    g->n_rules = p->n_rules;
    g->root = root;
    if (p->n_ranges) memcpy(g->ranges, p->ranges, (size_t)p->n_ranges * sizeof *g->ranges);
    if (p->class_start.n) memcpy(g->class_ranges, p->class_start.v, (size_t)p->class_start.n * sizeof *g->class_ranges);
    g->class_ranges[p->class_start.n] = p->n_ranges;
    g->n_classes = p->class_start.n;
    if (check_left_recursion(p, g, alt_rule)) {
        free(alt_rule);
        llm_grammar_free(g);
        return -1;
    }
    free(alt_rule);
    *out = g;
    return 0;
}

llm_status llm_grammar_parse(const char *text, size_t len, const char *root, llm_grammar **out, llm_err *err) {
    if (out) *out = NULL;
    if (!text || !out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar: NULL argument");
    if (len == (size_t)-1) len = strnlen(text, (size_t)LLM_GRAMMAR_MAX_TEXT + 1);
    if (len > LLM_GRAMMAR_MAX_TEXT)
        return llm_err_set(err, LLM_ERR_LIMIT, "grammar: the text is longer than %u bytes", LLM_GRAMMAR_MAX_TEXT);
    if (!root) root = "root";
    parser p = {0};
    p.t = text;
    p.len = len;
    p.err = err;
    p.any_class = UINT32_MAX;
    space(&p, 1);
    while (p.i < p.len && parse_rule(&p) == 0) space(&p, 1);
    if (p.status == LLM_OK) { /* the first reference to an undefined rule, in text order */
        size_t first = SIZE_MAX;
        uint32_t bad = 0;
        for (uint32_t r = 0; r < p.n_rules; r++)
            if (!p.rules[r].defined && p.rules[r].ref_at < first) {
                first = p.rules[r].ref_at;
                bad = r;
            }
        if (first != SIZE_MAX)
            fail_at(&p, first, LLM_ERR_FORMAT, "undefined rule '%.*s'", (int)p.rules[bad].name_len,
                    p.t + p.rules[bad].name_at);
    }
    uint32_t root_rule = UINT32_MAX;
    if (p.status == LLM_OK) {
        const size_t rn = strlen(root);
        for (uint32_t r = 0; r < p.n_rules; r++)
            if (p.rules[r].name_len == rn && memcmp(p.t + p.rules[r].name_at, root, rn) == 0) root_rule = r;
        if (root_rule == UINT32_MAX) fail_at(&p, 0, LLM_ERR_FORMAT, "no start rule '%.200s'", root);
    }
    if (p.status == LLM_OK) assemble(&p, root_rule, out);
    for (uint32_t r = 0; r < p.n_rules; r++) free(p.rules[r].body.v);
    free(p.rules);
    free(p.names);
    free(p.ranges);
    free(p.class_start.v);
    return p.status;
}
