/* jinja2's built-in filters (the ones chat templates use; the other names are known, so that
 * templates parse as in jinja2, and fail when run) and tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

enum {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE,
    F_FILESIZEFORMAT, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_GROUPBY, F_INDENT, F_INT, F_ITEMS, F_JOIN,
    F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_PPRINT, F_RANDOM, F_REJECT, F_REJECTATTR,
    F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SLICE, F_SORT, F_STRING, F_STRIPTAGS,
    F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_URLENCODE, F_URLIZE, F_WORDCOUNT,
    F_WORDWRAP, F_XMLATTR, F_COUNT_
};
static const char *const filter_names[F_COUNT_] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
    "wordwrap", "xmlattr",
};

enum {
    T_BOOLEAN, T_CALLABLE, T_DEFINED, T_DIVISIBLEBY, T_EQ, T_EQUALTO, T_ESCAPED, T_EVEN, T_FALSE, T_FILTER,
    T_FLOAT, T_GE, T_GT, T_GREATERTHAN, T_IN, T_INTEGER, T_ITERABLE, T_LE, T_LOWER, T_LT, T_LESSTHAN,
    T_MAPPING, T_NE, T_NONE, T_NUMBER, T_ODD, T_SAMEAS, T_SEQUENCE, T_STRING, T_TEST, T_TRUE, T_UNDEFINED,
    T_UPPER, T_OP_EQ, T_OP_NE, T_OP_LT, T_OP_LE, T_OP_GT, T_OP_GE, T_COUNT_
};
static const char *const test_names[T_COUNT_] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter",
    "float", "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lower", "lt", "lessthan",
    "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined",
    "upper", "==", "!=", "<", "<=", ">", ">=",
};

static int lookup(const char *const *tab, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(tab[i]) == len && !memcmp(tab[i], name, len)) return i;
    return -1;
}

int filter_lookup(const char *name, size_t len) { return lookup(filter_names, F_COUNT_, name, len); }
int test_lookup(const char *name, size_t len) { return lookup(test_names, T_COUNT_, name, len); }

/* ---- helpers */
static int64_t to_int_arg(rctx *c, const tv *v, const char *what, int64_t dflt) {
    if (v->t == TV_UNDEF) return dflt;
    if (v->t == TV_INT) return v->u.i;
    if (v->t == TV_BOOL) return v->u.b;
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s must be an integer, not %s", what, tv_type_name(v));
}

static tv str_of(rctx *c, const tv *v) { return tv_to_str(c, v); }

/* environment.getitem chain for "a.b.0" attribute paths */
static tv get_path(rctx *c, const tv *item, const tv *attr) {
    if (attr->t == TV_INT) return tv_getitem(c, item, attr);
    if (attr->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: attribute must be a string");
    const tstr *a = attr->u.s;
    tv cur = *item;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < a->len && a->p[j] != '.') j++;
        tv key;
        bool digits = j > i;
        int64_t num = 0;
        for (size_t k = i; k < j && digits; k++) {
            if (a->p[k] < '0' || a->p[k] > '9' || num > (INT64_MAX - 9) / 10) digits = false;
            else num = num * 10 + (a->p[k] - '0');
        }
        key = digits ? tv_int(num) : tv_str_ref(c, a->p + i, j - i);
        cur = tv_getitem(c, &cur, &key);
        if (j >= a->len) break;
        i = j + 1;
    }
    return cur;
}

static tv lower_if_str(rctx *c, const tv *v) {
    if (v->t == TV_STR) return str_case(c, v, 0);
    return *v;
}

/* stable merge sort of keys with their values, Python sorted() semantics (reverse keeps ties in order) */
static void msort(rctx *c, tv *keys, tv *vals, tv *tk, tv *tvv, size_t n, bool rev) {
    if (n < 2) return;
    size_t h = n / 2;
    msort(c, keys, vals, tk, tvv, h, rev);
    msort(c, keys + h, vals + h, tk, tvv, n - h, rev);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        rt_step(c);
        int r = rev ? tv_cmp(c, &keys[i], &keys[j]) : tv_cmp(c, &keys[j], &keys[i]);
        /* take from the right only when strictly before the left */
        bool take_right = rev ? r < 0 : r < 0;
        if (take_right) { tk[k] = keys[j]; tvv[k++] = vals[j++]; }
        else { tk[k] = keys[i]; tvv[k++] = vals[i++]; }
    }
    while (i < h) { tk[k] = keys[i]; tvv[k++] = vals[i++]; }
    while (j < n) { tk[k] = keys[j]; tvv[k++] = vals[j++]; }
    memcpy(keys, tk, n * sizeof(tv));
    memcpy(vals, tvv, n * sizeof(tv));
}

static void sort_by_keys(rctx *c, tv *keys, tv *vals, size_t n, bool rev) {
    if (n < 2) return;
    if (++c->depth > c->max_depth + 64) rt_fail(c, LLM_ERR_LIMIT, "evaluation nested deeper than max_depth");
    tv *tk = rt_alloc(c, n * sizeof(tv)), *tvv = rt_alloc(c, n * sizeof(tv));
    msort(c, keys, vals, tk, tvv, n, rev);
    c->depth--;
}

