/* Values of a render: construction, Python truthiness, equality and ordering, dicts with
 * insertion order (hash-indexed when big), and arena string builders. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

void rt_fail(rctx *c, llm_status st, const char *fmt, ...) {
    c->err.status = st;
    int k = 0;
    if (c->cur) k = snprintf(c->err.msg, sizeof c->err.msg, "line %u, column %u: ", c->cur->line, c->cur->col);
    else k = snprintf(c->err.msg, sizeof c->err.msg, "line 1, column 1: ");
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof c->err.msg) vsnprintf(c->err.msg + k, sizeof c->err.msg - (size_t)k, fmt, ap);
    va_end(ap);
    longjmp(c->jb, 1);
}

void *rt_alloc(rctx *c, size_t n) {
    bool over;
    void *p = arena_alloc(&c->arena, n, &over);
    if (!p) {
        if (over) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
        rt_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return p;
}

void rt_step(rctx *c) {
    if (++c->steps > c->max_steps) rt_fail(c, LLM_ERR_LIMIT, "max_steps reached");
}

tv tv_str_ref(rctx *c, const char *p, size_t len) {
    return tv_str_in(rt_alloc(c, sizeof(tstr)), p, len);
}

tv tv_str(rctx *c, const char *p, size_t len) {
    rt_work(c, len);
    char *d = rt_alloc(c, len + 1);
    if (len) memcpy(d, p, len);
    d[len] = 0;
    return tv_str_ref(c, d, len);
}

tv tv_cstr(rctx *c, const char *s) { return tv_str_ref(c, s, strlen(s)); }

tv tv_list(rctx *c, size_t n) {
    if (n > SIZE_MAX / sizeof(tv) / 2) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
    tlist *l = rt_alloc(c, sizeof(tlist));
    l->n = n;
    l->v = n ? rt_alloc(c, n * sizeof(tv)) : NULL;
    for (size_t i = 0; i < n; i++) l->v[i] = tv_undef();
    tv v = {0};
    v.t = TV_LIST;
    v.u.l = l;
    return v;
}

tv tv_dict(rctx *c) {
    tdict *d = rt_alloc(c, sizeof(tdict));
    memset(d, 0, sizeof *d);
    tv v = {0};
    v.t = TV_DICT;
    v.u.d = d;
    return v;
}

tv tv_func(rctx *c, tfunc_kind kind, const char *name) {
    tfunc *f = rt_alloc(c, sizeof(tfunc));
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->name = name;
    tv v = {0};
    v.t = TV_FUNC;
    v.u.fn = f;
    return v;
}

bool tv_truthy(const tv *v) {
    switch (v->t) {
    case TV_UNDEF: case TV_NONE: return false;
    case TV_BOOL: return v->u.b;
    case TV_INT: return v->u.i != 0;
    case TV_FLOAT: return v->u.f != 0.0;
    case TV_STR: return v->u.s->len != 0;
    case TV_LIST: return v->gen == 1 || v->gen == 2 || v->u.l->n != 0;
    case TV_DICT: return v->u.d->n != 0;
    default: return true;
    }
}

bool tv_is_number(const tv *v) { return v->t == TV_INT || v->t == TV_FLOAT || v->t == TV_BOOL; }

double tv_as_double(const tv *v) {
    if (v->t == TV_FLOAT) return v->u.f;
    if (v->t == TV_INT) return (double)v->u.i;
    if (v->t == TV_BOOL) return v->u.b;
    return 0;
}

static int64_t as_i64(const tv *v) { return v->t == TV_BOOL ? v->u.b : v->u.i; }

const char *tv_type_name(const tv *v) {
    switch (v->t) {
    case TV_UNDEF: return "Undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float";
    case TV_STR: return "str";
    case TV_LIST: {
        static const char *const gen_names[] = {"list", "generator", "list_reverseiterator", "dict_items", "dict_keys", "dict_values"};
        if (v->gen) return gen_names[v->gen];
        return v->tuple ? "tuple" : "list";
    }
    case TV_DICT: return "dict";
    case TV_FUNC: return v->u.fn->kind == FN_MACRO ? "Macro" : "builtin_function_or_method";
    case TV_NS: return "Namespace";
    default: return "LoopContext";
    }
}

/* Compares int with float exactly (as Python does). */
static int cmp_int_float(int64_t i, double f) {
    if (isnan(f)) return 2; /* unordered */
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double fl = floor(f);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return fl == f ? 0 : -1;
}

