/* Objects and arrays.
 *
 * Objects: keys in the schema's order ("properties", then required keys it does not list), each
 * optional one optionally, commas placed so that any subset in that order is one string of the
 * grammar; then, where extra keys are generated (additionalProperties true or a schema, or an
 * object schema without properties), any number of keys that differ from every listed name.
 * Extra keys are written without escapes, so the text of a key is the key itself and "differ
 * from the listed names" is a plain prefix-tree complement.
 *
 * Arrays: prefixItems in place, then items; minItems/maxItems as repetition counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"
#include "tokenizer/tok_internal.h"

/* prefixItems nest one group per item. */
#define MAX_PREFIX 128

/* "{a,b}" for a repetition (b < 0: unbounded) appended after an element. */
static void put_count(sctx *c, llm_buf *b, int64_t lo, int64_t hi) {
    if (lo == 0 && hi < 0) sc_puts(c, b, "*");
    else if (lo == 1 && hi < 0) sc_puts(c, b, "+");
    else if (lo == 0 && hi == 1) sc_puts(c, b, "?");
    else if (hi < 0) sc_printf(c, b, "{%lld,}", (long long)lo);
    else if (lo == hi) sc_printf(c, b, "{%lld}", (long long)lo);
    else sc_printf(c, b, "{%lld,%lld}", (long long)lo, (long long)hi);
}

/* ---- keys that are none of the listed names ----------------------------------------------- */
typedef struct trie {
    uint32_t *cps; /* child code points */
    struct trie **kids;
    size_t n, cap;
    bool terminal;
} trie;

static trie *trie_child(sctx *c, trie *t, uint32_t cp) {
    for (size_t i = 0; i < t->n; i++)
        if (t->cps[i] == cp) return t->kids[i];
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4;
        uint32_t *ncp = sc_alloc(c, nc * sizeof *ncp);
        trie **nk = sc_alloc(c, nc * sizeof *nk);
        if (!ncp || !nk) return NULL;
        if (t->n) {
            memcpy(ncp, t->cps, t->n * sizeof *ncp);
            memcpy(nk, t->kids, t->n * sizeof *nk);
        }
        t->cps = ncp;
        t->kids = nk;
        t->cap = nc;
    }
    trie *k = sc_alloc(c, sizeof *k);
    if (!k) return NULL;
    t->cps[t->n] = cp;
    t->kids[t->n++] = k;
    return k;
}

static void trie_add(sctx *c, trie *t, const char *s, size_t n) {
    /* extra keys are written without escapes: a name with '"', '\\' or a control character can
     * never equal one, so it needs no exclusion */
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20) return;
    for (size_t i = 0; i < n && t;) {
        uint32_t cp;
        i += sc_utf8_decode(s + i, n - i, &cp);
        t = trie_child(c, t, cp);
    }
    if (t) t->terminal = true;
}

/* A raw key character: anything JSON allows unescaped. */
#define KEY_CHAR "[^\\x22\\x5C\\x00-\\x1F]"