static tv list_of(rctx *c, tlist *l) {
    tv r = tv_list(c, l->n);
    if (l->n) memcpy(r.u.l->v, l->v, l->n * sizeof(tv));
    return r;
}

static size_t py_len(rctx *c, const tv *v) {
    switch (v->t) {
    case TV_UNDEF: return 0;
    case TV_STR: rt_work(c, v->u.s->len); return utf8_count(v->u.s->p, v->u.s->len);
    case TV_LIST:
        if (v->gen == 1 || v->gen == 2) break;
        return v->u.l->n;
    case TV_DICT: return v->u.d->n;
    case TV_LOOP: return v->u.loop->items->n;
    default: break;
    }
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: object of type '%s' has no len()", tv_type_name(v));
}

static tv make_tuple2(rctx *c, const tv *a, const tv *b) {
    tv p = tv_list(c, 2);
    p.tuple = 1;
    p.u.l->v[0] = *a;
    p.u.l->v[1] = *b;
    return p;
}

/* Python float(str) */
static bool parse_float_str(const tstr *s, double *out) {
    char buf[128];
    size_t a = 0, b = s->len;
    while (a < b && (s->p[a] == ' ' || (s->p[a] >= 9 && s->p[a] <= 13))) a++;
    while (b > a && (s->p[b - 1] == ' ' || (s->p[b - 1] >= 9 && s->p[b - 1] <= 13))) b--;
    if (b == a || b - a >= sizeof buf) return false;
    size_t k = 0;
    for (size_t i = a; i < b; i++) {
        char ch = s->p[i];
        if (ch == '_') {
            if (i == a || i + 1 == b || !(s->p[i - 1] >= '0' && s->p[i - 1] <= '9') || !(s->p[i + 1] >= '0' && s->p[i + 1] <= '9')) return false;
            continue;
        }
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-' ||
              strchr("infatyINFATY", ch)))
            return false;
        buf[k++] = ch;
    }
    buf[k] = 0;
    if (strchr(buf, 'x') || strchr(buf, 'X')) return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end) return false;
    /* strtod accepts "infinity"/"nan" like Python; reject hex and "nan(...)" (filtered above) */
    *out = v;
    return true;
}

static bool parse_int_str(const tstr *s, int64_t base, int64_t *out, bool *overflow) {
    size_t a = 0, b = s->len;
    *overflow = false;
    while (a < b && (s->p[a] == ' ' || (s->p[a] >= 9 && s->p[a] <= 13))) a++;
    while (b > a && (s->p[b - 1] == ' ' || (s->p[b - 1] >= 9 && s->p[b - 1] <= 13))) b--;
    bool neg = false;
    if (a < b && (s->p[a] == '+' || s->p[a] == '-')) neg = s->p[a++] == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (b - a > 2 && s->p[a] == '0') {
            char x = (char)(s->p[a + 1] | 32);
            int64_t pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
            if (pb && (base == 0 || base == pb)) { base = pb; a += 2; }
        }
        if (base == 0) base = 10;
    }
    if (base < 2 || base > 36 || a >= b) return false;
    int64_t v = 0;
    bool prev_digit = false;
    for (size_t i = a; i < b; i++) {
        char ch = s->p[i];
        if (ch == '_' && prev_digit && i + 1 < b) { prev_digit = false; continue; }
        int d = (ch >= '0' && ch <= '9') ? ch - '0' : ((ch | 32) >= 'a' && (ch | 32) <= 'z') ? (ch | 32) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_sub_overflow(v, d, &v)) { *overflow = true; return false; }
        prev_digit = true;
    }
    if (!prev_digit) return false;
    if (!neg) {
        if (v == INT64_MIN) { *overflow = true; return false; }
        v = -v;
    }
    *out = v;
    return true;
}

