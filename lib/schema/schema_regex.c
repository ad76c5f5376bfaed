/* "pattern" to GBNF: a parser for the Python re subset of schema_regex.h, the handling of
 * anchors (re.search semantics: a branch not anchored at an end may have any characters there),
 * minLength/maxLength folded into the tree's repetition counts, and the GBNF writer.
 *
 * Classes: Python matches \d, \w and \s (and so \D, \W, \S, [^\d] ...) over all of Unicode.
 * Each set keeps a lower bound (code points surely matched: ASCII for \d \w \s) used to generate,
 * and an upper bound (code points possibly matched) used for the negations, so a generated
 * character always matches whatever Python's tables say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_regex.h"
#include "tokenizer/tok_internal.h"

#define RX_MAX_GROUPS 64
#define RX_INF_LEN ((int64_t)1 << 40)

typedef struct rxp {
    sctx *c;
    const char *s;
    size_t n, pos;
    const char *path;
    const char *pattern;
    size_t groups;
} rxp;

static rx *node(rxp *p, rxk k) {
    rx *r = sc_alloc(p->c, sizeof *r);
    if (r) r->k = k;
    return r;
}

static llm_status perr(rxp *p, llm_status st, const char *what) {
    return sc_fail_at(p->c, p->path, st, "pattern \"%.80s\": %s (at offset %zu)", p->pattern, what, p->pos);
}

static bool add_kid(rxp *p, rx *parent, rx *kid, size_t *cap) {
    if (parent->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        rx **nk = sc_alloc(p->c, nc * sizeof *nk);
        if (!nk) return false;
        if (parent->n) memcpy(nk, parent->kids, parent->n * sizeof *nk);
        parent->kids = nk;
        *cap = nc;
    }
    parent->kids[parent->n++] = kid;
    return true;
}

static rx *set_node(rxp *p, uint32_t lo, uint32_t hi) {
    rx *r = node(p, RX_SET);
    if (r) {
        cs_add(p->c, &r->lower, lo, hi);
        cs_add(p->c, &r->upper, lo, hi);
    }
    return r;
}

/* \d \w \s (negated: \D \W \S) with their ASCII members for sure and, possibly, all of
 * non-ASCII (Python's Unicode tables); \s also has U+001C..U+001F for sure. */
static bool shorthand(rxp *p, char ch, cset *lower, cset *upper) {
    sctx *c = p->c;
    cset lo = {0}, up = {0};
    char k = (char)(ch | 0x20);
    if (k == 'd') {
        cs_add(c, &lo, '0', '9');
    } else if (k == 'w') {
        cs_add(c, &lo, '0', '9');
        cs_add(c, &lo, 'A', 'Z');
        cs_add(c, &lo, 'a', 'z');
        cs_add(c, &lo, '_', '_');
    } else {
        cs_add(c, &lo, '\t', '\r');
        cs_add(c, &lo, 0x1C, ' ');
    }
    cs_union(c, &up, &lo);
    cs_add(c, &up, 0x80, CP_MAX);
    if (ch == k) {
        *lower = lo;
        *upper = up;
    } else { /* negated: surely in where surely not matched by the positive class */
        cs_complement(c, &up, lower);
        cs_complement(c, &lo, upper);
    }
    return c->st == LLM_OK;
}

static int hexd(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* An escape after '\' (p->pos past the backslash). Sets *cp for a single character, or the sets
 * for a class shorthand (*is_set), or *anchor for \A \Z. */
static bool escape(rxp *p, bool in_class, uint32_t *cp, bool *is_set, cset *lower, cset *upper, rxk *anchor) {
    *is_set = false;
    *anchor = RX_EMPTY;
    if (p->pos >= p->n) {
        perr(p, LLM_ERR_INVALID_ARGUMENT, "a backslash at the end");
        return false;
    }
    char ch = p->s[p->pos++];
    switch (ch) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *is_set = true;
        return shorthand(p, ch, lower, upper);
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'a': *cp = 7; return true;
    case 'b':
        if (in_class) {
            *cp = 8;
            return true;
        }
        perr(p, LLM_ERR_UNSUPPORTED, "word boundaries (\\b) are not supported");
        return false;
    case 'B': perr(p, LLM_ERR_UNSUPPORTED, "\\B is not supported"); return false;
    case 'A':
    case 'Z':
        if (in_class) {
            perr(p, LLM_ERR_INVALID_ARGUMENT, "bad escape in a class");
            return false;
        }
        *anchor = ch == 'A' ? RX_BOL : RX_EOS;
        return true;
    case 'x': case 'u': case 'U': {
        size_t len = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
        uint32_t v = 0;
        for (size_t i = 0; i < len; i++) {
            int h = p->pos < p->n ? hexd(p->s[p->pos]) : -1;
            if (h < 0) {
                perr(p, LLM_ERR_INVALID_ARGUMENT, "incomplete \\x, \\u or \\U escape");
                return false;
            }
            v = v * 16 + (uint32_t)h;
            p->pos++;
        }
        if (v > CP_MAX) {
            perr(p, LLM_ERR_INVALID_ARGUMENT, "escape beyond U+10FFFF");
            return false;
        }
        *cp = v;
        return true;
    }
    case '0': { /* octal: \0, \0o, \0oo */
        uint32_t v = 0;
        for (int i = 0; i < 2 && p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '7'; i++)
            v = v * 8 + (uint32_t)(p->s[p->pos++] - '0');
        *cp = v;
        return true;
    }
    case 'N': perr(p, LLM_ERR_UNSUPPORTED, "\\N{...} is not supported"); return false;
    default: break;
    }
    if (ch >= '1' && ch <= '9') {
        perr(p, LLM_ERR_UNSUPPORTED, "backreferences are not supported");
        return false;
    }
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
        p->pos--;
        perr(p, LLM_ERR_INVALID_ARGUMENT, "bad escape");
        return false;
    }
    p->pos--; /* any other character stands for itself (UTF-8 aware) */
    p->pos += sc_utf8_decode(p->s + p->pos, p->n - p->pos, cp);
    return true;
}