/* Rule for the key texts (between the quotes) that differ from every name below t. */
static const char *trie_rule(sctx *c, const trie *t, const char *hint, size_t depth) {
    llm_buf b = {0};
    /* one character that starts no listed name, then anything */
    sc_puts(c, &b, "[^\\x22\\x5C\\x00-\\x1F");
    for (size_t i = 0; i < t->n; i++) sc_gbnf_class_char(c, &b, t->cps[i]);
    sc_puts(c, &b, "] " KEY_CHAR "*");
    for (size_t i = 0; i < t->n && c->st == LLM_OK; i++) {
        if (depth > SCHEMA_MAX_DEPTH) { /* very long names: refuse to recurse further */
            sc_fail(c, LLM_ERR_LIMIT, "property names longer than %d characters", SCHEMA_MAX_DEPTH);
            break;
        }
        const char *sub = trie_rule(c, t->kids[i], hint, depth + 1);
        if (!sub) break;
        char ch[4];
        const size_t k = (size_t)tok_utf8_encode(t->cps[i], ch); /* the character for the literal */
        sc_puts(c, &b, " | ");
        sc_gbnf_literal(c, &b, ch, k);
        sc_puts(c, &b, " ");
        sc_puts(c, &b, sub);
    }
    /* a listed name's proper prefix is itself a different key (the empty key included) */
    const char *name = NULL;
    if (c->st == LLM_OK) {
        if (!t->terminal) {
            llm_buf opt = {0};
            sc_puts(c, &opt, "( ");
            sc_put(c, &opt, b.data, b.len);
            sc_puts(c, &opt, " )?");
            name = sg_rule(c, hint, opt.data, opt.len);
            llm_buf_free(&opt);
        } else {
            name = sg_rule(c, hint, b.data, b.len);
        }
    }
    llm_buf_free(&b);
    return name;
}

/* ---- objects -------------------------------------------------------------------------------- */
typedef struct item {
    llm_buf kv; /* "\"key\"" ws ":" ws value */
    bool required;
} kv_item;

static void key_literal(sctx *c, llm_buf *b, const char *name, size_t len) {
    llm_buf text = {0};
    sc_put(c, &text, "\"", 1);
    sc_json_string_body(c, &text, name, len);
    sc_put(c, &text, "\"", 1);
    if (c->st == LLM_OK) sc_gbnf_literal(c, b, text.data, text.len);
    llm_buf_free(&text);
}

static const sch *prop_of(const sch *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n_props; i++)
        if (s->props[i].len == len && memcmp(s->props[i].name, name, len) == 0) return s->props[i].s;
    return NULL;
}

static bool is_required(const sch *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n_req; i++)
        if (s->req[i].len == len && memcmp(s->req[i].s, name, len) == 0) return true;
    return false;
}

/* The value expression of a key; *empty when no value can be generated. */
static void value_expr(sctx *c, const sch *v, const char *hint, const char *name, size_t len, llm_buf *out, bool *empty) {
    llm_buf h = {0};
    sg_hint(c, &h, hint, name, len);
    if (c->st == LLM_OK) sg_emit(c, v, h.data, false, out, empty);
    else *empty = true;
    llm_buf_free(&h);
}

/* The text after item j: each later item behind its comma (optional ones in ( )?), then the
 * extra keys' repetition. With shared (several alternatives start at different keys), each
 * tail that is long becomes a rule that the tail before it names, so the sizes stay linear. */
static void tail_text(sctx *c, const kv_item *it, size_t n, size_t j, const llm_buf *extra, int64_t xlo, int64_t xhi,
                      bool shared, const char *hint, llm_buf *out) {
    llm_buf t = {0};
    if (j < n) {
        sc_puts(c, &t, it[j].required ? "\",\" ws " : "( \",\" ws ");
        sc_put(c, &t, it[j].kv.data, it[j].kv.len);
        if (!it[j].required) sc_puts(c, &t, " )?");
        llm_buf rest = {0};
        tail_text(c, it, n, j + 1, extra, xlo, xhi, shared, hint, &rest);
        if (rest.len) {
            sc_puts(c, &t, " ");
            sc_put(c, &t, rest.data, rest.len);
        }
        llm_buf_free(&rest);
    } else if (extra && xhi != 0) {
        sc_puts(c, &t, "( \",\" ws ");
        sc_put(c, &t, extra->data, extra->len);
        sc_puts(c, &t, " )");
        put_count(c, &t, xlo, xhi);
    }
    if (shared && t.len) {
        llm_buf h = {0};
        char tag[32];
        snprintf(tag, sizeof tag, "after-%zu", j);
        sg_hint(c, &h, hint, tag, strlen(tag));
        if (c->st == LLM_OK) sg_inline_or_rule(c, h.data, &t, out);
        llm_buf_free(&h);
    } else {
        sc_put(c, out, t.data ? t.data : "", t.len);
    }
    llm_buf_free(&t);
}