static tv float_to_int(rctx *c, double f, bool *ok) {
    *ok = true;
    if (isnan(f)) { *ok = false; return tv_undef(); }
    if (isinf(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
    return tv_int((int64_t)f);
}

static tv round_float(double v, int64_t prec, int method) {
    if (!isfinite(v)) return tv_float(v);
    if (method == 0) {
        if (prec == 0) return tv_float(nearbyint(v)); /* round-half-even: the default FP mode */
        if (prec > 300 || prec < -300) return tv_float(prec > 0 ? v : 0.0 * v);
        if (prec > 0) {
            char buf[512];
            snprintf(buf, sizeof buf, "%.*f", (int)prec, v);
            return tv_float(strtod(buf, NULL));
        }
        double p = pow(10.0, (double)-prec);
        return tv_float(nearbyint(v / p) * p);
    }
    double p = pow(10.0, (double)prec);
    return tv_float((method == 1 ? ceil(v * p) : floor(v * p)) / p);
}

static tv do_minmax(rctx *c, tv *input, tv *a, bool want_max) {
    /* a: case_sensitive, attribute */
    tlist *l = tv_iterate(c, input);
    if (l->n == 0) {
        tv u = tv_undef();
        u.u.undef_name = want_max ? "max" : "min";
        return u;
    }
    bool cs = tv_truthy(&a[0]);
    size_t best = 0;
    tv bk = {0};
    for (size_t i = 0; i < l->n; i++) {
        rt_step(c);
        tv k = a[1].t != TV_UNDEF && a[1].t != TV_NONE ? get_path(c, &l->v[i], &a[1]) : l->v[i];
        if (!cs) k = lower_if_str(c, &k);
        if (i == 0) { bk = k; continue; }
        int r = tv_cmp(c, &k, &bk);
        if (want_max ? r > 0 : r < 0) { best = i; bk = k; }
    }
    return l->v[best];
}

static tv do_indent(rctx *c, tv *input, tv *a) {
    tv s = str_of(c, input);
    tv ind;
    if (a[0].t == TV_STR) ind = a[0];
    else {
        int64_t w = to_int_arg(c, &a[0], "width", 4);
        if (w < 0) w = 0;
        if ((uint64_t)w > c->arena.limit) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
        char *sp = rt_alloc(c, (size_t)w + 1);
        memset(sp, ' ', (size_t)w);
        ind = tv_str_ref(c, sp, (size_t)w);
    }
    bool first = tv_truthy(&a[1]), blank = tv_truthy(&a[2]);
    tv nl = tv_cstr(c, "\n");
    tv s2 = {0};
    {
        sbuf t = {0};
        sb_put(c, &t, s.u.s->p, s.u.s->len);
        sb_putc(c, &t, '\n');
        s2 = sb_value(c, &t);
    }
    tfunc f = {0};
    f.kind = FN_METHOD;
    f.id = method_lookup(&s2, "splitlines", 10);
    f.self = s2;
    f.name = "splitlines";
    tv lines = call_method(c, &f, NULL, 0, NULL, NULL, 0);
    tlist *l = lines.u.l;
    sbuf b = {0};
    if (first) sb_put(c, &b, ind.u.s->p, ind.u.s->len);
    for (size_t i = 0; i < l->n; i++) {
        rt_step(c);
        const tstr *line = l->v[i].u.s;
        if (i) {
            sb_put(c, &b, nl.u.s->p, 1);
            if (blank || line->len) sb_put(c, &b, ind.u.s->p, ind.u.s->len);
        }
        sb_put(c, &b, line->p, line->len);
    }
    return sb_value(c, &b);
}

static tv do_tojson(rctx *c, tv *input, tv *a) {
    /* a: ensure_ascii, indent, separators, sort_keys */
    json_opts o = {0};
    o.ensure_ascii = a[0].t != TV_UNDEF && tv_truthy(&a[0]);
    o.sort_keys = a[3].t != TV_UNDEF && tv_truthy(&a[3]);
    if (a[1].t != TV_UNDEF && a[1].t != TV_NONE) {
        o.has_indent = true;
        if (a[1].t == TV_STR) {
            o.indent = a[1].u.s->p;
            o.indent_len = a[1].u.s->len;
        } else if (a[1].t == TV_INT || a[1].t == TV_BOOL) {
            int64_t w = a[1].t == TV_BOOL ? a[1].u.b : a[1].u.i;
            if (w < 0) w = 0;
            if (w > 4096) rt_fail(c, LLM_ERR_LIMIT, "tojson indent too large");
            char *sp = rt_alloc(c, (size_t)w + 1);
            memset(sp, ' ', (size_t)w);
            o.indent = sp;
            o.indent_len = (size_t)w;
        } else {
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: indent must be an int or a str");
        }
    }
    o.item_sep = o.has_indent ? "," : ", ";
    o.key_sep = ": ";
    if (a[2].t != TV_UNDEF && a[2].t != TV_NONE) {
        if (a[2].t != TV_LIST || a[2].u.l->n != 2 || a[2].u.l->v[0].t != TV_STR || a[2].u.l->v[1].t != TV_STR)
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: separators must be a pair of strings");
        o.item_sep = a[2].u.l->v[0].u.s->p;
        o.item_sep_len = a[2].u.l->v[0].u.s->len;
        o.key_sep = a[2].u.l->v[1].u.s->p;
        o.key_sep_len = a[2].u.l->v[1].u.s->len;
    } else {
        o.item_sep_len = strlen(o.item_sep);
        o.key_sep_len = strlen(o.key_sep);
    }
    sbuf b = {0};
    json_dumps(c, &b, input, &o);
    return sb_value(c, &b);
}

/* select/reject/selectattr/rejectattr */
static tv do_select(rctx *c, tv *input, tv *args, size_t nargs, bool with_attr, bool keep_if) {
    tv none = tv_undef();
    tlist *l = tv_iterate(c, tv_truthy(input) ? input : &none); /* jinja2: `if value:` */
    size_t skip = with_attr ? 1 : 0;
    if (with_attr && nargs < 1) rt_fail(c, LLM_ERR_FORMAT, "TypeError: missing attribute argument");
    int tid = -1;
    const char *tname = NULL;
    if (nargs > skip) {
        tv *tn = &args[skip];
        if (tn->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: test name must be a string");
        tid = test_lookup(tn->u.s->p, tn->u.s->len);
        if (tid < 0) rt_fail(c, LLM_ERR_FORMAT, "TemplateRuntimeError: No test named '%.60s'", tn->u.s->p);
        tname = tn->u.s->p;
    }
    tv out = tv_list(c, l->n);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        rt_step(c);
        tv v = with_attr ? get_path(c, &l->v[i], &args[0]) : l->v[i];
        bool ok = tid >= 0 ? apply_test(c, tid, tname, &v, args + skip + 1, nargs - skip - 1) : tv_truthy(&v);
        if (ok == keep_if) out.u.l->v[k++] = l->v[i];
    }
    out.u.l->n = k;
    out.gen = 1;
    return out;
}

static tv do_map(rctx *c, tv *input, tv *args, size_t nargs, const char **kwn, tv *kwv, size_t nkw) {
    tv none = tv_undef();
    tlist *l = tv_iterate(c, tv_truthy(input) ? input : &none); /* jinja2: `if value:` */
    tv out = tv_list(c, l->n);
    out.gen = 1;
    tv attr = tv_undef(), dflt = tv_undef();
    bool by_attr = false;
    for (size_t k = 0; k < nkw; k++) {
        if (!strcmp(kwn[k], "attribute")) { attr = kwv[k]; by_attr = true; }
        else if (!strcmp(kwn[k], "default")) dflt = kwv[k];
    }
    if (by_attr) {
        if (nargs) rt_fail(c, LLM_ERR_FORMAT, "map with attribute takes no positional arguments");
        for (size_t i = 0; i < l->n; i++) {
            rt_step(c);
            tv v = get_path(c, &l->v[i], &attr);
            if (v.t == TV_UNDEF && dflt.t != TV_UNDEF) v = dflt;
            out.u.l->v[i] = v;
        }
        return out;
    }
    if (nargs < 1 || args[0].t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "map requires a filter name");
    int fid = filter_lookup(args[0].u.s->p, args[0].u.s->len);
    if (fid < 0) rt_fail(c, LLM_ERR_FORMAT, "TemplateRuntimeError: No filter named '%.60s'", args[0].u.s->p);
    for (size_t i = 0; i < l->n; i++) {
        rt_step(c);
        tv v = l->v[i];
        out.u.l->v[i] = apply_filter(c, fid, args[0].u.s->p, &v, args + 1, nargs - 1, kwn, kwv, nkw);
    }
    return out;
}

__attribute__((noreturn)) static void undefined_error(rctx *c, const tv *v) {
    if (v->u.undef_name) rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: '%.100s' is undefined", v->u.undef_name);
    rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: value is undefined");
}

tv apply_filter(rctx *c, int fid, const char *name, tv *input, tv *args, size_t nargs, const char **kwn, tv *kwv,
                size_t nkw) {
    tv a[6];
#define BIND(...)                                                                                   \
    do {                                                                                            \
        static const char *const names_[] = {__VA_ARGS__};                                          \
        bind_args(c, name, names_, sizeof names_ / sizeof names_[0], args, nargs, kwn, kwv, nkw, a); \
    } while (0)
    switch (fid) {
    case F_ABS:
        BIND("_");
        if (input->t == TV_INT) {
            if (input->u.i == INT64_MIN) rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
            return tv_int(input->u.i < 0 ? -input->u.i : input->u.i);
        }
        if (input->t == TV_BOOL) return tv_int(input->u.b);
        if (input->t == TV_FLOAT) return tv_float(fabs(input->u.f));
        if (input->t == TV_UNDEF) undefined_error(c, input);
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: bad operand type for abs(): '%s'", tv_type_name(input));
    case F_ATTR:
        BIND("name");
        if (a[0].t != TV_STR) return tv_undef();
        return tv_getattr(c, input, a[0].u.s->p, a[0].u.s->len);
    case F_BATCH: {
        BIND("linecount", "fill_with");
        int64_t n = to_int_arg(c, &a[0], "linecount", 0);
        if (n <= 0) rt_fail(c, LLM_ERR_FORMAT, "ValueError: batch size must be positive");
        tlist *l = tv_iterate(c, input);
        size_t nb = (l->n + (size_t)n - 1) / (size_t)n;
        if (nb == 0) return tv_list(c, 0);
        tv out = tv_list(c, nb);
        for (size_t b = 0; b < nb; b++) {
            size_t st = b * (size_t)n, cnt = l->n - st < (size_t)n ? l->n - st : (size_t)n;
            bool fill = a[1].t != TV_UNDEF && a[1].t != TV_NONE && cnt < (size_t)n;
            tv row = tv_list(c, fill ? (size_t)n : cnt);
            for (size_t k = 0; k < row.u.l->n; k++) row.u.l->v[k] = k < cnt ? l->v[st + k] : a[1];
            out.u.l->v[b] = row;
        }
        out.gen = 1;
        return out;
    }
    case F_CAPITALIZE: { BIND("_"); tv s = str_of(c, input); return str_case(c, &s, 2); }
    case F_LOWER: { BIND("_"); tv s = str_of(c, input); return str_case(c, &s, 0); }
    case F_UPPER: { BIND("_"); tv s = str_of(c, input); return str_case(c, &s, 1); }
    case F_TITLE: { BIND("_"); tv s = str_of(c, input); return str_case(c, &s, 3); }
    case F_CENTER: {
        BIND("width");
        tv s = str_of(c, input);
        tfunc f = {0};
        f.kind = FN_METHOD;
        f.id = method_lookup(&s, "center", 6);
        f.self = s;
        f.name = "center";
        tv w = a[0].t == TV_UNDEF ? tv_int(80) : a[0];
        return call_method(c, &f, &w, 1, NULL, NULL, 0);
    }
    case F_COUNT: case F_LENGTH: BIND("_"); return tv_int((int64_t)py_len(c, input));
    case F_D: case F_DEFAULT: {
        BIND("default_value", "boolean");
        tv d = a[0].t == TV_UNDEF && nargs == 0 ? tv_str_ref(c, "", 0) : a[0];
        if (input->t == TV_UNDEF || (tv_truthy(&a[1]) && !tv_truthy(input))) return d;
        return *input;
    }
    case F_DICTSORT: {
        BIND("case_sensitive", "by", "reverse");
        if (input->t != TV_DICT) rt_fail(c, LLM_ERR_FORMAT, "TypeError: dictsort requires a mapping");
        bool by_value = a[1].t == TV_STR && a[1].u.s->len == 5 && !memcmp(a[1].u.s->p, "value", 5);
        if (a[1].t == TV_STR && !by_value && !(a[1].u.s->len == 3 && !memcmp(a[1].u.s->p, "key", 3)))
            rt_fail(c, LLM_ERR_FORMAT, "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
        const tdict *d = input->u.d;
        tv *keys = rt_alloc(c, (d->n + 1) * sizeof(tv)), *vals = rt_alloc(c, (d->n + 1) * sizeof(tv));
        for (size_t i = 0; i < d->n; i++) {
            tv k = by_value ? d->v[i] : d->k[i];
            keys[i] = tv_truthy(&a[0]) ? k : lower_if_str(c, &k);
            vals[i] = make_tuple2(c, &d->k[i], &d->v[i]);
        }
        sort_by_keys(c, keys, vals, d->n, tv_truthy(&a[2]));
        tv out = tv_list(c, d->n);
        if (d->n) memcpy(out.u.l->v, vals, d->n * sizeof(tv));
        return out;
    }
    case F_E: case F_ESCAPE: BIND("_"); return html_escape(c, input);
    case F_FIRST: {
        BIND("_");
        tlist *l = tv_iterate(c, input);
        if (!l->n) { tv u = tv_undef(); u.u.undef_name = "first"; return u; }
        return l->v[0];
    }
    case F_LAST: {
        BIND("_");
        tlist *l = tv_iterate(c, input);
        if (input->t == TV_LIST && input->gen == 1) rt_fail(c, LLM_ERR_FORMAT, "TypeError: 'generator' object is not reversible");
        if (!l->n) { tv u = tv_undef(); u.u.undef_name = "last"; return u; }
        return l->v[l->n - 1];
    }
    case F_FLOAT: {
        BIND("default");
        tv d = a[0].t == TV_UNDEF ? tv_float(0.0) : a[0];
        double f;
        if (input->t == TV_FLOAT) return *input;
        if (input->t == TV_INT || input->t == TV_BOOL) return tv_float(tv_as_double(input));
        if (input->t == TV_STR && parse_float_str(input->u.s, &f)) return tv_float(f);
        return d;
    }
    case F_INT: {
        BIND("default", "base");
        tv d = a[0].t == TV_UNDEF ? tv_int(0) : a[0];
        int64_t base = to_int_arg(c, &a[1], "base", 10);
        bool ok;
        if (input->t == TV_INT) return *input;
        if (input->t == TV_BOOL) return tv_int(input->u.b);
        if (input->t == TV_FLOAT) {
            tv r = float_to_int(c, input->u.f, &ok);
            return ok ? r : d;
        }
        if (input->t == TV_STR) {
            int64_t v;
            bool overflow;
            if (parse_int_str(input->u.s, base, &v, &overflow)) return tv_int(v);
            if (overflow) rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
            double f;
            if (parse_float_str(input->u.s, &f)) {
                tv r = float_to_int(c, f, &ok);
                return ok ? r : d;
            }
        }
        return d;
    }
    case F_INDENT: BIND("width", "first", "blank"); return do_indent(c, input, a);
    case F_ITEMS: {
        BIND("_");
        if (input->t == TV_UNDEF) return tv_list(c, 0);
        if (input->t != TV_DICT) rt_fail(c, LLM_ERR_FORMAT, "TypeError: Can only get item pairs from a mapping.");
        const tdict *d = input->u.d;
        tv out = tv_list(c, d->n);
        for (size_t i = 0; i < d->n; i++) out.u.l->v[i] = make_tuple2(c, &d->k[i], &d->v[i]);
        out.gen = 1;
        return out;
    }
    case F_JOIN: {
        BIND("d", "attribute");
        tlist *l = tv_iterate(c, input);
        tv sep = a[0].t == TV_UNDEF ? tv_str_ref(c, "", 0) : str_of(c, &a[0]);
        sbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            rt_step(c);
            tv v = a[1].t != TV_UNDEF && a[1].t != TV_NONE ? get_path(c, &l->v[i], &a[1]) : l->v[i];
            if (i) sb_put(c, &b, sep.u.s->p, sep.u.s->len);
            py_str(c, &b, &v);
        }
        return sb_value(c, &b);
    }
    case F_LIST: BIND("_"); return list_of(c, tv_iterate(c, input));
    case F_MAP: return do_map(c, input, args, nargs, kwn, kwv, nkw);
    case F_MAX: case F_MIN: BIND("case_sensitive", "attribute"); return do_minmax(c, input, a, fid == F_MAX);
    case F_REJECT: case F_SELECT:
        if (nkw) rt_fail(c, LLM_ERR_FORMAT, "keyword arguments to %s are not supported", name);
        return do_select(c, input, args, nargs, false, fid == F_SELECT);
    case F_REJECTATTR: case F_SELECTATTR:
        if (nkw) rt_fail(c, LLM_ERR_FORMAT, "keyword arguments to %s are not supported", name);
        return do_select(c, input, args, nargs, true, fid == F_SELECTATTR);
    case F_REPLACE: {
        BIND("old", "new", "count");
        tv s = str_of(c, input);
        int64_t count = (a[2].t == TV_UNDEF || a[2].t == TV_NONE) ? -1 : to_int_arg(c, &a[2], "count", -1);
        if (a[0].t == TV_UNDEF || a[1].t == TV_UNDEF) rt_fail(c, LLM_ERR_FORMAT, "TypeError: replace() missing arguments");
        tv o = str_of(c, &a[0]), nw = str_of(c, &a[1]);
        return str_replace(c, &s, &o, &nw, count);
    }
    case F_REVERSE: {
        BIND("_");
        if (input->t == TV_STR) {
            tlist *chars = tv_iterate(c, input);
            sbuf b = {0};
            for (size_t i = chars->n; i > 0; i--) sb_put(c, &b, chars->v[i - 1].u.s->p, chars->v[i - 1].u.s->len);
            return sb_value(c, &b);
        }
        tlist *l = tv_iterate(c, input);
        tv out = tv_list(c, l->n);
        for (size_t i = 0; i < l->n; i++) out.u.l->v[i] = l->v[l->n - 1 - i];
        out.gen = 2;
        return out;
    }
    case F_ROUND: {
        BIND("precision", "method");
        int64_t prec = to_int_arg(c, &a[0], "precision", 0);
        int method = 0;
        if (a[1].t == TV_STR) {
            const tstr *m = a[1].u.s;
            if (m->len == 4 && !memcmp(m->p, "ceil", 4)) method = 1;
            else if (m->len == 5 && !memcmp(m->p, "floor", 5)) method = 2;
            else if (!(m->len == 6 && !memcmp(m->p, "common", 6)))
                rt_fail(c, LLM_ERR_FORMAT, "TypeError: method must be common, ceil or floor");
        }
        if (input->t == TV_INT || input->t == TV_BOOL) {
            if (method == 0) return input->t == TV_BOOL ? tv_int(input->u.b) : *input;
            return round_float(tv_as_double(input), prec, method);
        }
        if (input->t != TV_FLOAT) {
            if (input->t == TV_UNDEF) undefined_error(c, input);
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: type %s doesn't define __round__ method", tv_type_name(input));
        }
        return round_float(input->u.f, prec, method);
    }
    case F_SAFE: { BIND("_"); tv s = str_of(c, input); s.markup = 1; return s; }
    case F_SORT: {
        BIND("reverse", "case_sensitive", "attribute");
        tlist *l = tv_iterate(c, input);
        tv out = list_of(c, l);
        tv *keys = rt_alloc(c, (l->n + 1) * sizeof(tv));
        for (size_t i = 0; i < l->n; i++) {
            tv k = a[2].t != TV_UNDEF && a[2].t != TV_NONE ? get_path(c, &l->v[i], &a[2]) : l->v[i];
            keys[i] = tv_truthy(&a[1]) ? k : lower_if_str(c, &k);
        }
        sort_by_keys(c, keys, out.u.l->v, l->n, tv_truthy(&a[0]));
        return out;
    }
    case F_STRING: { BIND("_"); tv s = str_of(c, input); s.markup = input->t == TV_STR && input->markup; return s; }
    case F_SUM: {
        BIND("attribute", "start");
        tlist *l = tv_iterate(c, input);
        tv acc = a[1].t == TV_UNDEF ? tv_int(0) : a[1];
        for (size_t i = 0; i < l->n; i++) {
            rt_step(c);
            tv v = a[0].t != TV_UNDEF && a[0].t != TV_NONE ? get_path(c, &l->v[i], &a[0]) : l->v[i];
            if (!tv_is_number(&acc) || !tv_is_number(&v))
                rt_fail(c, LLM_ERR_FORMAT, "TypeError: unsupported operand type(s) for +: '%s' and '%s'", tv_type_name(&acc), tv_type_name(&v));
            if (acc.t != TV_FLOAT && v.t != TV_FLOAT) {
                int64_t x = acc.t == TV_BOOL ? acc.u.b : acc.u.i, y = v.t == TV_BOOL ? v.u.b : v.u.i, r;
                if (__builtin_add_overflow(x, y, &r)) rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
                acc = tv_int(r);
            } else {
                acc = tv_float(tv_as_double(&acc) + tv_as_double(&v));
            }
        }
        return acc;
    }
    case F_TOJSON: BIND("ensure_ascii", "indent", "separators", "sort_keys"); return do_tojson(c, input, a);
    case F_TRIM: { BIND("chars"); tv s = str_of(c, input); return str_strip(c, &s, &a[0], true, true); }
    case F_UNIQUE: {
        BIND("case_sensitive", "attribute");
        tlist *l = tv_iterate(c, input);
        tv out = tv_list(c, l->n);
        tv seen = tv_dict(c);
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++) {
            rt_step(c);
            tv key = a[1].t != TV_UNDEF && a[1].t != TV_NONE ? get_path(c, &l->v[i], &a[1]) : l->v[i];
            if (!tv_truthy(&a[0])) key = lower_if_str(c, &key);
            if (dict_get(c, seen.u.d, &key)) continue;
            tv t = tv_bool(true);
            dict_set(c, seen.u.d, &key, &t);
            out.u.l->v[k++] = l->v[i];
        }
        out.u.l->n = k;
        out.gen = 1;
        return out;
    }
    case F_FORMAT: {
        if (nargs && nkw) rt_fail(c, LLM_ERR_FORMAT, "FilterArgumentError: can't handle positional and keyword arguments at the same time");
        tv s = str_of(c, input);
        tv argv;
        if (nkw) {
            argv = tv_dict(c);
            for (size_t k = 0; k < nkw; k++) {
                tv key = tv_cstr(c, kwn[k]);
                dict_set(c, argv.u.d, &key, &kwv[k]);
            }
        } else {
            argv = tv_list(c, nargs);
            argv.tuple = 1;
            for (size_t k = 0; k < nargs; k++) argv.u.l->v[k] = args[k];
        }
        return py_percent_format(c, &s, &argv);
    }
    case F_TRUNCATE: {
        BIND("length", "killwords", "end", "leeway");
        tv s = str_of(c, input);
        int64_t length = to_int_arg(c, &a[0], "length", 255), leeway = to_int_arg(c, &a[3], "leeway", 5);
        tv end = a[2].t == TV_UNDEF ? tv_cstr(c, "...") : str_of(c, &a[2]);
        int64_t end_len = (int64_t)utf8_count(end.u.s->p, end.u.s->len);
        if (length < end_len) rt_fail(c, LLM_ERR_FORMAT, "AssertionError: expected length >= %lld, got %lld", (long long)end_len, (long long)length);
        if (leeway < 0) rt_fail(c, LLM_ERR_FORMAT, "AssertionError: expected leeway >= 0");
        int64_t n = (int64_t)utf8_count(s.u.s->p, s.u.s->len);
        if (n <= length + leeway) return s;
        size_t cut = utf8_offset(s.u.s->p, s.u.s->len, (size_t)(length - end_len));
        size_t keep = cut;
        if (!tv_truthy(&a[1])) {
            for (size_t k = cut; k > 0; k--)
                if (s.u.s->p[k - 1] == ' ') { keep = k - 1; break; }
        }
        sbuf b = {0};
        sb_put(c, &b, s.u.s->p, keep);
        sb_put(c, &b, end.u.s->p, end.u.s->len);
        return sb_value(c, &b);
    }
    case F_WORDCOUNT: {
        BIND("_");
        tv s = str_of(c, input);
        int64_t n = 0;
        bool in_word = false;
        size_t i = 0;
        while (i < s.u.s->len) {
            uint32_t cp;
            i += utf8_decode(s.u.s->p + i, s.u.s->len - i, &cp);
            bool w = cp == '_' || cp_isalpha(cp) || cp_isdigit(cp);
            if (w && !in_word) n++;
            in_word = w;
        }
        return tv_int(n);
    }
    default:
        rt_fail(c, LLM_ERR_FORMAT, "filter '%s' is not supported", name);
    }
#undef BIND
}

bool apply_test(rctx *c, int tid, const char *name, tv *v, tv *args, size_t nargs) {
    int need = 0;
    switch (tid) {
    case T_DIVISIBLEBY: case T_EQ: case T_EQUALTO: case T_GE: case T_GT: case T_GREATERTHAN: case T_IN:
    case T_LE: case T_LT: case T_LESSTHAN: case T_NE: case T_SAMEAS: case T_OP_EQ: case T_OP_NE:
    case T_OP_LT: case T_OP_LE: case T_OP_GT: case T_OP_GE:
        need = 1;
        break;
    default: break;
    }
    if (nargs != (size_t)need)
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: test '%s' takes %d argument(s), %zu given", name, need, nargs);
    tv *o = args;
    switch (tid) {
    case T_BOOLEAN: return v->t == TV_BOOL;
    case T_CALLABLE: return v->t == TV_FUNC || v->t == TV_LOOP;
    case T_DEFINED: return v->t != TV_UNDEF;
    case T_UNDEFINED: return v->t == TV_UNDEF;
    case T_DIVISIBLEBY: case T_EVEN: case T_ODD: {
        tv d = tid == T_DIVISIBLEBY ? *o : tv_int(2);
        if (!tv_is_number(v) || !tv_is_number(&d)) {
            if (v->t == TV_UNDEF) undefined_error(c, v);
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: unsupported operand type(s) for %%: '%s' and '%s'", tv_type_name(v), tv_type_name(&d));
        }
        if (tv_as_double(&d) == 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: integer division or modulo by zero");
        bool zero;
        if (v->t != TV_FLOAT && d.t != TV_FLOAT) {
            int64_t x = v->t == TV_BOOL ? v->u.b : v->u.i, y = d.t == TV_BOOL ? d.u.b : d.u.i;
            zero = (y == -1) || x % y == 0;
        } else {
            zero = fmod(tv_as_double(v), tv_as_double(&d)) == 0;
        }
        return tid == T_ODD ? !zero : zero;
    }
    case T_EQ: case T_EQUALTO: case T_OP_EQ: return tv_eq(c, v, o);
    case T_NE: case T_OP_NE: return !tv_eq(c, v, o);
    case T_LT: case T_LESSTHAN: case T_OP_LT: case T_LE: case T_OP_LE: case T_GT: case T_GREATERTHAN:
    case T_OP_GT: case T_GE: case T_OP_GE: {
        if (v->t == TV_UNDEF) undefined_error(c, v);
        if (o->t == TV_UNDEF) undefined_error(c, o);
        int r = tv_cmp(c, v, o);
        if (tid == T_LT || tid == T_LESSTHAN || tid == T_OP_LT) return r < 0;
        if (tid == T_LE || tid == T_OP_LE) return r <= 0;
        if (tid == T_GT || tid == T_GREATERTHAN || tid == T_OP_GT) return r > 0;
        return r >= 0;
    }
    case T_ESCAPED: return v->t == TV_STR && v->markup;
    case T_FALSE: return v->t == TV_BOOL && !v->u.b;
    case T_TRUE: return v->t == TV_BOOL && v->u.b;
    case T_FILTER: return v->t == TV_STR && filter_lookup(v->u.s->p, v->u.s->len) >= 0;
    case T_TEST: return v->t == TV_STR && test_lookup(v->u.s->p, v->u.s->len) >= 0;
    case T_FLOAT: return v->t == TV_FLOAT;
    case T_INTEGER: return v->t == TV_INT;
    case T_NUMBER: return v->t == TV_INT || v->t == TV_FLOAT || v->t == TV_BOOL;
    case T_IN: {
        switch (o->t) {
        case TV_UNDEF: return false;
        case TV_STR:
            if (v->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: 'in <string>' requires string as left operand");
            return v->u.s->len == 0 || memmem(o->u.s->p, o->u.s->len, v->u.s->p, v->u.s->len) != NULL;
        case TV_LIST:
            for (size_t i = 0; i < o->u.l->n; i++) {
                rt_step(c);
                if (tv_eq(c, v, &o->u.l->v[i])) return true;
            }
            return false;
        case TV_DICT: return dict_get(c, o->u.d, v) != NULL;
        default: rt_fail(c, LLM_ERR_FORMAT, "TypeError: argument of type '%s' is not iterable", tv_type_name(o));
        }
    }
    case T_ITERABLE: return v->t == TV_UNDEF || v->t == TV_STR || v->t == TV_LIST || v->t == TV_DICT || v->t == TV_LOOP;
    case T_SEQUENCE: return v->t == TV_UNDEF || v->t == TV_STR || v->t == TV_LIST || v->t == TV_DICT;
    case T_MAPPING: return v->t == TV_DICT;
    case T_STRING: return v->t == TV_STR;
    case T_NONE: return v->t == TV_NONE;
    case T_LOWER: case T_UPPER: {
        tv s = tv_to_str(c, v);
        tfunc f = {0};
        f.kind = FN_METHOD;
        f.self = s;
        f.name = tid == T_LOWER ? "islower" : "isupper";
        f.id = method_lookup(&s, f.name, strlen(f.name));
        tv r = call_method(c, &f, NULL, 0, NULL, NULL, 0);
        return r.u.b;
    }
    case T_SAMEAS:
        if (v->t != o->t) return false;
        switch (v->t) {
        case TV_NONE: case TV_UNDEF: return true;
        case TV_BOOL: return v->u.b == o->u.b;
        case TV_INT: return v->u.i == o->u.i && v->u.i >= -5 && v->u.i <= 256;
        case TV_STR: return v->u.s == o->u.s;
        case TV_LIST: return v->u.l == o->u.l;
        case TV_DICT: case TV_NS: return v->u.d == o->u.d;
        case TV_FUNC: return v->u.fn == o->u.fn;
        default: return false;
        }
    default: rt_fail(c, LLM_ERR_FORMAT, "test '%s' is not supported", name);
    }
}