static int num_cmp(const tv *a, const tv *b) {
    if (a->t != TV_FLOAT && b->t != TV_FLOAT) {
        int64_t x = as_i64(a), y = as_i64(b);
        return x < y ? -1 : x > y;
    }
    if (a->t == TV_FLOAT && b->t == TV_FLOAT) {
        if (isnan(a->u.f) || isnan(b->u.f)) return 2;
        return a->u.f < b->u.f ? -1 : a->u.f > b->u.f;
    }
    if (a->t == TV_FLOAT) {
        int r = cmp_int_float(as_i64(b), a->u.f);
        return r == 2 ? 2 : -r;
    }
    return cmp_int_float(as_i64(a), b->u.f);
}

static void enter_value(rctx *c) {
    if (++c->depth > c->value_depth_max) rt_fail(c, LLM_ERR_LIMIT, "values nested deeper than max_depth");
}

bool tv_eq(rctx *c, const tv *a, const tv *b) {
    if (tv_is_number(a) && tv_is_number(b)) return num_cmp(a, b) == 0;
    if (a->t != b->t) return false;
    switch (a->t) {
    case TV_UNDEF: case TV_NONE: return true;
    case TV_STR:
        rt_work(c, a->u.s->len);
        return a->u.s->len == b->u.s->len && memcmp(a->u.s->p, b->u.s->p, a->u.s->len) == 0;
    case TV_LIST: {
        if (a->tuple != b->tuple || a->u.l->n != b->u.l->n) return false;
        enter_value(c);
        bool eq = true;
        for (size_t i = 0; i < a->u.l->n && eq; i++) eq = tv_eq(c, &a->u.l->v[i], &b->u.l->v[i]);
        c->depth--;
        return eq;
    }
    case TV_DICT: {
        if (a->u.d->n != b->u.d->n) return false;
        enter_value(c);
        bool eq = true;
        for (size_t i = 0; i < a->u.d->n && eq; i++) {
            tv *o = dict_get(c, b->u.d, &a->u.d->k[i]);
            eq = o && tv_eq(c, &a->u.d->v[i], o);
        }
        c->depth--;
        return eq;
    }
    case TV_FUNC: return a->u.fn == b->u.fn;
    case TV_NS: return a->u.d == b->u.d;
    case TV_LOOP: return a->u.loop == b->u.loop;
    default: return false;
    }
}

static int str_cmp(const tstr *a, const tstr *b) {
    size_t m = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->p, b->p, m); /* UTF-8 byte order is code point order */
    if (r) return r < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

int tv_cmp(rctx *c, const tv *a, const tv *b) {
    if (tv_is_number(a) && tv_is_number(b)) {
        int r = num_cmp(a, b);
        return r == 2 ? 0 : r; /* NaN: every comparison false; callers see "equal" only for sorting */
    }
    if (a->t == TV_STR && b->t == TV_STR) {
        rt_work(c, a->u.s->len);
        return str_cmp(a->u.s, b->u.s);
    }
    if (a->t == TV_LIST && b->t == TV_LIST && a->tuple == b->tuple) {
        enter_value(c);
        size_t n = a->u.l->n < b->u.l->n ? a->u.l->n : b->u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (!tv_eq(c, &a->u.l->v[i], &b->u.l->v[i])) {
                int r = tv_cmp(c, &a->u.l->v[i], &b->u.l->v[i]);
                c->depth--;
                return r;
            }
        }
        c->depth--;
        return a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
    }
    if (a->t == TV_UNDEF || b->t == TV_UNDEF) rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: cannot compare an undefined value");
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: '<' not supported between instances of '%s' and '%s'", tv_type_name(a), tv_type_name(b));
}

/* ---- dicts */
static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t tv_hash(rctx *c, const tv *k) {
    switch (k->t) {
    case TV_STR: rt_work(c, k->u.s->len); return hash_bytes(k->u.s->p, k->u.s->len);
    case TV_INT: case TV_BOOL: return (uint64_t)as_i64(k) * 0x9e3779b97f4a7c15ull;
    case TV_FLOAT: {
        double f = k->u.f;
        if (f == floor(f) && f >= -9.2e18 && f <= 9.2e18) return (uint64_t)(int64_t)f * 0x9e3779b97f4a7c15ull;
        uint64_t bits;
        memcpy(&bits, &f, sizeof bits);
        return bits * 0x9e3779b97f4a7c15ull;
    }
    case TV_NONE: return 0x1234567;
    case TV_LIST:
        if (k->tuple) {
            uint64_t h = 0x345678;
            enter_value(c);
            for (size_t i = 0; i < k->u.l->n; i++) h = (h ^ tv_hash(c, &k->u.l->v[i])) * 1000003ull;
            c->depth--;
            return h;
        }
        break;
    default: break;
    }
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: unhashable type: '%s'", tv_type_name(k));
}