static rx *parse_class(rxp *p) {
    sctx *c = p->c;
    p->pos++; /* '[' */
    bool neg = p->pos < p->n && p->s[p->pos] == '^';
    if (neg) p->pos++;
    cset lower = {0}, upper = {0};
    bool first = true;
    for (;;) {
        if (p->pos >= p->n) {
            perr(p, LLM_ERR_INVALID_ARGUMENT, "unterminated character class");
            return NULL;
        }
        if (p->s[p->pos] == ']' && !first) {
            p->pos++;
            break;
        }
        first = false;
        uint32_t a;
        bool is_set = false;
        cset sl, su;
        rxk anchor;
        if (p->s[p->pos] == '\\') {
            p->pos++;
            if (!escape(p, true, &a, &is_set, &sl, &su, &anchor)) return NULL;
        } else {
            p->pos += sc_utf8_decode(p->s + p->pos, p->n - p->pos, &a);
        }
        if (is_set) {
            cs_union(c, &lower, &sl);
            cs_union(c, &upper, &su);
            continue;
        }
        uint32_t b = a;
        if (p->pos + 1 < p->n && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
            p->pos++;
            if (p->s[p->pos] == '\\') {
                p->pos++;
                if (!escape(p, true, &b, &is_set, &sl, &su, &anchor)) return NULL;
                if (is_set) {
                    perr(p, LLM_ERR_INVALID_ARGUMENT, "bad character range");
                    return NULL;
                }
            } else {
                p->pos += sc_utf8_decode(p->s + p->pos, p->n - p->pos, &b);
            }
            if (b < a) {
                perr(p, LLM_ERR_INVALID_ARGUMENT, "bad character range");
                return NULL;
            }
        }
        cs_add(c, &lower, a, b);
        cs_add(c, &upper, a, b);
    }
    rx *r = node(p, RX_SET);
    if (!r) return NULL;
    if (neg) {
        cs_complement(c, &upper, &r->lower);
        cs_complement(c, &lower, &r->upper);
    } else {
        r->lower = lower;
        r->upper = upper;
    }
    return c->st == LLM_OK ? r : NULL;
}

static rx *parse_alt(rxp *p);

static rx *parse_group(rxp *p) {
    p->pos++; /* '(' */
    if (++p->groups > RX_MAX_GROUPS) {
        perr(p, LLM_ERR_LIMIT, "more than 64 groups");
        return NULL;
    }
    if (p->pos < p->n && p->s[p->pos] == '?') {
        p->pos++;
        char k = p->pos < p->n ? p->s[p->pos] : 0;
        if (k == ':') {
            p->pos++;
        } else if (k == 'P' && p->pos + 1 < p->n && p->s[p->pos + 1] == '<') {
            p->pos += 2;
            while (p->pos < p->n && p->s[p->pos] != '>') p->pos++;
            if (p->pos >= p->n) {
                perr(p, LLM_ERR_INVALID_ARGUMENT, "unterminated group name");
                return NULL;
            }
            p->pos++;
        } else if (k == '#') {
            while (p->pos < p->n && p->s[p->pos] != ')') p->pos++;
            if (p->pos >= p->n) {
                perr(p, LLM_ERR_INVALID_ARGUMENT, "unterminated comment");
                return NULL;
            }
            p->pos++;
            return node(p, RX_EMPTY);
        } else if (k == '=' || k == '!' || k == '<') {
            perr(p, LLM_ERR_UNSUPPORTED, "lookahead and lookbehind are not supported");
            return NULL;
        } else if (k == 'P') {
            perr(p, LLM_ERR_UNSUPPORTED, "named backreferences are not supported");
            return NULL;
        } else {
            perr(p, LLM_ERR_UNSUPPORTED, "inline flags, atomic and conditional groups are not supported");
            return NULL;
        }
    }
    rx *inner = parse_alt(p);
    if (!inner) return NULL;
    if (p->pos >= p->n || p->s[p->pos] != ')') {
        perr(p, LLM_ERR_INVALID_ARGUMENT, "missing ')'");
        return NULL;
    }
    p->pos++;
    return inner;
}

