/* Sets of code points for "pattern" classes, and how one character of a set is written inside a
 * JSON string: unescaped where JSON allows (everything but '"', '\' and U+0000..U+001F), as an
 * escape otherwise. Surrogates are never members: they cannot stand in UTF-8 text. */
#include <string.h>

#include "schema/schema_regex.h"
#include "tokenizer/tok_internal.h"

static const crange ALL[2] = {{0, 0xD7FF}, {0xE000, CP_MAX}};

bool cs_add(sctx *c, cset *s, uint32_t lo, uint32_t hi) {
    if (lo > hi) return true;
    /* surrogates are never members */
    if (lo <= 0xDFFF && hi >= 0xD800) {
        if (lo < 0xD800 && !cs_add(c, s, lo, 0xD7FF)) return false;
        return hi > 0xDFFF ? cs_add(c, s, 0xE000, hi) : true;
    }
    /* merge with every range it overlaps or adjoins */
    size_t i = 0;
    while (i < s->n && s->r[i].hi + 1 < lo) i++;
    size_t j = i;
    uint32_t nlo = lo, nhi = hi;
    while (j < s->n && s->r[j].lo <= hi + 1) {
        if (s->r[j].lo < nlo) nlo = s->r[j].lo;
        if (s->r[j].hi > nhi) nhi = s->r[j].hi;
        j++;
    }
    if (j == i) { /* a new range at i */
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 4;
            crange *nr = sc_alloc(c, nc * sizeof *nr);
            if (!nr) return false;
            if (s->n) memcpy(nr, s->r, s->n * sizeof *nr);
            s->r = nr;
            s->cap = nc;
        }
        memmove(s->r + i + 1, s->r + i, (s->n - i) * sizeof *s->r);
        s->r[i] = (crange){nlo, nhi};
        s->n++;
        return true;
    }
    s->r[i] = (crange){nlo, nhi};
    memmove(s->r + i + 1, s->r + j, (s->n - j) * sizeof *s->r);
    s->n -= j - i - 1;
    return true;
}

bool cs_union(sctx *c, cset *s, const cset *t) {
    for (size_t i = 0; i < t->n; i++)
        if (!cs_add(c, s, t->r[i].lo, t->r[i].hi)) return false;
    return true;
}

bool cs_complement(sctx *c, const cset *s, cset *out) {
    *out = (cset){0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > next && !cs_add(c, out, next, s->r[i].lo - 1)) return false;
        next = s->r[i].hi + 1;
    }
    return next > CP_MAX || cs_add(c, out, next, CP_MAX);
}

bool cs_has(const cset *s, uint32_t cp) {
    for (size_t i = 0; i < s->n; i++)
        if (cp >= s->r[i].lo && cp <= s->r[i].hi) return true;
    return false;
}

bool cs_equal(const cset *a, const cset *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->r, b->r, a->n * sizeof *a->r) == 0);
}

bool cs_is_all(const cset *s) {
    cset all = {(crange *)ALL, 2, 2};
    return cs_equal(s, &all);
}

static void put_ranges(sctx *c, llm_buf *out, const crange *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sc_gbnf_class_char(c, out, r[i].lo);
        if (r[i].hi > r[i].lo) {
            if (r[i].hi > r[i].lo + 1) sc_put(c, out, "-", 1);
            sc_gbnf_class_char(c, out, r[i].hi);
        }
    }
}