llm_status sg_object(sctx *c, const sch *s, const char *hint, llm_buf *out, bool *empty) {
    *empty = true;
    size_t cap = s->n_props + s->n_req;
    kv_item *it = calloc(cap ? cap : 1, sizeof *it);
    if (!it) return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = 0;
    bool impossible = false;
    /* listed properties, then required keys not listed */
    for (size_t i = 0; i < cap && c->st == LLM_OK && !impossible; i++) {
        const char *name;
        size_t len;
        const sch *v;
        bool req;
        if (i < s->n_props) {
            name = s->props[i].name;
            len = s->props[i].len;
            v = s->props[i].s;
            req = is_required(s, name, len);
        } else {
            name = s->req[i - s->n_props].s;
            len = s->req[i - s->n_props].len;
            if (prop_of(s, name, len)) continue;
            req = true;
            v = NULL;
            if (s->addl == ADDL_FALSE) {
                impossible = true;
                break;
            }
            if (s->addl == ADDL_SCHEMA) v = s->addl_s;
        }
        llm_buf val = {0};
        bool e = false;
        if (v) value_expr(c, v, hint, name, len, &val, &e);
        else sc_puts(c, &val, RULE_VALUE);
        if (e) {
            if (req) impossible = true;
            llm_buf_free(&val);
            continue;
        }
        key_literal(c, &it[n].kv, name, len);
        sc_puts(c, &it[n].kv, " \":\" ws ");
        sc_put(c, &it[n].kv, val.data, val.len);
        it[n].required = req;
        n++;
        llm_buf_free(&val);
    }
    /* extra keys */
    llm_buf extra = {0};
    bool has_extra = false;
    if (!impossible && c->st == LLM_OK && so_gen_extras(s)) {
        llm_buf val = {0};
        bool e = false;
        if (s->addl == ADDL_SCHEMA) value_expr(c, s->addl_s, hint, "additional", 10, &val, &e);
        else sc_puts(c, &val, RULE_VALUE);
        if (!e && c->st == LLM_OK) {
            const char *keys = "string";
            if (s->n_props || s->n_req) {
                trie t = {0};
                for (size_t i = 0; i < s->n_props; i++) trie_add(c, &t, s->props[i].name, s->props[i].len);
                for (size_t i = 0; i < s->n_req; i++) trie_add(c, &t, s->req[i].s, s->req[i].len);
                llm_buf h = {0};
                sg_hint(c, &h, hint, "other-key", 9);
                keys = c->st == LLM_OK ? trie_rule(c, &t, h.data, 0) : NULL;
                llm_buf_free(&h);
                if (keys) sc_printf(c, &extra, "\"\\\"\" %s \"\\\"\"", keys);
            } else {
                sc_puts(c, &extra, RULE_STRING);
            }
            sc_puts(c, &extra, " \":\" ws ");
            sc_put(c, &extra, val.data, val.len);
            has_extra = c->st == LLM_OK;
        }
        llm_buf_free(&val);
    }
    /* counts: minProperties / maxProperties */
    int64_t mandatory = 0, total = (int64_t)n, xlo = 0, xhi = has_extra ? -1 : 0;
    for (size_t i = 0; i < n; i++) mandatory += it[i].required;
    if (!impossible && c->st == LLM_OK) {
        if (s->max_props >= 0) {
            if (mandatory > s->max_props) impossible = true;
            else if (total > s->max_props)
                sc_fail_at(c, s->path, LLM_ERR_UNSUPPORTED,
                           "maxProperties below the number of listed properties is not supported");
            else if (has_extra) xhi = s->max_props - total;
        }
        if (s->min_props > mandatory) {
            /* one extra key is always a key of its own; two could repeat one name */
            if (has_extra && s->min_props - mandatory == 1 && (xhi < 0 || xhi >= 1)) xlo = 1;
            else
                sc_fail_at(c, s->path, LLM_ERR_UNSUPPORTED,
                           "minProperties above the number of required properties is not supported");
        }
        if (xhi > SCHEMA_MAX_REPEAT || xhi < 0) xhi = has_extra ? -1 : 0;
    }
    if (!impossible && c->st == LLM_OK) {
        size_t first_req = n;
        for (size_t i = 0; i < n && first_req == n; i++)
            if (it[i].required) first_req = i;
        bool may_be_empty = first_req == n && xlo == 0;
        llm_buf body = {0};
        size_t n_alt = 0;
        bool shared = first_req > 0;
        /* alternatives by the first key written */
        for (size_t j = 0; j < n && j <= first_req && c->st == LLM_OK; j++) {
            if (n_alt++) sc_puts(c, &body, " | ");
            sc_put(c, &body, it[j].kv.data, it[j].kv.len);
            llm_buf tail = {0};
            tail_text(c, it, n, j + 1, has_extra ? &extra : NULL, xlo, xhi, shared, hint, &tail);
            if (tail.len) {
                sc_puts(c, &body, " ");
                sc_put(c, &body, tail.data, tail.len);
            }
            llm_buf_free(&tail);
        }
        if (first_req == n && has_extra && xhi != 0 && c->st == LLM_OK) { /* only extra keys */
            if (n_alt++) sc_puts(c, &body, " | ");
            sc_put(c, &body, extra.data, extra.len);
            if (xhi != 1) {
                sc_puts(c, &body, " ( \",\" ws ");
                sc_put(c, &body, extra.data, extra.len);
                sc_puts(c, &body, " )");
                put_count(c, &body, xlo > 1 ? xlo - 1 : 0, xhi < 0 ? -1 : xhi - 1);
            }
        }
        if (c->st == LLM_OK) {
            if (n_alt == 0) {
                sc_puts(c, out, "\"{\" ws \"}\"");
            } else if (may_be_empty) {
                sc_puts(c, out, "\"{\" ws ( ");
                if (n_alt > 1) sc_puts(c, out, "( ");
                sc_put(c, out, body.data, body.len);
                sc_puts(c, out, n_alt > 1 ? " ) ws )? \"}\"" : " ws )? \"}\"");
            } else {
                sc_puts(c, out, "\"{\" ws ");
                if (n_alt > 1) sc_puts(c, out, "( ");
                sc_put(c, out, body.data, body.len);
                sc_puts(c, out, n_alt > 1 ? " ) ws \"}\"" : " ws \"}\"");
            }
            *empty = false;
        }
        llm_buf_free(&body);
    }
    for (size_t i = 0; i < cap; i++) llm_buf_free(&it[i].kv);
    free(it);
    llm_buf_free(&extra);
    return c->st;
}