/* A {m,n} quantifier at p->pos (Python: anything else after '{' makes it a literal). */
static bool counted(rxp *p, int64_t *mn, int64_t *mx) {
    size_t at = p->pos + 1;
    int64_t a = 0, b = -1;
    bool da = false, db = false, comma = false;
    while (at < p->n && p->s[at] >= '0' && p->s[at] <= '9') {
        if (a < RX_INF_LEN) a = a * 10 + (p->s[at] - '0');
        da = true;
        at++;
    }
    if (at < p->n && p->s[at] == ',') {
        comma = true;
        at++;
        b = 0;
        while (at < p->n && p->s[at] >= '0' && p->s[at] <= '9') {
            if (b < RX_INF_LEN) b = b * 10 + (p->s[at] - '0');
            db = true;
            at++;
        }
    }
    if (at >= p->n || p->s[at] != '}' || (!da && !comma)) return false;
    if (!comma) b = a;
    else if (!db) b = -1;
    *mn = a;
    *mx = b;
    p->pos = at + 1;
    return true;
}

static rx *parse_seq(rxp *p) {
    rx *seq = node(p, RX_SEQ);
    size_t cap = 0;
    if (!seq) return NULL;
    while (p->pos < p->n && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
        char ch = p->s[p->pos];
        rx *atom = NULL;
        if (ch == '(') {
            atom = parse_group(p);
        } else if (ch == '[') {
            atom = parse_class(p);
        } else if (ch == '.') {
            p->pos++;
            atom = node(p, RX_SET);
            if (atom) {
                cs_add(p->c, &atom->lower, 0, '\n' - 1);
                cs_add(p->c, &atom->lower, '\n' + 1, CP_MAX);
                atom->upper = atom->lower;
            }
        } else if (ch == '^' || ch == '$') {
            p->pos++;
            atom = node(p, ch == '^' ? RX_BOL : RX_EOL);
        } else if (ch == '*' || ch == '+' || ch == '?') {
            perr(p, LLM_ERR_INVALID_ARGUMENT, "nothing to repeat");
            return NULL;
        } else if (ch == '\\') {
            p->pos++;
            uint32_t cp;
            bool is_set;
            cset l, u;
            rxk anchor;
            if (!escape(p, false, &cp, &is_set, &l, &u, &anchor)) return NULL;
            if (anchor != RX_EMPTY) {
                atom = node(p, anchor);
            } else if (is_set) {
                atom = node(p, RX_SET);
                if (atom) {
                    atom->lower = l;
                    atom->upper = u;
                }
            } else {
                atom = set_node(p, cp, cp);
            }
        } else {
            int64_t a, b;
            size_t save = p->pos;
            if (ch == '{' && counted(p, &a, &b)) {
                p->pos = save;
                perr(p, LLM_ERR_INVALID_ARGUMENT, "nothing to repeat");
                return NULL;
            }
            uint32_t cp;
            p->pos += sc_utf8_decode(p->s + p->pos, p->n - p->pos, &cp);
            atom = set_node(p, cp, cp);
        }
        if (!atom) return NULL;
        /* one quantifier, then '?' (lazy: same language) */
        if (p->pos < p->n) {
            char q = p->s[p->pos];
            int64_t a = -2, b = -1;
            if (q == '*') a = 0, b = -1;
            else if (q == '+') a = 1, b = -1;
            else if (q == '?') a = 0, b = 1;
            if (a != -2) p->pos++;
            else if (q == '{' && !counted(p, &a, &b)) a = -2;
            if (a != -2) {
                if (atom->k == RX_BOL || atom->k == RX_EOL || atom->k == RX_EOS) {
                    perr(p, LLM_ERR_INVALID_ARGUMENT, "nothing to repeat");
                    return NULL;
                }
                if (b >= 0 && b < a) {
                    perr(p, LLM_ERR_INVALID_ARGUMENT, "min repeat greater than max repeat");
                    return NULL;
                }
                if (p->pos < p->n && p->s[p->pos] == '?') p->pos++;
                else if (p->pos < p->n && p->s[p->pos] == '+') {
                    perr(p, LLM_ERR_UNSUPPORTED, "possessive quantifiers are not supported");
                    return NULL;
                }
                if (p->pos < p->n && strchr("*+?", p->s[p->pos])) {
                    perr(p, LLM_ERR_INVALID_ARGUMENT, "multiple repeat");
                    return NULL;
                }
                int64_t a2, b2;
                size_t save = p->pos;
                if (p->pos < p->n && p->s[p->pos] == '{' && counted(p, &a2, &b2)) {
                    p->pos = save;
                    perr(p, LLM_ERR_INVALID_ARGUMENT, "multiple repeat");
                    return NULL;
                }
                rx *rep = node(p, RX_REP);
                if (!rep) return NULL;
                rep->kids = sc_alloc(p->c, sizeof(rx *));
                if (!rep->kids) return NULL;
                rep->kids[0] = atom;
                rep->n = 1;
                rep->min = a;
                rep->max = b;
                atom = rep;
            }
        }
        if (!add_kid(p, seq, atom, &cap)) return NULL;
    }
    return seq;
}