void cs_gbnf(sctx *c, const cset *s, llm_buf *out) {
    if (cs_is_all(s)) {
        sc_puts(c, out, RULE_CHAR);
        return;
    }
    /* the part JSON writes unescaped */
    cset raw = {0}, specials = {0};
    for (size_t i = 0; i < s->n && c->st == LLM_OK; i++) {
        uint32_t lo = s->r[i].lo, hi = s->r[i].hi;
        if (lo < 0x20) cs_add(c, &specials, lo, hi < 0x1F ? hi : 0x1F);
        if (hi < 0x20) continue;
        uint32_t a = lo < 0x20 ? 0x20 : lo;
        cs_add(c, &raw, a, hi < 0x21 ? hi : 0x21);
        cs_add(c, &raw, a > 0x23 ? a : 0x23, hi < 0x5B ? hi : 0x5B);
        cs_add(c, &raw, a > 0x5D ? a : 0x5D, hi);
        if (a <= 0x22 && hi >= 0x22) cs_add(c, &specials, 0x22, 0x22);
        if (a <= 0x5C && hi >= 0x5C) cs_add(c, &specials, 0x5C, 0x5C);
    }
    llm_buf alts[4] = {{0}};
    size_t n = 0;
    if (raw.n == 1 && raw.r[0].lo == raw.r[0].hi) { /* one character: a literal */
        char u[4];
        const size_t k = (size_t)tok_utf8_encode(raw.r[0].lo, u);
        sc_gbnf_literal(c, &alts[n++], u, k);
    } else if (raw.n) {
        cset comp = {0};
        cs_complement(c, &raw, &comp);
        if (comp.n < raw.n) {
            sc_puts(c, &alts[n], "[^");
            put_ranges(c, &alts[n], comp.r, comp.n);
        } else {
            sc_puts(c, &alts[n], "[");
            put_ranges(c, &alts[n], raw.r, raw.n);
        }
        sc_puts(c, &alts[n++], "]");
    }
    /* escapes: one alternative "\\" followed by a class of escape letters, plus \u00XX */
    if (specials.n) {
        llm_buf letters = {0}, hex0 = {0}, hex1 = {0};
        static const char SHORT[][2] = {{'"', '"'}, {'\\', '\\'}, {'\b', 'b'}, {'\f', 'f'}, {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};
        for (size_t i = 0; i < sizeof SHORT / sizeof *SHORT; i++)
            if (cs_has(&specials, (unsigned char)SHORT[i][0])) sc_gbnf_class_char(c, &letters, (unsigned char)SHORT[i][1]);
        for (uint32_t cp = 0; cp < 0x20; cp++) {
            if (!cs_has(&specials, cp) || cp == '\b' || cp == '\f' || cp == '\n' || cp == '\r' || cp == '\t') continue;
            static const char HEX[] = "0123456789ABCDEF";
            llm_buf *h = cp < 0x10 ? &hex0 : &hex1;
            char d = HEX[cp & 15];
            sc_put(c, h, &d, 1);
            if (d >= 'A') {
                char lower = (char)(d - 'A' + 'a');
                sc_put(c, h, &lower, 1);
            }
        }
        sc_puts(c, &alts[n], "\"\\\\\" ( ");
        bool first = true;
        if (letters.len) {
            sc_puts(c, &alts[n], "[");
            sc_put(c, &alts[n], letters.data, letters.len);
            sc_puts(c, &alts[n], "]");
            first = false;
        }
        if (hex0.len || hex1.len) {
            if (!first) sc_puts(c, &alts[n], " | ");
            sc_puts(c, &alts[n], "\"u00\" ( ");
            if (hex0.len) sc_printf(c, &alts[n], "\"0\" [%s]", hex0.data);
            if (hex0.len && hex1.len) sc_puts(c, &alts[n], " | ");
            if (hex1.len) sc_printf(c, &alts[n], "\"1\" [%s]", hex1.data);
            sc_puts(c, &alts[n], " )");
        }
        sc_puts(c, &alts[n++], " )");
        llm_buf_free(&letters);
        llm_buf_free(&hex0);
        llm_buf_free(&hex1);
    }
    if (n == 1) {
        sc_put(c, out, alts[0].data, alts[0].len);
    } else if (n == 2) {
        sc_puts(c, out, "( ");
        sc_put(c, out, alts[0].data, alts[0].len);
        sc_puts(c, out, " | ");
        sc_put(c, out, alts[1].data, alts[1].len);
        sc_puts(c, out, " )");
    }
    for (size_t i = 0; i < 4; i++) llm_buf_free(&alts[i]);
}
