/* Built-in methods of str, dict and list values (the ones the sandbox allows: nothing that
 * mutates), the global functions, and string helpers shared with the filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/tmpl_internal.h"

enum {
    M_STRIP, M_LSTRIP, M_RSTRIP, M_SPLIT, M_RSPLIT, M_SPLITLINES, M_STARTSWITH, M_ENDSWITH, M_LOWER, M_UPPER,
    M_TITLE, M_CAPITALIZE, M_REPLACE, M_FORMAT, M_JOIN, M_FIND, M_RFIND, M_INDEX, M_COUNT, M_ISDIGIT,
    M_ISALPHA, M_ISALNUM, M_ISSPACE, M_ISUPPER, M_ISLOWER, M_ZFILL, M_CENTER, M_LJUST, M_RJUST,
    M_ITEMS, M_KEYS, M_VALUES, M_GET, M_COPY,
    M_LIST_INDEX, M_LIST_COUNT, M_LIST_COPY,
};

typedef struct mdef {
    const char *name;
    int id;
    uint8_t on; /* TV_STR, TV_DICT or TV_LIST */
} mdef;

static const mdef methods[] = {
    {"strip", M_STRIP, TV_STR}, {"lstrip", M_LSTRIP, TV_STR}, {"rstrip", M_RSTRIP, TV_STR},
    {"split", M_SPLIT, TV_STR}, {"rsplit", M_RSPLIT, TV_STR}, {"splitlines", M_SPLITLINES, TV_STR},
    {"startswith", M_STARTSWITH, TV_STR}, {"endswith", M_ENDSWITH, TV_STR}, {"lower", M_LOWER, TV_STR},
    {"upper", M_UPPER, TV_STR}, {"title", M_TITLE, TV_STR}, {"capitalize", M_CAPITALIZE, TV_STR},
    {"replace", M_REPLACE, TV_STR}, {"format", M_FORMAT, TV_STR}, {"join", M_JOIN, TV_STR},
    {"find", M_FIND, TV_STR}, {"rfind", M_RFIND, TV_STR}, {"index", M_INDEX, TV_STR}, {"count", M_COUNT, TV_STR},
    {"isdigit", M_ISDIGIT, TV_STR}, {"isalpha", M_ISALPHA, TV_STR}, {"isalnum", M_ISALNUM, TV_STR},
    {"isspace", M_ISSPACE, TV_STR}, {"isupper", M_ISUPPER, TV_STR}, {"islower", M_ISLOWER, TV_STR},
    {"zfill", M_ZFILL, TV_STR}, {"center", M_CENTER, TV_STR}, {"ljust", M_LJUST, TV_STR}, {"rjust", M_RJUST, TV_STR},
    {"items", M_ITEMS, TV_DICT}, {"keys", M_KEYS, TV_DICT}, {"values", M_VALUES, TV_DICT}, {"get", M_GET, TV_DICT},
    {"copy", M_COPY, TV_DICT},
    {"index", M_LIST_INDEX, TV_LIST}, {"count", M_LIST_COUNT, TV_LIST}, {"copy", M_LIST_COPY, TV_LIST},
};

int method_lookup(const tv *self, const char *name, size_t len) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (methods[i].on != self->t) continue;
        if (self->t == TV_LIST && self->tuple && methods[i].id == M_LIST_COPY) continue;
        if (strlen(methods[i].name) == len && !memcmp(methods[i].name, name, len)) return methods[i].id;
    }
    return -1;
}

void bind_args(rctx *c, const char *fname, const char *const *names, size_t nnames, tv *args, size_t nargs,
               const char **kwnames, tv *kwvals, size_t nkw, tv *out) {
    for (size_t i = 0; i < nnames; i++) out[i] = tv_undef();
    if (nargs > nnames) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s() takes at most %zu arguments (%zu given)", fname, nnames, nargs);
    for (size_t i = 0; i < nargs; i++) out[i] = args[i];
    for (size_t k = 0; k < nkw; k++) {
        size_t i;
        for (i = 0; i < nnames; i++)
            if (!strcmp(names[i], kwnames[k])) break;
        if (i == nnames) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s() got an unexpected keyword argument '%.60s'", fname, kwnames[k]);
        if (i < nargs) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s() got multiple values for argument '%s'", fname, names[i]);
        out[i] = kwvals[k];
    }
}