static rx *parse_alt(rxp *p) {
    rx *first = parse_seq(p);
    if (!first || p->pos >= p->n || p->s[p->pos] != '|') return first;
    rx *alt = node(p, RX_ALT);
    size_t cap = 0;
    if (!alt || !add_kid(p, alt, first, &cap)) return NULL;
    while (p->pos < p->n && p->s[p->pos] == '|') {
        p->pos++;
        rx *next = parse_seq(p);
        if (!next || !add_kid(p, alt, next, &cap)) return NULL;
    }
    return alt;
}

llm_status rx_parse(sctx *c, const char *pattern, size_t n, const char *path, rx **out) {
    rxp p = {.c = c, .s = pattern, .n = n, .path = path, .pattern = pattern};
    *out = NULL;
    rx *r = parse_alt(&p);
    if (r && p.pos < n) { /* a ')' without '(' */
        perr(&p, LLM_ERR_INVALID_ARGUMENT, "unbalanced parenthesis");
        r = NULL;
    }
    if (c->st == LLM_OK && !r) sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    if (c->st == LLM_OK) *out = r;
    return c->st;
}

typedef struct srx_cached {
    const char *pattern;
    size_t n;
    rx *tree;
} srx_cached;

llm_status rx_cached(sctx *c, const char *pattern, size_t n, const char *path, rx **out) {
    for (size_t i = 0; i < c->n_rx_cache; i++)
        if (c->rx_cache[i].pattern == pattern && c->rx_cache[i].n == n) {
            *out = c->rx_cache[i].tree;
            return c->st;
        }
    if (rx_parse(c, pattern, n, path, out) != LLM_OK) return c->st;
    if (c->n_rx_cache == c->cap_rx_cache) {
        size_t nc = c->cap_rx_cache ? c->cap_rx_cache * 2 : 8;
        srx_cached *nr = realloc(c->rx_cache, nc * sizeof *nr);
        if (!nr) return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        c->rx_cache = nr;
        c->cap_rx_cache = nc;
    }
    c->rx_cache[c->n_rx_cache++] = (srx_cached){pattern, n, *out};
    return c->st;
}

/* ---- anchors: the branches of the language ------------------------------------------------------ */
typedef struct branch {
    rx *core;
    bool start, end; /* anchored there */
} branch;

typedef struct branches {
    branch *b;
    size_t n, cap;
    bool misplaced; /* an anchor not at a branch's ends */
} branches;

static bool has_anchor(const rx *r) {
    if (r->k == RX_BOL || r->k == RX_EOL || r->k == RX_EOS) return true;
    for (size_t i = 0; i < r->n; i++)
        if (has_anchor(r->kids[i])) return true;
    return false;
}

static void collect(sctx *c, rx *r, bool start, bool end, branches *out, size_t depth) {
    if (c->st != LLM_OK) return;
    if (r->k == RX_ALT && depth < RX_MAX_GROUPS) {
        for (size_t i = 0; i < r->n; i++) collect(c, r->kids[i], start, end, out, depth + 1);
        return;
    }
    rx **kids = &r;
    size_t n = 1;
    if (r->k == RX_SEQ) {
        kids = r->kids;
        n = r->n;
    }
    size_t a = 0, b = n;
    while (a < b && kids[a]->k == RX_BOL) {
        start = true;
        a++;
    }
    while (b > a && (kids[b - 1]->k == RX_EOL || kids[b - 1]->k == RX_EOS)) {
        end = true;
        b--;
    }
    if (b - a == 1 && kids[a]->k == RX_ALT && has_anchor(kids[a]) && depth < RX_MAX_GROUPS) {
        collect(c, kids[a], start, end, out, depth + 1); /* e.g. (^a$|^b$) */
        return;
    }
    rx *core = sc_alloc(c, sizeof *core);
    if (!core) return;
    core->k = RX_SEQ;
    core->kids = kids ? kids + a : NULL;
    core->n = b - a;
    for (size_t i = 0; i < core->n; i++)
        if (has_anchor(core->kids[i])) out->misplaced = true;
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 4;
        branch *nb = sc_alloc(c, nc * sizeof *nb);
        if (!nb) return;
        if (out->n) memcpy(nb, out->b, out->n * sizeof *nb);
        out->b = nb;
        out->cap = nc;
    }
    out->b[out->n++] = (branch){core, start, end};
}