static void build_index(rctx *c, tdict *d) {
    size_t cap = 64;
    while (cap < d->n * 2 + 2) cap *= 2;
    d->index = rt_alloc(c, cap * sizeof(uint32_t));
    memset(d->index, 0xff, cap * sizeof(uint32_t));
    d->index_cap = cap;
    for (size_t i = 0; i < d->n; i++) {
        size_t h = tv_hash(c, &d->k[i]) & (cap - 1);
        while (d->index[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
        d->index[h] = (uint32_t)i;
    }
}

static bool key_eq(rctx *c, const tv *a, const tv *b) {
    if (a->t == TV_STR && b->t == TV_STR && a->u.s->len == b->u.s->len) rt_work(c, a->u.s->len);
    if (a->t == TV_STR && b->t == TV_STR)
        return a->u.s->len == b->u.s->len && memcmp(a->u.s->p, b->u.s->p, a->u.s->len) == 0;
    return tv_eq(c, a, b);
}

static long dict_find(rctx *c, tdict *d, const tv *key) {
    if (d->n > 16) {
        if (!d->index) build_index(c, d);
        size_t h = tv_hash(c, key) & (d->index_cap - 1);
        while (d->index[h] != UINT32_MAX) {
            if (key_eq(c, &d->k[d->index[h]], key)) return (long)d->index[h];
            h = (h + 1) & (d->index_cap - 1);
        }
        return -1;
    }
    tv_hash(c, key); /* unhashable keys fail even in small dicts */
    for (size_t i = 0; i < d->n; i++)
        if (key_eq(c, &d->k[i], key)) return (long)i;
    return -1;
}

tv *dict_get(rctx *c, tdict *d, const tv *key) {
    long i = dict_find(c, d, key);
    return i < 0 ? NULL : &d->v[i];
}

tv *dict_get_str(rctx *c, tdict *d, const char *key, size_t len) {
    tstr s = {len, key};
    tv k = {0};
    k.t = TV_STR;
    k.u.s = &s;
    return dict_get(c, d, &k);
}

void dict_set(rctx *c, tdict *d, const tv *key, const tv *val) {
    long i = dict_find(c, d, key);
    if (i >= 0) {
        d->v[i] = *val;
        return;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        if (nc >= UINT32_MAX / 2) rt_fail(c, LLM_ERR_LIMIT, "dict too large");
        tv *nk = rt_alloc(c, nc * sizeof(tv)), *nv = rt_alloc(c, nc * sizeof(tv));
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(tv));
            memcpy(nv, d->v, d->n * sizeof(tv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = nc;
    }
    d->k[d->n] = *key;
    d->v[d->n] = *val;
    d->n++;
    d->index = NULL; /* rebuilt on the next big lookup */
}

tlist *tv_iterate(rctx *c, const tv *v) {
    switch (v->t) {
    case TV_UNDEF: {
        tlist *l = rt_alloc(c, sizeof(tlist));
        l->n = 0;
        l->v = NULL;
        return l;
    }
    case TV_LIST: return v->u.l;
    case TV_DICT: {
        tv r = tv_list(c, v->u.d->n);
        for (size_t i = 0; i < v->u.d->n; i++) r.u.l->v[i] = v->u.d->k[i];
        return r.u.l;
    }
    case TV_STR: {
        const tstr *s = v->u.s;
        rt_work(c, s->len);
        size_t n = utf8_count(s->p, s->len);
        tv r = tv_list(c, n);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp;
            size_t k = utf8_decode(s->p + off, s->len - off, &cp);
            r.u.l->v[i] = tv_str_ref(c, s->p + off, k);
            off += k;
        }
        return r.u.l;
    }
    default:
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: '%s' object is not iterable", tv_type_name(v));
    }
}

/* ---- string builders */
void sb_put(rctx *c, sbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->len + n + 1 > b->cap || b->len + n < b->len) {
        if (n > c->arena.limit || b->len > c->arena.limit) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
        rt_work(c, b->len + n);
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n + 1) nc *= 2;
        char *np = rt_alloc(c, nc);
        if (b->len) memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sb_puts(rctx *c, sbuf *b, const char *s) { sb_put(c, b, s, strlen(s)); }
void sb_putc(rctx *c, sbuf *b, char ch) { sb_put(c, b, &ch, 1); }

tv sb_value(rctx *c, sbuf *b) {
    if (!b->p) return tv_str_ref(c, "", 0);
    return tv_str_ref(c, b->p, b->len);
}