static void need_str(rctx *c, const tv *v, const char *what) {
    if (v->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s must be str, not %s", what, tv_type_name(v));
}

static int64_t need_int(rctx *c, const tv *v, const char *what) {
    if (v->t == TV_INT) return v->u.i;
    if (v->t == TV_BOOL) return v->u.b;
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s must be an integer, not %s", what, tv_type_name(v));
}

/* ---- string helpers */
static bool in_chars(const tstr *chars, uint32_t cp) {
    size_t i = 0;
    while (i < chars->len) {
        uint32_t x;
        i += utf8_decode(chars->p + i, chars->len - i, &x);
        if (x == cp) return true;
    }
    return false;
}

tv str_strip(rctx *c, const tv *s, const tv *chars, bool left, bool right) {
    const tstr *cs = NULL;
    if (chars && chars->t != TV_UNDEF && chars->t != TV_NONE) {
        need_str(c, chars, "strip arg");
        cs = chars->u.s;
    }
    const char *p = s->u.s->p;
    size_t a = 0, b = s->u.s->len;
    if (left) {
        while (a < b) {
            uint32_t cp;
            size_t k = utf8_decode(p + a, b - a, &cp);
            if (cs ? !in_chars(cs, cp) : !py_isspace_cp(cp)) break;
            a += k;
        }
    }
    if (right) {
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)p[st] & 0xc0) == 0x80) st--;
            uint32_t cp;
            utf8_decode(p + st, b - st, &cp);
            if (cs ? !in_chars(cs, cp) : !py_isspace_cp(cp)) break;
            b = st;
        }
    }
    return tv_str_ref(c, p + a, b - a);
}

static void put_cp(rctx *c, sbuf *b, uint32_t cp) {
    char tmp[4];
    sb_put(c, b, tmp, utf8_encode(cp, tmp));
}

static bool cp_cased(uint32_t cp) { return cp_isupper(cp) || cp_islower(cp); }