/* ---- lengths ----------------------------------------------------------------------------------- */
static int64_t add_len(int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : (a + b > RX_INF_LEN ? RX_INF_LEN : a + b); }
static int64_t mul_len(int64_t a, int64_t k) {
    if (a < 0 || k < 0) return a == 0 || k == 0 ? 0 : -1;
    if (a && k > RX_INF_LEN / a) return RX_INF_LEN;
    return a * k;
}

/* The lengths (in characters) of the strings r matches: [*lo, *hi] (hi < 0: unbounded);
 * false when r matches nothing. */
static bool lengths(const rx *r, int64_t *lo, int64_t *hi) {
    switch (r->k) {
    case RX_EMPTY: case RX_BOL: case RX_EOL: case RX_EOS: *lo = *hi = 0; return true;
    case RX_NEVER: return false;
    case RX_SET: *lo = *hi = 1; return r->lower.n > 0;
    case RX_SEQ: {
        int64_t l = 0, h = 0;
        for (size_t i = 0; i < r->n; i++) {
            int64_t a, b;
            if (!lengths(r->kids[i], &a, &b)) return false;
            l = add_len(l, a);
            h = add_len(h, b);
        }
        *lo = l;
        *hi = h;
        return true;
    }
    case RX_ALT: {
        bool any = false;
        for (size_t i = 0; i < r->n; i++) {
            int64_t a, b;
            if (!lengths(r->kids[i], &a, &b)) continue;
            if (!any || a < *lo) *lo = a;
            if (!any || (*hi >= 0 && (b < 0 || b > *hi))) *hi = b;
            any = true;
        }
        return any;
    }
    case RX_REP: {
        int64_t a, b;
        if (!lengths(r->kids[0], &a, &b)) {
            *lo = *hi = 0;
            return r->min == 0;
        }
        *lo = mul_len(a, r->min);
        *hi = r->max == 0 ? 0 : (b == 0 ? 0 : mul_len(b, r->max));
        return true;
    }
    }
    return false;
}

/* ---- minLength / maxLength: a tree whose strings all have lo..hi characters ---------------- */
typedef enum { CL_OK, CL_NONE, CL_CANNOT } clres;