/* ---- arrays --------------------------------------------------------------------------------- */
typedef struct arr_ctx {
    llm_buf *prefix; /* expressions of the prefix items */
    size_t k;
    const llm_buf *item; /* NULL: no items after the prefix */
    int64_t lo, hi;      /* hi < 0: unbounded */
} arr_ctx;

/* Positions i.. of an array that has i elements before them. */
static void arr_from(sctx *c, const arr_ctx *a, size_t i, llm_buf *out) {
    if (a->hi >= 0 && (int64_t)i >= a->hi) return;
    if (i < a->k) {
        bool opt = (int64_t)i >= a->lo;
        if (opt) sc_puts(c, out, "( ");
        if (i) sc_puts(c, out, "\",\" ws ");
        sc_put(c, out, a->prefix[i].data, a->prefix[i].len);
        llm_buf rest = {0};
        arr_from(c, a, i + 1, &rest);
        if (rest.len) {
            sc_puts(c, out, " ");
            sc_put(c, out, rest.data, rest.len);
        }
        llm_buf_free(&rest);
        if (opt) sc_puts(c, out, " )?");
        return;
    }
    if (!a->item) return;
    int64_t need = a->lo - (int64_t)i > 0 ? a->lo - (int64_t)i : 0;
    int64_t most = a->hi < 0 ? -1 : a->hi - (int64_t)i;
    if (i == 0) { /* the first element has no comma; lo >= 1 here (see sg_array) */
        sc_put(c, out, a->item->data, a->item->len);
        if (most != 1) {
            sc_puts(c, out, " ( \",\" ws ");
            sc_put(c, out, a->item->data, a->item->len);
            sc_puts(c, out, " )");
            put_count(c, out, need > 0 ? need - 1 : 0, most < 0 ? -1 : most - 1);
        }
        return;
    }
    sc_puts(c, out, "( \",\" ws ");
    sc_put(c, out, a->item->data, a->item->len);
    sc_puts(c, out, " )");
    put_count(c, out, need, most);
}