/* jinja2's title filter: words start after '-', whitespace, '(', '{', '[' or '<' */
static bool title_sep(uint32_t cp) { return py_isspace_cp(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<'; }

tv str_case(rctx *c, const tv *s, int mode) {
    const tstr *t = s->u.s;
    sbuf b = {0};
    size_t i = 0;
    bool first = true, prev_cased = false, prev_sep = true;
    while (i < t->len) {
        uint32_t cp;
        i += utf8_decode(t->p + i, t->len - i, &cp);
        uint32_t o = cp;
        switch (mode) {
        case 0: o = cp_lower(cp); break;
        case 1: o = cp_upper(cp); break;
        case 2: o = first ? cp_upper(cp) : cp_lower(cp); break;
        case 3:
            if (title_sep(cp)) o = cp;
            else o = prev_sep ? cp_upper(cp) : cp_lower(cp);
            prev_sep = title_sep(cp);
            break;
        default:
            o = prev_cased ? cp_lower(cp) : cp_upper(cp);
            prev_cased = cp_cased(cp);
            break;
        }
        first = false;
        if (cp == 0xdf && o != cp) {
            /* Python's full case mapping: upper 'SS', title 'Ss' */
            bool title = mode == 2 || mode == 4; /* jinja2's title filter upper-cases instead */
            sb_put(c, &b, title ? "Ss" : "SS", 2);
            continue;
        }
        put_cp(c, &b, o);
    }
    return sb_value(c, &b);
}

static const char *find_bytes(const tstr *h, size_t from, const tstr *n) {
    if (from > h->len) return NULL;
    if (n->len == 0) return h->p + from;
    return memmem(h->p + from, h->len - from, n->p, n->len);
}

tv str_replace(rctx *c, const tv *s, const tv *old, const tv *new_, int64_t count) {
    need_str(c, old, "replace() argument 1");
    need_str(c, new_, "replace() argument 2");
    const tstr *h = s->u.s, *o = old->u.s, *nw = new_->u.s;
    sbuf b = {0};
    if (o->len == 0) {
        /* inserts new before every character and at the end */
        size_t i = 0;
        int64_t done = 0;
        while (i <= h->len) {
            rt_step(c);
            if (count >= 0 && done >= count) {
                sb_put(c, &b, h->p + i, h->len - i);
                break;
            }
            sb_put(c, &b, nw->p, nw->len);
            done++;
            if (i == h->len) break;
            uint32_t cp;
            size_t k = utf8_decode(h->p + i, h->len - i, &cp);
            sb_put(c, &b, h->p + i, k);
            i += k;
        }
        return sb_value(c, &b);
    }
    size_t pos = 0;
    int64_t done = 0;
    for (;;) {
        const char *f = (count < 0 || done < count) ? find_bytes(h, pos, o) : NULL;
        if (!f) break;
        rt_step(c);
        size_t at = (size_t)(f - h->p);
        sb_put(c, &b, h->p + pos, at - pos);
        sb_put(c, &b, nw->p, nw->len);
        pos = at + o->len;
        done++;
    }
    sb_put(c, &b, h->p + pos, h->len - pos);
    return sb_value(c, &b);
}

tv html_escape(rctx *c, const tv *v) {
    if (v->t == TV_STR && v->markup) return *v;
    tv s = tv_to_str(c, v);
    sbuf b = {0};
    const tstr *t = s.u.s;
    size_t run = 0;
    for (size_t i = 0; i < t->len; i++) {
        const char *e = NULL;
        switch (t->p[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&#34;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e) {
            sb_put(c, &b, t->p + run, i - run);
            sb_puts(c, &b, e);
            run = i + 1;
        }
    }
    sb_put(c, &b, t->p + run, t->len - run);
    tv r = sb_value(c, &b);
    r.markup = 1;
    return r;
}

static tv do_split(rctx *c, const tv *s, const tv *sep, int64_t maxsplit, bool from_right) {
    const tstr *t = s->u.s;
    tv out = tv_list(c, 0);
    size_t n = 0, cap = 0;
    tv *items = NULL;
#define PUSH(p_, l_)                                                  \
    do {                                                              \
        rt_step(c);                                                   \
        if (n == cap) {                                               \
            size_t nc = cap ? cap * 2 : 8;                            \
            tv *ni = rt_alloc(c, nc * sizeof(tv));                    \
            if (n) memcpy(ni, items, n * sizeof(tv));                 \
            items = ni;                                               \
            cap = nc;                                                 \
        }                                                             \
        items[n++] = tv_str_ref(c, (p_), (l_));                       \
    } while (0)
    if (sep->t == TV_UNDEF || sep->t == TV_NONE) {
        if (from_right) rt_fail(c, LLM_ERR_FORMAT, "rsplit() without a separator is not supported");
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            while (i < t->len) {
                uint32_t cp;
                size_t k = utf8_decode(t->p + i, t->len - i, &cp);
                if (!py_isspace_cp(cp)) break;
                i += k;
            }
            if (i >= t->len) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                PUSH(t->p + i, t->len - i); /* the rest, as is */
                break;
            }
            size_t st = i;
            while (i < t->len) {
                uint32_t cp;
                size_t k = utf8_decode(t->p + i, t->len - i, &cp);
                if (py_isspace_cp(cp)) break;
                i += k;
            }
            PUSH(t->p + st, i - st);
            splits++;
        }
    } else {
        need_str(c, sep, "separator");
        const tstr *sp = sep->u.s;
        if (sp->len == 0) rt_fail(c, LLM_ERR_FORMAT, "ValueError: empty separator");
        if (!from_right) {
            size_t pos = 0;
            int64_t splits = 0;
            for (;;) {
                const char *f = (maxsplit < 0 || splits < maxsplit) ? find_bytes(t, pos, sp) : NULL;
                if (!f) break;
                PUSH(t->p + pos, (size_t)(f - t->p) - pos);
                pos = (size_t)(f - t->p) + sp->len;
                splits++;
            }
            PUSH(t->p + pos, t->len - pos);
        } else {
            /* collect from the right, then reverse */
            size_t end = t->len;
            int64_t splits = 0;
            for (;;) {
                if (maxsplit >= 0 && splits >= maxsplit) break;
                size_t found = SIZE_MAX;
                if (end >= sp->len)
                    for (size_t k = end - sp->len + 1; k-- > 0;)
                        if (!memcmp(t->p + k, sp->p, sp->len)) { found = k; break; }
                if (found == SIZE_MAX) break;
                PUSH(t->p + found + sp->len, end - found - sp->len);
                end = found;
                splits++;
            }
            PUSH(t->p, end);
            for (size_t a = 0, b = n - 1; a < b; a++, b--) {
                tv x = items[a];
                items[a] = items[b];
                items[b] = x;
            }
        }
    }
#undef PUSH
    out.u.l->v = items;
    out.u.l->n = n;
    return out;
}

static bool affix_match(rctx *c, const tstr *s, const tv *arg, bool at_end) {
    if (arg->t == TV_LIST && arg->tuple) {
        for (size_t i = 0; i < arg->u.l->n; i++)
            if (affix_match(c, s, &arg->u.l->v[i], at_end)) return true;
        return false;
    }
    if (arg->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s first arg must be str or a tuple of str, not %s", at_end ? "endswith" : "startswith", tv_type_name(arg));
    const tstr *a = arg->u.s;
    if (a->len > s->len) return false;
    return !memcmp(at_end ? s->p + s->len - a->len : s->p, a->p, a->len);
}

static tv join_items(rctx *c, const tv *sep, const tv *iterable) {
    tlist *l = tv_iterate(c, iterable);
    sbuf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        rt_step(c);
        if (l->v[i].t != TV_STR)
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: sequence item %zu: expected str instance, %s found", i, tv_type_name(&l->v[i]));
        if (i) sb_put(c, &b, sep->u.s->p, sep->u.s->len);
        sb_put(c, &b, l->v[i].u.s->p, l->v[i].u.s->len);
    }
    return sb_value(c, &b);
}

/* str.format with {} / {0} / {name} fields, !s / !r conversions and no format spec */
static tv str_format(rctx *c, const tstr *f, tv *args, size_t nargs, const char **kwn, tv *kwv, size_t nkw) {
    sbuf b = {0};
    size_t i = 0, auto_idx = 0;
    while (i < f->len) {
        char ch = f->p[i];
        if (ch == '}' ) {
            if (i + 1 < f->len && f->p[i + 1] == '}') { sb_putc(c, &b, '}'); i += 2; continue; }
            rt_fail(c, LLM_ERR_FORMAT, "ValueError: Single '}' encountered in format string");
        }
        if (ch != '{') { sb_putc(c, &b, ch); i++; continue; }
        if (i + 1 < f->len && f->p[i + 1] == '{') { sb_putc(c, &b, '{'); i += 2; continue; }
        size_t j = i + 1;
        while (j < f->len && f->p[j] != '}' && f->p[j] != '!' && f->p[j] != ':') j++;
        size_t name_len = j - i - 1;
        const char *name = f->p + i + 1;
        char conv = 0;
        if (j < f->len && f->p[j] == '!') {
            if (j + 1 < f->len) conv = f->p[j + 1];
            j += 2;
        }
        if (j >= f->len || f->p[j] != '}') rt_fail(c, LLM_ERR_FORMAT, "format specs are not supported");
        tv v;
        if (name_len == 0) {
            if (auto_idx >= nargs) rt_fail(c, LLM_ERR_FORMAT, "IndexError: Replacement index %zu out of range", auto_idx);
            v = args[auto_idx++];
        } else if (name[0] >= '0' && name[0] <= '9') {
            size_t idx = 0;
            for (size_t k = 0; k < name_len; k++) {
                if (name[k] < '0' || name[k] > '9' || idx > 1000000) rt_fail(c, LLM_ERR_FORMAT, "bad format field");
                idx = idx * 10 + (size_t)(name[k] - '0');
            }
            if (idx >= nargs) rt_fail(c, LLM_ERR_FORMAT, "IndexError: Replacement index %zu out of range", idx);
            v = args[idx];
        } else {
            size_t k;
            for (k = 0; k < nkw; k++)
                if (strlen(kwn[k]) == name_len && !memcmp(kwn[k], name, name_len)) break;
            if (k == nkw) rt_fail(c, LLM_ERR_FORMAT, "KeyError: '%.*s'", (int)(name_len > 60 ? 60 : name_len), name);
            v = kwv[k];
        }
        if (conv == 'r') py_repr(c, &b, &v);
        else py_str(c, &b, &v);
        i = j + 1;
    }
    return sb_value(c, &b);
}

static tv pad(rctx *c, const tstr *s, int64_t width, const tv *fill, int mode) {
    uint32_t fc = ' ';
    if (fill && fill->t != TV_UNDEF) {
        need_str(c, fill, "fill character");
        if (utf8_count(fill->u.s->p, fill->u.s->len) != 1) rt_fail(c, LLM_ERR_FORMAT, "TypeError: The fill character must be exactly one character long");
        utf8_decode(fill->u.s->p, fill->u.s->len, &fc);
    }
    int64_t n = (int64_t)utf8_count(s->p, s->len);
    if (width <= n) return tv_str_ref(c, s->p, s->len);
    if ((uint64_t)width > c->arena.limit / 4) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
    int64_t total = width - n, left;
    if (mode == 0) left = total / 2 + (total & width & 1); /* Python's str.center */
    else if (mode == 1) left = 0;
    else left = total;
    sbuf b = {0};
    for (int64_t k = 0; k < left; k++) put_cp(c, &b, fc);
    sb_put(c, &b, s->p, s->len);
    for (int64_t k = 0; k < total - left; k++) put_cp(c, &b, fc);
    return sb_value(c, &b);
}

static tv count_sub(rctx *c, const tstr *h, const tv *sub) {
    need_str(c, sub, "count() argument");
    const tstr *n = sub->u.s;
    if (n->len == 0) return tv_int((int64_t)utf8_count(h->p, h->len) + 1);
    int64_t k = 0;
    size_t pos = 0;
    const char *f;
    while ((f = find_bytes(h, pos, n)) != NULL) {
        k++;
        pos = (size_t)(f - h->p) + n->len;
    }
    return tv_int(k);
}

static tv str_pred(rctx *c, const tstr *s, int id) {
    (void)c;
    if (s->len == 0) return tv_bool(false);
    bool any_cased = false;
    size_t i = 0;
    while (i < s->len) {
        uint32_t cp;
        i += utf8_decode(s->p + i, s->len - i, &cp);
        switch (id) {
        case M_ISDIGIT: if (!cp_isdigit(cp)) return tv_bool(false); break;
        case M_ISALPHA: if (!cp_isalpha(cp)) return tv_bool(false); break;
        case M_ISALNUM: if (!cp_isalpha(cp) && !cp_isdigit(cp)) return tv_bool(false); break;
        case M_ISSPACE: if (!py_isspace_cp(cp)) return tv_bool(false); break;
        case M_ISUPPER: if (cp_islower(cp)) return tv_bool(false); any_cased |= cp_isupper(cp); break;
        default: if (cp_isupper(cp)) return tv_bool(false); any_cased |= cp_islower(cp); break;
        }
    }
    if (id == M_ISUPPER || id == M_ISLOWER) return tv_bool(any_cased);
    return tv_bool(true);
}

static tv str_find(rctx *c, const tstr *h, const tv *sub, bool from_right, bool raise) {
    need_str(c, sub, "find() argument");
    const tstr *n = sub->u.s;
    size_t found = SIZE_MAX;
    if (!from_right) {
        const char *f = find_bytes(h, 0, n);
        if (f) found = (size_t)(f - h->p);
    } else if (n->len <= h->len) {
        for (size_t k = h->len - n->len + 1; k-- > 0;)
            if (!memcmp(h->p + k, n->p, n->len)) { found = k; break; }
    }
    if (found == SIZE_MAX) {
        if (raise) rt_fail(c, LLM_ERR_FORMAT, "ValueError: substring not found");
        return tv_int(-1);
    }
    return tv_int((int64_t)utf8_count(h->p, found));
}

tv call_method(rctx *c, tfunc *f, tv *args, size_t nargs, const char **kwn, tv *kwv, size_t nkw) {
    tv *self = &f->self;
    if (self->t == TV_STR) rt_work(c, self->u.s->len); /* every string method scans its string */
    tv a[3];
    static const char *const n_chars[] = {"chars"};
    static const char *const n_split[] = {"sep", "maxsplit"};
    static const char *const n_keepends[] = {"keepends"};
    static const char *const n_prefix[] = {"prefix", "start", "end"};
    static const char *const n_replace[] = {"old", "new", "count"};
    static const char *const n_sub[] = {"sub", "start", "end"};
    static const char *const n_width[] = {"width", "fillchar"};
    static const char *const n_get[] = {"key", "default"};
    static const char *const n_none[] = {""};
    static const char *const n_iter[] = {"iterable"};
    static const char *const n_value[] = {"value"};
    const char *fname = f->name;
    if (f->id != M_FORMAT && nkw) {
        /* only a few methods take keywords; bind_args reports unknown ones */
    }
    switch (f->id) {
    case M_STRIP: case M_LSTRIP: case M_RSTRIP:
        bind_args(c, fname, n_chars, 1, args, nargs, kwn, kwv, nkw, a);
        return str_strip(c, self, &a[0], f->id != M_RSTRIP, f->id != M_LSTRIP);
    case M_SPLIT: case M_RSPLIT: {
        bind_args(c, fname, n_split, 2, args, nargs, kwn, kwv, nkw, a);
        int64_t maxsplit = a[1].t == TV_UNDEF ? -1 : need_int(c, &a[1], "maxsplit");
        return do_split(c, self, &a[0], maxsplit, f->id == M_RSPLIT);
    }
    case M_SPLITLINES: {
        bind_args(c, fname, n_keepends, 1, args, nargs, kwn, kwv, nkw, a);
        bool keep = tv_truthy(&a[0]);
        const tstr *t = self->u.s;
        tv out = tv_list(c, 0);
        size_t n = 0, cap = 0, i = 0, st = 0;
        tv *items = NULL;
        while (i < t->len) {
            size_t eol = 0;
            if (t->p[i] == '\r' && i + 1 < t->len && t->p[i + 1] == '\n') eol = 2;
            else if (t->p[i] == '\n' || t->p[i] == '\r' || t->p[i] == '\v' || t->p[i] == '\f' || (t->p[i] >= 0x1c && t->p[i] <= 0x1e)) eol = 1;
            else if ((unsigned char)t->p[i] == 0xc2 && i + 1 < t->len && (unsigned char)t->p[i + 1] == 0x85) eol = 2;
            else if ((unsigned char)t->p[i] == 0xe2 && i + 2 < t->len && (unsigned char)t->p[i + 1] == 0x80 &&
                     ((unsigned char)t->p[i + 2] == 0xa8 || (unsigned char)t->p[i + 2] == 0xa9)) eol = 3;
            if (!eol) { i++; continue; }
            rt_step(c);
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                tv *ni = rt_alloc(c, nc * sizeof(tv));
                if (n) memcpy(ni, items, n * sizeof(tv));
                items = ni;
                cap = nc;
            }
            items[n++] = tv_str_ref(c, t->p + st, (keep ? i + eol : i) - st);
            i += eol;
            st = i;
        }
        if (st < t->len) {
            if (n == cap) {
                tv *ni = rt_alloc(c, (cap + 1) * sizeof(tv));
                if (n) memcpy(ni, items, n * sizeof(tv));
                items = ni;
            }
            items[n++] = tv_str_ref(c, t->p + st, t->len - st);
        }
        out.u.l->v = items;
        out.u.l->n = n;
        return out;
    }
    case M_STARTSWITH: case M_ENDSWITH:
        bind_args(c, fname, n_prefix, 1, args, nargs, kwn, kwv, nkw, a);
        if (a[0].t == TV_UNDEF) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s() takes at least 1 argument", fname);
        return tv_bool(affix_match(c, self->u.s, &a[0], f->id == M_ENDSWITH));
    case M_LOWER: case M_UPPER: case M_TITLE: case M_CAPITALIZE:
        bind_args(c, fname, n_none, 0, args, nargs, kwn, kwv, nkw, a);
        return str_case(c, self, f->id == M_LOWER ? 0 : f->id == M_UPPER ? 1 : f->id == M_CAPITALIZE ? 2 : 4);
    case M_REPLACE: {
        bind_args(c, fname, n_replace, 3, args, nargs, kwn, kwv, nkw, a);
        if (a[0].t == TV_UNDEF || a[1].t == TV_UNDEF) rt_fail(c, LLM_ERR_FORMAT, "TypeError: replace() takes at least 2 arguments");
        int64_t count = a[2].t == TV_UNDEF ? -1 : need_int(c, &a[2], "count");
        return str_replace(c, self, &a[0], &a[1], count);
    }
    case M_FORMAT: return str_format(c, self->u.s, args, nargs, kwn, kwv, nkw);
    case M_JOIN:
        bind_args(c, fname, n_iter, 1, args, nargs, kwn, kwv, nkw, a);
        if (a[0].t == TV_UNDEF && nargs == 0) rt_fail(c, LLM_ERR_FORMAT, "TypeError: join() takes exactly one argument");
        return join_items(c, self, &a[0]);
    case M_FIND: case M_RFIND: case M_INDEX:
        bind_args(c, fname, n_sub, 1, args, nargs, kwn, kwv, nkw, a);
        return str_find(c, self->u.s, &a[0], f->id == M_RFIND, f->id == M_INDEX);
    case M_COUNT:
        bind_args(c, fname, n_sub, 1, args, nargs, kwn, kwv, nkw, a);
        return count_sub(c, self->u.s, &a[0]);
    case M_ISDIGIT: case M_ISALPHA: case M_ISALNUM: case M_ISSPACE: case M_ISUPPER: case M_ISLOWER:
        bind_args(c, fname, n_none, 0, args, nargs, kwn, kwv, nkw, a);
        return str_pred(c, self->u.s, f->id);
    case M_ZFILL: {
        bind_args(c, fname, n_width, 1, args, nargs, kwn, kwv, nkw, a);
        int64_t w = need_int(c, &a[0], "width");
        const tstr *s = self->u.s;
        int64_t n = (int64_t)utf8_count(s->p, s->len);
        if (w <= n) return *self;
        if ((uint64_t)w > c->arena.limit) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
        sbuf b = {0};
        size_t start = 0;
        if (s->len && (s->p[0] == '-' || s->p[0] == '+')) { sb_putc(c, &b, s->p[0]); start = 1; }
        for (int64_t k = 0; k < w - n; k++) sb_putc(c, &b, '0');
        sb_put(c, &b, s->p + start, s->len - start);
        return sb_value(c, &b);
    }
    case M_CENTER: case M_LJUST: case M_RJUST:
        bind_args(c, fname, n_width, 2, args, nargs, kwn, kwv, nkw, a);
        return pad(c, self->u.s, need_int(c, &a[0], "width"), &a[1], f->id == M_CENTER ? 0 : f->id == M_LJUST ? 1 : 2);
    case M_ITEMS: case M_KEYS: case M_VALUES: case M_COPY: {
        bind_args(c, fname, n_none, 0, args, nargs, kwn, kwv, nkw, a);
        const tdict *d = self->u.d;
        if (f->id == M_COPY) {
            tv r = tv_dict(c);
            for (size_t i = 0; i < d->n; i++) dict_set(c, r.u.d, &d->k[i], &d->v[i]);
            return r;
        }
        tv r = tv_list(c, d->n);
        r.gen = f->id == M_ITEMS ? 3 : f->id == M_KEYS ? 4 : 5; /* dict views: printed as dict_items([...]) */
        for (size_t i = 0; i < d->n; i++) {
            if (f->id == M_KEYS) r.u.l->v[i] = d->k[i];
            else if (f->id == M_VALUES) r.u.l->v[i] = d->v[i];
            else {
                tv pair = tv_list(c, 2);
                pair.tuple = 1;
                pair.u.l->v[0] = d->k[i];
                pair.u.l->v[1] = d->v[i];
                r.u.l->v[i] = pair;
            }
        }
        return r;
    }
    case M_GET: {
        bind_args(c, fname, n_get, 2, args, nargs, kwn, kwv, nkw, a);
        if (nkw) rt_fail(c, LLM_ERR_FORMAT, "TypeError: get() takes no keyword arguments");
        if (nargs == 0) rt_fail(c, LLM_ERR_FORMAT, "TypeError: get expected at least 1 argument, got 0");
        if (a[0].t == TV_LIST && !a[0].tuple) rt_fail(c, LLM_ERR_FORMAT, "TypeError: unhashable type: 'list'");
        tv *v = a[0].t == TV_DICT ? NULL : dict_get(c, self->u.d, &a[0]);
        if (v) return *v;
        return nargs > 1 ? a[1] : tv_none();
    }
    case M_LIST_INDEX: case M_LIST_COUNT: {
        bind_args(c, fname, n_value, 1, args, nargs, kwn, kwv, nkw, a);
        const tlist *l = self->u.l;
        int64_t k = 0;
        for (size_t i = 0; i < l->n; i++) {
            rt_step(c);
            if (tv_eq(c, &l->v[i], &a[0])) {
                if (f->id == M_LIST_INDEX) return tv_int((int64_t)i);
                k++;
            }
        }
        if (f->id == M_LIST_INDEX) rt_fail(c, LLM_ERR_FORMAT, "ValueError: value is not in list");
        return tv_int(k);
    }
    case M_LIST_COPY: {
        bind_args(c, fname, n_none, 0, args, nargs, kwn, kwv, nkw, a);
        tv r = tv_list(c, self->u.l->n);
        if (self->u.l->n) memcpy(r.u.l->v, self->u.l->v, self->u.l->n * sizeof(tv));
        return r;
    }
    default: rt_fail(c, LLM_ERR_INTERNAL, "unknown method");
    }
}