static rx *rep_of(sctx *c, rx *kid, int64_t mn, int64_t mx) {
    rx *r = sc_alloc(c, sizeof *r);
    if (!r) return NULL;
    r->k = RX_REP;
    r->kids = sc_alloc(c, sizeof(rx *));
    if (!r->kids) return NULL;
    r->kids[0] = kid;
    r->n = 1;
    r->min = mn;
    r->max = mx;
    return r;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static clres clamp(sctx *c, rx *r, int64_t lo, int64_t hi, rx **out, size_t depth) {
    int64_t a, b;
    if (c->st != LLM_OK || depth > 4 * RX_MAX_GROUPS) return CL_CANNOT;
    if (!lengths(r, &a, &b)) return CL_NONE;
    if (a >= lo && (hi < 0 || (b >= 0 && b <= hi))) {
        *out = r;
        return CL_OK;
    }
    if ((hi >= 0 && a > hi) || (b >= 0 && b < lo)) return CL_NONE;
    switch (r->k) {
    case RX_ALT: {
        rx *alt = sc_alloc(c, sizeof *alt);
        if (!alt) return CL_CANNOT;
        alt->k = RX_ALT;
        alt->kids = sc_alloc(c, r->n * sizeof(rx *));
        if (!alt->kids) return CL_CANNOT;
        bool cannot = false;
        for (size_t i = 0; i < r->n; i++) {
            rx *k = NULL;
            clres cr = clamp(c, r->kids[i], lo, hi, &k, depth + 1);
            if (cr == CL_OK) alt->kids[alt->n++] = k;
            else if (cr == CL_CANNOT) cannot = true;
        }
        if (!alt->n) return cannot ? CL_CANNOT : CL_NONE;
        *out = alt;
        return CL_OK;
    }
    case RX_REP: {
        int64_t xl, xh;
        rx *x = r->kids[0];
        if (!lengths(x, &xl, &xh) || (xl == 0 && xh == 0)) return CL_CANNOT;
        int64_t mn = r->min, mx = r->max, il = xl, ih = xh;
        if (xl == xh) { /* fixed-length copies: only the count changes */
            int64_t mn2 = mn > ceil_div(lo, xl) ? mn : ceil_div(lo, xl), mx2 = mx;
            if (hi >= 0 && (mx2 < 0 || mx2 > hi / xl)) mx2 = hi / xl;
            if (mx2 >= 0 && mn2 > mx2) return CL_NONE;
            *out = rep_of(c, x, mn2, mx2);
            return *out ? CL_OK : CL_CANNOT;
        }
        if (hi >= 0 && hi < xl) { /* not one copy fits */
            if (mn > 0 || lo > 0) return CL_NONE;
            *out = rep_of(c, x, 0, 0);
            return *out ? CL_OK : CL_CANNOT;
        }
        if (hi >= 0) {
            if (ih < 0 || ih > hi) ih = hi;
            if (mx < 0 || mul_len(mx, ih) > hi) {
                mx = ih > 0 ? hi / ih : mx;
                if (mx < mn) {
                    mx = mn;
                    if (mn > 0) ih = hi / mn;
                }
            }
        }
        if (mul_len(mn, il) < lo) {
            if (il > 0) {
                mn = ceil_div(lo, il);
                if (mx >= 0 && mn > mx) mn = mx;
            }
            if (mul_len(mn, il) < lo) {
                if (mn <= 0) return CL_CANNOT;
                il = ceil_div(lo, mn);
            }
        }
        if ((mx >= 0 && mn > mx) || (ih >= 0 && il > ih)) return CL_CANNOT;
        rx *nx = x;
        if (il != xl || ih != xh) {
            clres cr = clamp(c, x, il, ih, &nx, depth + 1);
            if (cr != CL_OK) return CL_CANNOT;
        }
        *out = rep_of(c, nx, mn, mx);
        return *out ? CL_OK : CL_CANNOT;
    }
    case RX_SEQ: {
        size_t n = r->n;
        int64_t *l = sc_alloc(c, (n + 1) * 2 * sizeof *l);
        if (!l) return CL_CANNOT;
        int64_t *h = l + n + 1;
        int64_t suml = 0, sumh = 0;
        for (size_t i = 0; i < n; i++) {
            if (!lengths(r->kids[i], &l[i], &h[i])) return CL_NONE;
            if (hi >= 0 && (h[i] < 0 || h[i] > hi)) h[i] = hi;
            suml = add_len(suml, l[i]);
            sumh = add_len(sumh, h[i]);
        }
        /* shave the upper ends from the last element on, then raise the lower ends */
        if (hi >= 0 && sumh >= 0 && sumh > hi) {
            int64_t excess = sumh - hi;
            for (size_t i = n; i-- > 0 && excess > 0;) {
                int64_t d = h[i] - l[i] < excess ? h[i] - l[i] : excess;
                h[i] -= d;
                excess -= d;
            }
            if (excess > 0) return CL_NONE;
        }
        if (suml < lo) {
            int64_t deficit = lo - suml;
            for (size_t i = n; i-- > 0 && deficit > 0;) {
                int64_t room = h[i] < 0 ? deficit : h[i] - l[i];
                int64_t d = room < deficit ? room : deficit;
                l[i] += d;
                deficit -= d;
            }
            if (deficit > 0) return CL_NONE;
        }
        rx *seq = sc_alloc(c, sizeof *seq);
        if (!seq) return CL_CANNOT;
        seq->k = RX_SEQ;
        seq->n = n;
        seq->kids = sc_alloc(c, (n ? n : 1) * sizeof(rx *));
        if (!seq->kids) return CL_CANNOT;
        for (size_t i = 0; i < n; i++) {
            if (clamp(c, r->kids[i], l[i], h[i], &seq->kids[i], depth + 1) != CL_OK) return CL_CANNOT;
        }
        *out = seq;
        return CL_OK;
    }
    default: return CL_CANNOT;
    }
}

/* ---- GBNF ---------------------------------------------------------------------------------------- */
/* Whether GBNF text is one item (a repetition can follow it without parentheses). */
static bool is_atom(const char *t, size_t n) {
    if (n && t[0] == '(') { /* one group spanning the whole text */
        size_t depth = 0;
        for (size_t i = 0; i < n; i++) {
            char ch = t[i];
            if (ch == '"' || ch == '[') {
                char close = ch == '"' ? '"' : ']';
                for (i++; i < n && t[i] != close; i++)
                    if (t[i] == '\\') i++;
            } else if (ch == '(') {
                depth++;
            } else if (ch == ')') {
                if (--depth == 0 && i + 1 < n) return false;
            }
        }
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == '"' || ch == '[') {
            char close = ch == '"' ? '"' : ']';
            for (i++; i < n && t[i] != close; i++)
                if (t[i] == '\\') i++;
        } else if (ch == ' ' || ch == '|') {
            return false;
        }
    }
    return true;
}

/* A character that can join its neighbours in one literal. */
static bool plain_char(const rx *r, uint32_t *cp) {
    if (r->k != RX_SET || r->lower.n != 1 || r->lower.r[0].lo != r->lower.r[0].hi) return false;
    *cp = r->lower.r[0].lo;
    return *cp >= 0x20 && *cp != '"' && *cp != '\\';
}

static void put_utf8(sctx *c, llm_buf *b, uint32_t cp) {
    char u[4];
    const size_t k = (size_t)tok_utf8_encode(cp, u);
    sc_put(c, b, u, k);
}

/* r without the empty string (NULL: nothing left). A repetition of something that can be empty,
 * such as (a?)*, is a loop that consumes nothing, which GBNF parsers refuse as left recursion; it
 * is written as a repetition of the non-empty part instead (same language). */