llm_status sg_array(sctx *c, const sch *s, const char *hint, llm_buf *out, bool *empty) {
    *empty = true;
    if (s->n_prefix > MAX_PREFIX)
        return sc_fail_at(c, s->path, LLM_ERR_LIMIT, "more than %d prefixItems", MAX_PREFIX);
    int64_t lo = s->min_items, hi = s->max_items;
    if (s->unique && (hi < 0 || hi > 1))
        return sc_fail_at(c, s->path, LLM_ERR_UNSUPPORTED,
                          "the keyword \"uniqueItems\" is not supported (except with maxItems 0 or 1)");
    llm_buf *prefix = calloc(s->n_prefix ? s->n_prefix : 1, sizeof *prefix);
    if (!prefix) return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < s->n_prefix && c->st == LLM_OK; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "%zu", i);
        bool e;
        value_expr(c, s->prefix[i], hint, tag, strlen(tag), &prefix[i], &e);
        if (e) { /* nothing fits here: arrays end before it */
            if (hi < 0 || hi > (int64_t)i) hi = (int64_t)i;
            break;
        }
        k++;
    }
    llm_buf item = {0};
    bool has_item = true;
    if (c->st == LLM_OK) {
        if (s->items) {
            bool e;
            value_expr(c, s->items, hint, "item", 4, &item, &e);
            has_item = !e;
        } else {
            sc_puts(c, &item, RULE_VALUE);
        }
        if (!has_item && (hi < 0 || hi > (int64_t)k)) hi = (int64_t)k;
    }
    if (c->st == LLM_OK && lo > SCHEMA_MAX_REPEAT)
        sc_fail_at(c, s->path, LLM_ERR_LIMIT, "minItems %lld is above the limit of %d", (long long)lo, SCHEMA_MAX_REPEAT);
    if (hi > SCHEMA_MAX_REPEAT) hi = SCHEMA_MAX_REPEAT; /* fewer items than allowed are valid too */
    if (c->st == LLM_OK && (hi < 0 || lo <= hi)) {
        *empty = false;
        if (hi == 0) {
            sc_puts(c, out, "\"[\" ws \"]\"");
        } else {
            arr_ctx a = {prefix, k, has_item ? &item : NULL, lo > 1 ? lo : 1, hi};
            llm_buf elems = {0};
            arr_from(c, &a, 0, &elems);
            sc_puts(c, out, lo == 0 ? "\"[\" ws ( " : "\"[\" ws ");
            sc_put(c, out, elems.data, elems.len);
            sc_puts(c, out, lo == 0 ? " ws )? \"]\"" : " ws \"]\"");
            llm_buf_free(&elems);
        }
    }
    for (size_t i = 0; i < s->n_prefix; i++) llm_buf_free(&prefix[i]);
    free(prefix);
    llm_buf_free(&item);
    return c->st;
}