/* ---- globals */
enum { G_RANGE, G_DICT, G_NAMESPACE, G_RAISE, G_STRFTIME };
static const char *const global_names[] = {"range", "dict", "namespace", "raise_exception", "strftime_now"};

int global_lookup(const char *name, size_t len) {
    for (int i = 0; i < 5; i++)
        if (strlen(global_names[i]) == len && !memcmp(global_names[i], name, len)) return i;
    return -1;
}

/* dict(x) / namespace(x): a mapping or an iterable of pairs, then keywords */
static void fill_mapping(rctx *c, tdict *d, tv *args, size_t nargs, const char **kwn, tv *kwv, size_t nkw, const char *fname) {
    if (nargs > 1) rt_fail(c, LLM_ERR_FORMAT, "TypeError: %s expected at most 1 argument, got %zu", fname, nargs);
    if (nargs == 1) {
        tv *src = &args[0];
        if (src->t == TV_DICT || src->t == TV_NS) {
            for (size_t i = 0; i < src->u.d->n; i++) dict_set(c, d, &src->u.d->k[i], &src->u.d->v[i]);
        } else {
            tlist *l = tv_iterate(c, src);
            for (size_t i = 0; i < l->n; i++) {
                rt_step(c);
                tlist *pair = tv_iterate(c, &l->v[i]);
                if (pair->n != 2)
                    rt_fail(c, LLM_ERR_FORMAT, "ValueError: dictionary update sequence element #%zu has length %zu; 2 is required", i, pair->n);
                dict_set(c, d, &pair->v[0], &pair->v[1]);
            }
        }
    }
    for (size_t k = 0; k < nkw; k++) {
        tv key = tv_cstr(c, kwn[k]);
        dict_set(c, d, &key, &kwv[k]);
    }
}