static rx *nonempty(sctx *c, rx *r, size_t depth) {
    int64_t lo, hi;
    if (c->st != LLM_OK || depth > 4 * RX_MAX_GROUPS || !lengths(r, &lo, &hi) || hi == 0) return NULL;
    if (lo > 0) return r;
    switch (r->k) {
    case RX_ALT: {
        rx *alt = sc_alloc(c, sizeof *alt);
        if (!alt || !(alt->kids = sc_alloc(c, r->n * sizeof(rx *)))) return NULL;
        alt->k = RX_ALT;
        for (size_t i = 0; i < r->n; i++) {
            rx *k = nonempty(c, r->kids[i], depth + 1);
            if (k) alt->kids[alt->n++] = k;
        }
        return alt->n ? alt : NULL;
    }
    case RX_REP: {
        rx *k = nonempty(c, r->kids[0], depth + 1);
        return k ? rep_of(c, k, 1, r->max) : NULL;
    }
    case RX_SEQ: { /* the first non-empty element is k_i: k_i' k_i+1 ... k_n (all earlier ones empty) */
        rx *alt = sc_alloc(c, sizeof *alt);
        if (!alt || !(alt->kids = sc_alloc(c, (r->n ? r->n : 1) * sizeof(rx *)))) return NULL;
        alt->k = RX_ALT;
        for (size_t i = 0; i < r->n; i++) {
            rx *k = nonempty(c, r->kids[i], depth + 1);
            if (!k) continue;
            rx *seq = sc_alloc(c, sizeof *seq);
            if (!seq || !(seq->kids = sc_alloc(c, (r->n - i) * sizeof(rx *)))) return NULL;
            seq->k = RX_SEQ;
            seq->kids[seq->n++] = k;
            for (size_t j = i + 1; j < r->n; j++) seq->kids[seq->n++] = r->kids[j];
            alt->kids[alt->n++] = seq;
        }
        return alt->n ? alt : NULL;
    }
    default: return NULL;
    }
}

/* Appends r's GBNF (nothing for the empty string). */
static void write_rx(sctx *c, const rx *r, llm_buf *out, size_t depth) {
    if (c->st != LLM_OK) return;
    if (depth > 4 * RX_MAX_GROUPS) {
        sc_fail(c, LLM_ERR_LIMIT, "pattern nested too deeply");
        return;
    }
    switch (r->k) {
    case RX_SET: cs_gbnf(c, &r->lower, out); return;
    case RX_SEQ: {
        bool first = true;
        llm_buf lit = {0}; /* consecutive plain characters, written as one literal */
        for (size_t i = 0; i <= r->n; i++) {
            uint32_t cp;
            if (i < r->n && plain_char(r->kids[i], &cp)) {
                put_utf8(c, &lit, cp);
                continue;
            }
            if (lit.len) {
                if (!first) sc_puts(c, out, " ");
                sc_gbnf_literal(c, out, lit.data, lit.len);
                llm_buf_clear(&lit);
                first = false;
            }
            if (i == r->n) break;
            llm_buf k = {0};
            write_rx(c, r->kids[i], &k, depth + 1);
            if (k.len) {
                if (!first) sc_puts(c, out, " ");
                sc_put(c, out, k.data, k.len);
                first = false;
            }
            llm_buf_free(&k);
        }
        llm_buf_free(&lit);
        return;
    }
    case RX_ALT: {
        llm_buf body = {0};
        size_t n = 0;
        bool opt = false;
        for (size_t i = 0; i < r->n; i++) {
            int64_t a, b;
            if (!lengths(r->kids[i], &a, &b)) continue;
            llm_buf k = {0};
            write_rx(c, r->kids[i], &k, depth + 1);
            if (!k.len) opt = true;
            else {
                if (n++) sc_puts(c, &body, " | ");
                sc_put(c, &body, k.data, k.len);
            }
            llm_buf_free(&k);
        }
        if (n) {
            sc_puts(c, out, "( ");
            sc_put(c, out, body.data, body.len);
            sc_puts(c, out, opt ? " )?" : " )");
        }
        llm_buf_free(&body);
        return;
    }
    case RX_REP: {
        int64_t mx = r->max, mn = r->min;
        if (mx == 0) return;
        int64_t a, b;
        if (!lengths(r->kids[0], &a, &b)) return; /* only the empty repetition (min is 0) */
        if (mn > SCHEMA_MAX_REPEAT) {
            sc_fail(c, LLM_ERR_LIMIT, "pattern repeats something at least %lld times (limit %d)", (long long)mn,
                    SCHEMA_MAX_REPEAT);
            return;
        }
        if (mx > SCHEMA_MAX_REPEAT) mx = SCHEMA_MAX_REPEAT; /* fewer repetitions match too */
        const rx *kid = r->kids[0];
        if (a == 0 && mx != 1) {
            kid = nonempty(c, r->kids[0], depth + 1);
            if (!kid) return;
            mn = 0;
        }
        llm_buf k = {0};
        write_rx(c, kid, &k, depth + 1);
        if (k.len) {
            if (mn == 1 && mx == 1) {
                sc_put(c, out, k.data, k.len);
            } else {
                bool atom = is_atom(k.data, k.len);
                if (!atom) sc_puts(c, out, "( ");
                sc_put(c, out, k.data, k.len);
                if (!atom) sc_puts(c, out, " )");
                if (mn == 0 && mx < 0) sc_puts(c, out, "*");
                else if (mn == 1 && mx < 0) sc_puts(c, out, "+");
                else if (mn == 0 && mx == 1) sc_puts(c, out, "?");
                else if (mx < 0) sc_printf(c, out, "{%lld,}", (long long)mn);
                else if (mn == mx) sc_printf(c, out, "{%lld}", (long long)mn);
                else sc_printf(c, out, "{%lld,%lld}", (long long)mn, (long long)mx);
            }
        }
        llm_buf_free(&k);
        return;
    }
    default: return;
    }
}