tv call_global(rctx *c, tfunc *f, tv *args, size_t nargs, const char **kwn, tv *kwv, size_t nkw) {
    switch (f->id) {
    case G_RANGE: {
        if (nkw) rt_fail(c, LLM_ERR_FORMAT, "TypeError: range() takes no keyword arguments");
        if (nargs < 1 || nargs > 3) rt_fail(c, LLM_ERR_FORMAT, "TypeError: range expected 1 to 3 arguments, got %zu", nargs);
        int64_t v[3];
        for (size_t i = 0; i < nargs; i++) {
            if (args[i].t == TV_UNDEF && args[i].u.undef_name)
                rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: '%.100s' is undefined", args[i].u.undef_name);
            if (args[i].t != TV_INT && args[i].t != TV_BOOL)
                rt_fail(c, LLM_ERR_FORMAT, "TypeError: '%s' object cannot be interpreted as an integer", tv_type_name(&args[i]));
            v[i] = args[i].t == TV_BOOL ? args[i].u.b : args[i].u.i;
        }
        int64_t start = nargs == 1 ? 0 : v[0], stop = nargs == 1 ? v[0] : v[1], step = nargs == 3 ? v[2] : 1;
        if (step == 0) rt_fail(c, LLM_ERR_FORMAT, "ValueError: range() arg 3 must not be zero");
        /* length without overflow, in unsigned arithmetic */
        uint64_t count = 0;
        if (step > 0 && start < stop) count = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
        else if (step < 0 && start > stop) count = ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) + 1;
        /* jinja2's sandbox refuses ranges past its MAX_RANGE, whatever the limits */
        if (count > TMPL_SANDBOX_MAX_RANGE)
            rt_fail(c, LLM_ERR_FORMAT, "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                    TMPL_SANDBOX_MAX_RANGE);
        if (count > c->max_steps) rt_fail(c, LLM_ERR_LIMIT, "max_steps reached (range of %llu items)", (unsigned long long)count);
        tv r = tv_list(c, (size_t)count);
        int64_t x = start;
        for (uint64_t i = 0; i < count; i++) {
            r.u.l->v[i] = tv_int(x);
            if (i + 1 < count) x += step; /* stays within [start, stop) */
        }
        return r;
    }
    case G_DICT: {
        tv r = tv_dict(c);
        fill_mapping(c, r.u.d, args, nargs, kwn, kwv, nkw, "dict");
        return r;
    }
    case G_NAMESPACE: {
        tv r = tv_dict(c);
        fill_mapping(c, r.u.d, args, nargs, kwn, kwv, nkw, "namespace");
        r.t = TV_NS;
        return r;
    }
    case G_RAISE: {
        tv m = nargs ? tv_to_str(c, &args[0]) : tv_cstr(c, "");
        rt_fail(c, LLM_ERR_FORMAT, "%.*s", (int)(m.u.s->len > 200 ? 200 : m.u.s->len), m.u.s->p);
    }
    default: {
        static const char *const n_fmt[] = {"fmt"};
        tv a[1];
        bind_args(c, "strftime_now", n_fmt, 1, args, nargs, kwn, kwv, nkw, a);
        if (a[0].t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: strftime() argument 1 must be str, not %s", tv_type_name(&a[0]));
        if (a[0].u.s->len > 1024 || memchr(a[0].u.s->p, 0, a[0].u.s->len)) rt_fail(c, LLM_ERR_FORMAT, "ValueError: bad strftime format");
        /* Python's datetime.now() is naive: its %z and %Z are empty (C's would name the zone) */
        char fmt[1100];
        size_t k = 0;
        for (size_t i = 0; i < a[0].u.s->len; i++) {
            const char ch = a[0].u.s->p[i], nx = i + 1 < a[0].u.s->len ? a[0].u.s->p[i + 1] : 0;
            if (ch == '%' && (nx == 'z' || nx == 'Z')) {
                i++;
                continue;
            }
            fmt[k++] = ch;
            if (ch == '%' && nx) fmt[k++] = a[0].u.s->p[++i]; /* %% and the others as they are */
        }
        fmt[k] = 0;
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        size_t cap = 256 + a[0].u.s->len * 16;
        char *buf = rt_alloc(c, cap);
        size_t n = fmt[0] ? strftime(buf, cap, fmt, &tmv) : 0;
        return tv_str(c, buf, n);
    }
    }
}