/* The branches of a pattern, checked (anchors only at branch ends). */
static llm_status pattern_branches(sctx *c, const char *pattern, size_t n, const char *path, branches *out) {
    rx *tree = NULL;
    if (rx_cached(c, pattern, n, path, &tree) != LLM_OK) return c->st;
    *out = (branches){0};
    collect(c, tree, false, false, out, 0);
    if (c->st == LLM_OK && out->misplaced)
        sc_fail_at(c, path, LLM_ERR_UNSUPPORTED,
                   "pattern \"%.80s\": ^ and $ are supported only at the start and end of a branch", pattern);
    return c->st;
}

llm_status sr_check(sctx *c, const char *pattern, size_t n, const char *path) {
    branches br;
    return pattern_branches(c, pattern, n, path, &br);
}

llm_status sr_emit(sctx *c, const char *pattern, size_t n, int64_t min_len, int64_t max_len, const char *path,
                   llm_buf *out, bool *empty) {
    *empty = true;
    branches br;
    if (pattern_branches(c, pattern, n, path, &br) != LLM_OK) return c->st;
    /* any characters where a branch is not anchored (re.search) */
    rx *any = sc_alloc(c, sizeof *any);
    if (!any) return c->st;
    any->k = RX_SET;
    cs_add(c, &any->lower, 0, CP_MAX);
    any->upper = any->lower;
    rx *pad = rep_of(c, any, 0, -1);
    if (!pad) return c->st;
    llm_buf body = {0};
    size_t n_alt = 0;
    bool cannot = false, has_empty = false;
    for (size_t i = 0; i < br.n && c->st == LLM_OK; i++) {
        rx *seq = sc_alloc(c, sizeof *seq);
        if (!seq) break;
        seq->k = RX_SEQ;
        seq->kids = sc_alloc(c, 3 * sizeof(rx *));
        if (!seq->kids) break;
        if (!br.b[i].start) seq->kids[seq->n++] = pad;
        seq->kids[seq->n++] = br.b[i].core;
        if (!br.b[i].end) seq->kids[seq->n++] = pad;
        rx *fit = NULL;
        clres cr = clamp(c, seq, min_len, max_len, &fit, 0);
        if (cr == CL_CANNOT) cannot = true;
        if (cr != CL_OK) continue;
        llm_buf k = {0};
        write_rx(c, fit, &k, 0);
        if (!k.len) { /* the empty string */
            has_empty = true;
        } else {
            if (n_alt++) sc_puts(c, &body, " | ");
            sc_put(c, &body, k.data, k.len);
        }
        llm_buf_free(&k);
    }
    if (c->st == LLM_OK && n_alt == 0 && !has_empty && cannot)
        sc_fail_at(c, path, LLM_ERR_UNSUPPORTED,
                   "pattern \"%.80s\" with minLength/maxLength: the lengths cannot be expressed for this pattern",
                   pattern);
    if (c->st == LLM_OK && (n_alt || has_empty)) {
        *empty = false;
        sc_puts(c, out, "\"\\\"\" ");
        if (n_alt > 1 || (n_alt && has_empty)) {
            sc_puts(c, out, "( ");
            sc_put(c, out, body.data, body.len);
            sc_puts(c, out, has_empty ? " )? " : " ) ");
        } else if (n_alt) {
            sc_put(c, out, body.data, body.len);
            sc_puts(c, out, " ");
        }
        sc_puts(c, out, "\"\\\"\"");
    }
    llm_buf_free(&body);
    return c->st;
}

vres sr_match(sctx *c, const char *pattern, size_t n, const char *s, size_t slen) {
    rx *tree = NULL;
    if (c->st != LLM_OK) return V_UNKNOWN;
    if (rx_cached(c, pattern, n, "", &tree) != LLM_OK) return V_UNKNOWN;
    int yes = rx_search(tree, s, slen, false);
    if (yes == 1) return V_YES;
    int maybe = rx_search(tree, s, slen, true);
    if (maybe == 0) return V_NO;
    return V_UNKNOWN;
}
