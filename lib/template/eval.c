/* The interpreter: executes statements into an output sink and evaluates expressions with
 * jinja2's semantics (Python arithmetic and comparisons, Undefined, scoping of loops and
 * macros). Every failure longjmps to the render entry through rt_fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static int exec_block(rctx *c, const node *b, scope *s);

/* ---- scopes */
static scope *scope_new(rctx *c, scope *parent) {
    scope *s = rt_alloc(c, sizeof(scope));
    memset(s, 0, sizeof *s);
    s->parent = parent;
    return s;
}

static tv *scope_find_local(scope *s, const char *name) {
    for (size_t i = s->n; i > 0; i--)
        if (!strcmp(s->names[i - 1], name)) return &s->vals[i - 1];
    return NULL;
}

static void scope_set(rctx *c, scope *s, const char *name, const tv *v) {
    tv *slot = scope_find_local(s, name);
    if (slot) {
        *slot = *v;
        return;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        const char **nn = rt_alloc(c, nc * sizeof(char *));
        tv *nv = rt_alloc(c, nc * sizeof(tv));
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof(char *));
            memcpy(nv, s->vals, s->n * sizeof(tv));
        }
        s->names = nn;
        s->vals = nv;
        s->cap = nc;
    }
    s->names[s->n] = name;
    s->vals[s->n] = *v;
    s->n++;
}

static tv lookup_name(rctx *c, scope *s, const char *name) {
    for (scope *p = s; p; p = p->parent) {
        tv *v = scope_find_local(p, name);
        if (v) return *v;
    }
    size_t len = strlen(name);
    tv *v = dict_get_str(c, c->vars, name, len);
    if (v) return *v;
    int g = global_lookup(name, len);
    if (g >= 0) {
        tv r = tv_func(c, FN_GLOBAL, name);
        r.u.fn->id = g;
        return r;
    }
    tv u = tv_undef();
    u.u.undef_name = name;
    return u;
}

/* ---- output */
static void emit(rctx *c, const char *p, size_t n) {
    sink *o = c->out;
    if (!n) return;
    if (o->top) {
        if (n > c->max_output || o->len + n > c->max_output) rt_fail(c, LLM_ERR_LIMIT, "max_output reached");
        rt_work(c, n);
        if (llm_buf_append(o->top, p, n) != 0) rt_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        o->len += n;
        return;
    }
    sbuf b = {o->p, o->len, o->cap};
    sb_put(c, &b, p, n);
    o->p = b.p;
    o->len = b.len;
    o->cap = b.cap;
}

static void emit_value(rctx *c, const tv *v) {
    if (v->t == TV_STR) {
        emit(c, v->u.s->p, v->u.s->len);
        return;
    }
    if (v->t == TV_UNDEF) return;
    sbuf b = {0};
    py_str(c, &b, v);
    emit(c, b.p, b.len);
}

/* Runs body with output captured; returns it as a string. */
static tv capture(rctx *c, const node *body, scope *s, int *flow) {
    sink cap = {0};
    sink *saved = c->out;
    c->out = &cap;
    int f = exec_block(c, body, s);
    c->out = saved;
    if (flow) *flow = f;
    if (!cap.p) return tv_str_ref(c, "", 0);
    return tv_str_ref(c, cap.p, cap.len);
}

/* ---- undefined helpers */
__attribute__((noreturn)) static void fail_undefined(rctx *c, const tv *u) {
    if (u->u.undef_name) rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: '%.100s' is undefined", u->u.undef_name);
    rt_fail(c, LLM_ERR_FORMAT, "UndefinedError: value is undefined");
}

static tv undef_named(rctx *c, const char *p, size_t len) {
    char *s = rt_alloc(c, len + 1);
    memcpy(s, p, len);
    s[len] = 0;
    tv u = tv_undef();
    u.u.undef_name = s;
    return u;
}

/* ---- attribute and item access */
static tv bound_method(rctx *c, const tv *self, int id, const char *name) {
    tv r = tv_func(c, FN_METHOD, name);
    r.u.fn->id = id;
    r.u.fn->self = *self;
    return r;
}

static tv loop_attr(rctx *c, const tv *obj, const char *name, size_t len) {
    tloop *L = obj->u.loop;
    int64_t n = (int64_t)L->items->n, i = (int64_t)L->idx;
#define IS(w) (len == sizeof(w) - 1 && !memcmp(name, w, len))
    if (IS("index")) return tv_int(i + 1);
    if (IS("index0")) return tv_int(i);
    if (IS("first")) return tv_bool(i == 0);
    if (IS("last")) return tv_bool(i == n - 1);
    if (IS("length")) return tv_int(n);
    if (IS("revindex")) return tv_int(n - i);
    if (IS("revindex0")) return tv_int(n - i - 1);
    if (IS("depth")) return tv_int(L->depth);
    if (IS("depth0")) return tv_int(L->depth - 1);
    if (IS("previtem")) {
        if (i == 0) return undef_named(c, "previtem", 8);
        return L->items->v[i - 1];
    }
    if (IS("nextitem")) {
        if (i + 1 >= n) return undef_named(c, "nextitem", 8);
        return L->items->v[i + 1];
    }
    if (IS("cycle")) return bound_method(c, obj, -1, "cycle");
    if (IS("changed")) return bound_method(c, obj, -2, "changed");
#undef IS
    return undef_named(c, name, len);
}

tv tv_getattr(rctx *c, const tv *obj, const char *name, size_t len) {
    switch (obj->t) {
    case TV_UNDEF: fail_undefined(c, obj);
    case TV_LOOP: return loop_attr(c, obj, name, len);
    case TV_NS: {
        tv *v = dict_get_str(c, obj->u.d, name, len);
        return v ? *v : undef_named(c, name, len);
    }
    case TV_DICT: {
        int m = method_lookup(obj, name, len);
        if (m >= 0) return bound_method(c, obj, m, name);
        tv *v = dict_get_str(c, obj->u.d, name, len);
        return v ? *v : undef_named(c, name, len);
    }
    default: {
        int m = method_lookup(obj, name, len);
        if (m >= 0) return bound_method(c, obj, m, name);
        return undef_named(c, name, len);
    }
    }
}

static bool as_index(const tv *k, int64_t *out) {
    if (k->t == TV_INT) { *out = k->u.i; return true; }
    if (k->t == TV_BOOL) { *out = k->u.b; return true; }
    return false;
}

tv tv_getitem(rctx *c, const tv *obj, const tv *key) {
    if (obj->t == TV_UNDEF) fail_undefined(c, obj);
    int64_t i;
    switch (obj->t) {
    case TV_DICT:
        if (key->t != TV_LIST || key->tuple) {
            if (key->t == TV_DICT || key->t == TV_NS || key->t == TV_FUNC || key->t == TV_LOOP || key->t == TV_UNDEF) break;
            tv *v = dict_get(c, obj->u.d, key);
            if (v) return *v;
        }
        break;
    case TV_LIST:
        if (obj->gen) return tv_undef();
        if (as_index(key, &i)) {
            int64_t n = (int64_t)obj->u.l->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) return obj->u.l->v[i];
            return tv_undef();
        }
        break;
    case TV_STR:
        if (as_index(key, &i)) {
            const tstr *s = obj->u.s;
            if (i < 0) {
                rt_work(c, s->len);
                i += (int64_t)utf8_count(s->p, s->len);
                if (i < 0) return tv_undef();
            }
            size_t off = utf8_offset(s->p, s->len, (size_t)i); /* scans only up to i */
            rt_work(c, off);
            if (off >= s->len) return tv_undef();
            uint32_t cp;
            size_t k = utf8_decode(s->p + off, s->len - off, &cp);
            return tv_str_ref(c, s->p + off, k);
        }
        break;
    default: break;
    }
    if (key->t == TV_STR) return tv_getattr(c, obj, key->u.s->p, key->u.s->len);
    return tv_undef();
}

/* Python slice indices for a sequence of length n. */
static bool slice_arg(rctx *c, const tv *v, int64_t *out, bool *given) {
    (void)c;
    if (!v || v->t == TV_NONE) { *given = false; return true; }
    *given = true;
    return as_index(v, out);
}

static tv do_slice(rctx *c, const tv *obj, const tv *start, const tv *stop, const tv *step) {
    if (obj->t == TV_UNDEF) fail_undefined(c, obj);
    int64_t a = 0, b = 0, st = 1;
    bool ha, hb, hs;
    if (!slice_arg(c, start, &a, &ha) || !slice_arg(c, stop, &b, &hb) || !slice_arg(c, step, &st, &hs)) return tv_undef();
    if (!hs) st = 1;
    if (st == 0) rt_fail(c, LLM_ERR_FORMAT, "ValueError: slice step cannot be zero");
    if ((obj->t != TV_LIST || obj->gen) && obj->t != TV_STR) return tv_undef();
    bool is_str = obj->t == TV_STR;
    if (is_str) rt_work(c, obj->u.s->len);
    bool ascii = is_str && str_is_ascii(obj->u.s->p, obj->u.s->len);
    int64_t n = is_str ? (int64_t)(ascii ? obj->u.s->len : utf8_count(obj->u.s->p, obj->u.s->len)) : (int64_t)obj->u.l->n;
    /* PySlice_AdjustIndices */
    if (!ha) a = st < 0 ? n - 1 : 0;
    else {
        if (a < 0) { a += n; if (a < 0) a = st < 0 ? -1 : 0; }
        else if (a >= n) a = st < 0 ? n - 1 : n;
    }
    if (!hb) b = st < 0 ? -1 : n;
    else {
        if (b < 0) { b += n; if (b < 0) b = st < 0 ? -1 : 0; }
        else if (b >= n) b = st < 0 ? n - 1 : n;
    }
    int64_t count = 0;
    if (st > 0 && a < b) count = (b - a - 1) / st + 1;
    else if (st < 0 && a > b) count = (a - b - 1) / (-st) + 1;
    if (!is_str) {
        tv r = tv_list(c, (size_t)count);
        r.tuple = obj->tuple;
        for (int64_t k = 0; k < count; k++) r.u.l->v[k] = obj->u.l->v[a + k * st];
        return r;
    }
    const tstr *s = obj->u.s;
    if (ascii) {
        if (st == 1) return tv_str_ref(c, s->p + a, (size_t)count);
        char *buf = rt_alloc(c, (size_t)count + 1);
        for (int64_t k = 0; k < count; k++) buf[k] = s->p[a + k * st];
        return tv_str_ref(c, buf, (size_t)count);
    }
    /* offsets of each code point */
    size_t *offs = rt_alloc(c, ((size_t)n + 1) * sizeof(size_t));
    size_t off = 0;
    for (int64_t k = 0; k <= n; k++) {
        offs[k] = off;
        if (k < n) {
            uint32_t cp;
            off += utf8_decode(s->p + off, s->len - off, &cp);
        }
    }
    sbuf out = {0};
    for (int64_t k = 0; k < count; k++) {
        int64_t at = a + k * st;
        sb_put(c, &out, s->p + offs[at], offs[at + 1] - offs[at]);
    }
    return sb_value(c, &out);
}

/* ---- arithmetic */
__attribute__((noreturn)) static void fail_operands(rctx *c, const char *op, const tv *a, const tv *b) {
    if (a->t == TV_UNDEF) fail_undefined(c, a);
    if (b->t == TV_UNDEF) fail_undefined(c, b);
    rt_fail(c, LLM_ERR_FORMAT, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op, tv_type_name(a),
            tv_type_name(b));
}

static int64_t ival(const tv *v) { return v->t == TV_BOOL ? v->u.b : v->u.i; }
static bool is_intlike(const tv *v) { return v->t == TV_INT || v->t == TV_BOOL; }

__attribute__((noreturn)) static void int_overflow(rctx *c) {
    rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
}

static tv repeat(rctx *c, const tv *seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq->t == TV_STR) {
        size_t len = seq->u.s->len;
        if (len && (uint64_t)times > (c->arena.limit / len)) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
        size_t total = len * (size_t)times;
        char *buf = rt_alloc(c, total + 1);
        for (int64_t k = 0; k < times; k++) memcpy(buf + (size_t)k * len, seq->u.s->p, len);
        buf[total] = 0;
        return tv_str_ref(c, buf, total);
    }
    size_t n = seq->u.l->n;
    if (n && (uint64_t)times > (c->arena.limit / (n * sizeof(tv)))) rt_fail(c, LLM_ERR_LIMIT, "max_memory reached");
    tv r = tv_list(c, n * (size_t)times);
    r.tuple = seq->tuple;
    for (int64_t k = 0; k < times; k++) {
        rt_step(c);
        if (n) memcpy(r.u.l->v + (size_t)k * n, seq->u.l->v, n * sizeof(tv));
    }
    return r;
}

static double py_fmod(double a, double b, double *floordiv) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0) {
        if ((b < 0) != (mod < 0)) {
            mod += b;
            div -= 1.0;
        }
    } else {
        mod = copysign(0.0, b);
    }
    double fd;
    if (div != 0) {
        fd = floor(div);
        if (div - fd > 0.5) fd += 1.0;
    } else {
        fd = copysign(0.0, a / b);
    }
    if (floordiv) *floordiv = fd;
    return mod;
}

static tv int_pow(rctx *c, int64_t base, int64_t exp) {
    int64_t result = 1;
    while (exp > 0) {
        rt_step(c);
        if (exp & 1)
            if (__builtin_mul_overflow(result, base, &result)) int_overflow(c);
        exp >>= 1;
        if (exp && __builtin_mul_overflow(base, base, &base)) int_overflow(c);
    }
    return tv_int(result);
}

static tv str_concat(rctx *c, const tv *a, const tv *b) {
    size_t n = a->u.s->len + b->u.s->len;
    rt_work(c, n);
    char *buf = rt_alloc(c, n + 1);
    memcpy(buf, a->u.s->p, a->u.s->len);
    memcpy(buf + a->u.s->len, b->u.s->p, b->u.s->len);
    buf[n] = 0;
    return tv_str_ref(c, buf, n);
}

static tv binop(rctx *c, int op, const tv *a, const tv *b) {
    bool nums = tv_is_number(a) && tv_is_number(b);
    bool ints = is_intlike(a) && is_intlike(b);
    int64_t r;
    switch (op) {
    case '~': {
        tv x = tv_to_str(c, a), y = tv_to_str(c, b);
        return str_concat(c, &x, &y);
    }
    case '+':
        if (ints) {
            if (__builtin_add_overflow(ival(a), ival(b), &r)) int_overflow(c);
            return tv_int(r);
        }
        if (nums) return tv_float(tv_as_double(a) + tv_as_double(b));
        if (a->t == TV_STR && b->t == TV_STR) {
            tv s = str_concat(c, a, b);
            if (a->markup || b->markup) {
                tv x = a->markup ? *a : html_escape(c, a), y = b->markup ? *b : html_escape(c, b);
                s = str_concat(c, &x, &y);
                s.markup = 1;
            }
            return s;
        }
        if (a->t == TV_LIST && b->t == TV_LIST && a->tuple == b->tuple && !a->gen && !b->gen) {
            tv l = tv_list(c, a->u.l->n + b->u.l->n);
            l.tuple = a->tuple;
            if (a->u.l->n) memcpy(l.u.l->v, a->u.l->v, a->u.l->n * sizeof(tv));
            if (b->u.l->n) memcpy(l.u.l->v + a->u.l->n, b->u.l->v, b->u.l->n * sizeof(tv));
            return l;
        }
        fail_operands(c, "+", a, b);
    case '-':
        if (ints) {
            if (__builtin_sub_overflow(ival(a), ival(b), &r)) int_overflow(c);
            return tv_int(r);
        }
        if (nums) return tv_float(tv_as_double(a) - tv_as_double(b));
        fail_operands(c, "-", a, b);
    case '*':
        if (ints) {
            if (__builtin_mul_overflow(ival(a), ival(b), &r)) int_overflow(c);
            return tv_int(r);
        }
        if (nums) return tv_float(tv_as_double(a) * tv_as_double(b));
        if ((a->t == TV_STR || (a->t == TV_LIST && !a->gen)) && is_intlike(b)) return repeat(c, a, ival(b));
        if ((b->t == TV_STR || (b->t == TV_LIST && !b->gen)) && is_intlike(a)) return repeat(c, b, ival(a));
        fail_operands(c, "*", a, b);
    case '/':
        if (nums) {
            double y = tv_as_double(b);
            if (y == 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: division by zero");
            return tv_float(tv_as_double(a) / y);
        }
        fail_operands(c, "/", a, b);
    case 'f':
    case '%':
        if (ints) {
            int64_t x = ival(a), y = ival(b);
            if (y == 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == 'f') int_overflow(c);
                return tv_int(0);
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            return tv_int(op == 'f' ? q : m);
        }
        if (nums) {
            double y = tv_as_double(b);
            if (y == 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: float modulo");
            double fd, m = py_fmod(tv_as_double(a), y, &fd);
            return tv_float(op == 'f' ? fd : m);
        }
        if (op == '%' && a->t == TV_STR) return py_percent_format(c, a, b);
        fail_operands(c, op == 'f' ? "//" : "%", a, b);
    case 'p':
        if (ints) {
            int64_t x = ival(a), y = ival(b);
            if (y >= 0) return int_pow(c, x, y);
            if (x == 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
            return tv_float(pow((double)x, (double)y));
        }
        if (nums) {
            double x = tv_as_double(a), y = tv_as_double(b);
            if (x == 0 && y < 0) rt_fail(c, LLM_ERR_FORMAT, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
            if (x < 0 && y != floor(y) && isfinite(y)) rt_fail(c, LLM_ERR_FORMAT, "complex results are not supported");
            double res = pow(x, y);
            if (isinf(res) && isfinite(x) && isfinite(y)) rt_fail(c, LLM_ERR_FORMAT, "OverflowError: numerical result out of range");
            return tv_float(res);
        }
        fail_operands(c, "**", a, b);
    default:
        rt_fail(c, LLM_ERR_INTERNAL, "unknown operator");
    }
}

static bool contains(rctx *c, const tv *item, const tv *container) {
    switch (container->t) {
    case TV_UNDEF: return false;
    case TV_STR:
        if (item->t != TV_STR) rt_fail(c, LLM_ERR_FORMAT, "TypeError: 'in <string>' requires string as left operand, not %s", tv_type_name(item));
        if (item->u.s->len == 0) return true;
        rt_work(c, container->u.s->len);
        return memmem(container->u.s->p, container->u.s->len, item->u.s->p, item->u.s->len) != NULL;
    case TV_LIST:
        for (size_t i = 0; i < container->u.l->n; i++) {
            rt_step(c);
            if (tv_eq(c, item, &container->u.l->v[i])) return true;
        }
        return false;
    case TV_DICT:
        return dict_get(c, container->u.d, item) != NULL;
    default:
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: argument of type '%s' is not iterable", tv_type_name(container));
    }
}

static bool compare(rctx *c, int op, const tv *a, const tv *b) {
    switch (op) {
    case CMP_EQ: return tv_eq(c, a, b);
    case CMP_NE: return !tv_eq(c, a, b);
    case CMP_IN: return contains(c, a, b);
    case CMP_NOTIN: return !contains(c, a, b);
    default: break;
    }
    if (a->t == TV_UNDEF) fail_undefined(c, a);
    if (b->t == TV_UNDEF) fail_undefined(c, b);
    if ((a->t == TV_FLOAT && isnan(a->u.f)) || (b->t == TV_FLOAT && isnan(b->u.f))) {
        if (tv_is_number(a) && tv_is_number(b)) return false;
    }
    int r = tv_cmp(c, a, b);
    switch (op) {
    case CMP_LT: return r < 0;
    case CMP_LE: return r <= 0;
    case CMP_GT: return r > 0;
    default: return r >= 0;
    }
}

/* ---- calls */
typedef struct argv_ {
    tv *pos;
    size_t npos;
    const char **kwn;
    tv *kwv;
    size_t nkw;
} argv_;

static void eval_args(rctx *c, const node *n, argv_ *a, size_t extra_kw) {
    a->npos = n->n;
    a->pos = n->n ? rt_alloc(c, n->n * sizeof(tv)) : NULL;
    for (size_t i = 0; i < n->n; i++) a->pos[i] = eval_expr(c, n->items[i]);
    a->nkw = n->nkw;
    a->kwn = rt_alloc(c, (n->nkw + extra_kw + 1) * sizeof(char *));
    a->kwv = rt_alloc(c, (n->nkw + extra_kw + 1) * sizeof(tv));
    for (size_t i = 0; i < n->nkw; i++) {
        a->kwn[i] = n->kwnames[i];
        a->kwv[i] = eval_expr(c, n->kw[i]);
    }
}

static tv call_macro(rctx *c, tfunc *f, tv *args, size_t nargs, const char **kwnames, tv *kwvals, size_t nkw) {
    const node *m = f->macro;
    const char *mname = f->name ? f->name : "caller";
    if (++c->calls > c->max_calls) rt_fail(c, LLM_ERR_LIMIT, "macro calls nested deeper than max_depth");
    scope *s = scope_new(c, f->closure);
    size_t np = m->n;
    bool *set = rt_alloc(c, (np + 1) * sizeof(bool));
    memset(set, 0, (np + 1) * sizeof(bool));
    if (nargs > np && !(m->flag & 1))
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: macro '%.60s' takes not more than %zu argument(s)", mname, np);
    for (size_t i = 0; i < nargs && i < np; i++) {
        scope_set(c, s, m->items[i]->name, &args[i]);
        set[i] = true;
    }
    tv varargs = tv_list(c, nargs > np ? nargs - np : 0);
    varargs.tuple = 1;
    for (size_t i = np; i < nargs; i++) varargs.u.l->v[i - np] = args[i];
    tv kwargs = tv_dict(c);
    tv caller = tv_undef();
    bool has_caller = false;
    for (size_t k = 0; k < nkw; k++) {
        size_t i;
        for (i = 0; i < np; i++)
            if (!strcmp(m->items[i]->name, kwnames[k])) break;
        if (i < np) {
            if (set[i]) rt_fail(c, LLM_ERR_FORMAT, "TypeError: macro '%.60s' got multiple values for argument '%.60s'", mname, kwnames[k]);
            scope_set(c, s, m->items[i]->name, &kwvals[k]);
            set[i] = true;
        } else if (!strcmp(kwnames[k], "caller")) {
            caller = kwvals[k];
            has_caller = true;
        } else if (m->flag & 2) {
            tv key = tv_cstr(c, kwnames[k]);
            dict_set(c, kwargs.u.d, &key, &kwvals[k]);
        } else {
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: macro '%.60s' takes no keyword argument '%.60s'", mname, kwnames[k]);
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (set[i]) continue;
        tv v;
        if (m->kw[i]) {
            /* defaults are evaluated in the call's scope: they see the earlier parameters */
            scope *saved = c->scope;
            c->scope = s;
            v = eval_expr(c, m->kw[i]);
            c->scope = saved;
        } else {
            v = tv_undef();
            v.u.undef_name = m->items[i]->name;
        }
        scope_set(c, s, m->items[i]->name, &v);
    }
    scope_set(c, s, "varargs", &varargs);
    scope_set(c, s, "kwargs", &kwargs);
    if (has_caller) scope_set(c, s, "caller", &caller);
    const node *saved_cur = c->cur;
    tv r = capture(c, m->d, s, NULL);
    c->cur = saved_cur;
    c->calls--;
    return r;
}

tv call_value(rctx *c, const tv *fn, tv *args, size_t nargs, const char **kwnames, tv *kwvals, size_t nkw) {
    if (fn->t == TV_UNDEF) fail_undefined(c, fn);
    if (fn->t != TV_FUNC) rt_fail(c, LLM_ERR_FORMAT, "TypeError: '%s' object is not callable", tv_type_name(fn));
    tfunc *f = fn->u.fn;
    switch (f->kind) {
    case FN_GLOBAL: return call_global(c, f, args, nargs, kwnames, kwvals, nkw);
    case FN_METHOD:
        if (f->self.t == TV_LOOP) {
            tloop *L = f->self.u.loop;
            if (nkw) rt_fail(c, LLM_ERR_FORMAT, "TypeError: loop.%s takes no keyword arguments", f->name);
            if (f->id == -1) {
                if (nargs == 0) rt_fail(c, LLM_ERR_FORMAT, "TypeError: no items for cycling given");
                return args[L->idx % nargs];
            }
            tv cur = tv_list(c, nargs);
            for (size_t i = 0; i < nargs; i++) cur.u.l->v[i] = args[i];
            bool changed = !L->changed_set || !tv_eq(c, &cur, &L->changed_last);
            L->changed_last = cur;
            L->changed_set = true;
            return tv_bool(changed);
        }
        return call_method(c, f, args, nargs, kwnames, kwvals, nkw);
    default: return call_macro(c, f, args, nargs, kwnames, kwvals, nkw);
    }
}

/* ---- expressions */
static tv make_func_macro(rctx *c, const node *m, scope *s, const char *name) {
    tv r = tv_func(c, FN_MACRO, name);
    r.u.fn->macro = m;
    r.u.fn->closure = s;
    s->captured = true;
    return r;
}

static void enter(rctx *c, const node *n) {
    rt_step(c);
    if (++c->depth > c->max_depth) rt_fail(c, LLM_ERR_LIMIT, "evaluation nested deeper than max_depth");
    c->cur = n;
}

static tv eval_call(rctx *c, const node *n, const char *extra_name, const tv *extra_val) {
    tv fn = eval_expr(c, n->a);
    argv_ a;
    eval_args(c, n, &a, extra_name ? 1 : 0);
    if (extra_name) {
        a.kwn[a.nkw] = extra_name;
        a.kwv[a.nkw] = *extra_val;
        a.nkw++;
    }
    c->cur = n;
    return call_value(c, &fn, a.pos, a.npos, a.kwn, a.kwv, a.nkw);
}

tv eval_expr(rctx *c, const node *n) {
    enter(c, n);
    tv r;
    switch (n->kind) {
    case N_CONST: r = n->cv; break;
    case N_NAME: r = lookup_name(c, c->scope, n->name); break;
    case N_LIST:
    case N_TUPLE:
        r = tv_list(c, n->n);
        r.tuple = n->kind == N_TUPLE;
        for (size_t i = 0; i < n->n; i++) r.u.l->v[i] = eval_expr(c, n->items[i]);
        break;
    case N_DICT:
        r = tv_dict(c);
        for (size_t i = 0; i < n->n; i++) {
            tv k = eval_expr(c, n->items[i]);
            tv v = eval_expr(c, n->kw[i]);
            c->cur = n;
            dict_set(c, r.u.d, &k, &v);
        }
        break;
    case N_GETATTR: {
        tv o = eval_expr(c, n->a);
        c->cur = n;
        r = tv_getattr(c, &o, n->name, strlen(n->name));
        break;
    }
    case N_GETITEM: {
        tv o = eval_expr(c, n->a);
        if (n->b->kind == N_SLICE) {
            const node *sl = n->b;
            tv a = sl->a ? eval_expr(c, sl->a) : tv_none();
            tv b = sl->b ? eval_expr(c, sl->b) : tv_none();
            tv st = sl->c ? eval_expr(c, sl->c) : tv_none();
            c->cur = n;
            r = do_slice(c, &o, &a, &b, &st);
        } else {
            tv k = eval_expr(c, n->b);
            c->cur = n;
            r = tv_getitem(c, &o, &k);
        }
        break;
    }
    case N_SLICE: rt_fail(c, LLM_ERR_FORMAT, "slice outside a subscript");
    case N_CALL: r = eval_call(c, n, NULL, NULL); break;
    case N_FILTER: {
        tv in = n->a ? eval_expr(c, n->a) : c->filter_input;
        argv_ a;
        eval_args(c, n, &a, 0);
        c->cur = n;
        r = apply_filter(c, n->fid, n->name, &in, a.pos, a.npos, a.kwn, a.kwv, a.nkw);
        break;
    }
    case N_TEST: {
        tv in = eval_expr(c, n->a);
        argv_ a;
        eval_args(c, n, &a, 0);
        c->cur = n;
        if (a.nkw) rt_fail(c, LLM_ERR_FORMAT, "keyword arguments to tests are not supported");
        r = tv_bool(apply_test(c, n->fid, n->name, &in, a.pos, a.npos));
        break;
    }
    case N_NOT: {
        tv v = eval_expr(c, n->a);
        r = tv_bool(!tv_truthy(&v));
        break;
    }
    case N_NEG:
    case N_POS: {
        tv v = eval_expr(c, n->a);
        c->cur = n;
        if (v.t == TV_UNDEF) fail_undefined(c, &v);
        if (v.t == TV_BOOL) v = tv_int(v.u.b);
        if (v.t == TV_INT) {
            if (n->kind == N_NEG && v.u.i == INT64_MIN) int_overflow(c);
            r = tv_int(n->kind == N_NEG ? -v.u.i : v.u.i);
        } else if (v.t == TV_FLOAT) {
            r = tv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        } else {
            rt_fail(c, LLM_ERR_FORMAT, "TypeError: bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', tv_type_name(&v));
        }
        break;
    }
    case N_BINOP: {
        tv a = eval_expr(c, n->a);
        tv b = eval_expr(c, n->b);
        c->cur = n;
        r = binop(c, n->op, &a, &b);
        break;
    }
    case N_AND: {
        r = eval_expr(c, n->a);
        if (tv_truthy(&r)) r = eval_expr(c, n->b);
        break;
    }
    case N_OR: {
        r = eval_expr(c, n->a);
        if (!tv_truthy(&r)) r = eval_expr(c, n->b);
        break;
    }
    case N_COMPARE: {
        tv left = eval_expr(c, n->a);
        r = tv_bool(true);
        for (size_t i = 0; i < n->n; i++) {
            tv right = eval_expr(c, n->items[i]);
            c->cur = n;
            if (!compare(c, n->ops[i], &left, &right)) {
                r = tv_bool(false);
                break;
            }
            left = right;
        }
        break;
    }
    case N_CONDEXPR: {
        tv t = eval_expr(c, n->a);
        if (tv_truthy(&t)) r = eval_expr(c, n->b);
        else if (n->c) r = eval_expr(c, n->c);
        else r = tv_undef();
        break;
    }
    default: rt_fail(c, LLM_ERR_INTERNAL, "not an expression");
    }
    c->depth--;
    return r;
}

/* ---- statements */
static void assign(rctx *c, const node *target, const tv *v, scope *s) {
    if (target->kind == N_NAME) {
        scope_set(c, s, target->name, v);
        return;
    }
    if (target->kind == N_TUPLE) {
        c->cur = target;
        tlist *items = tv_iterate(c, v);
        if (items->n != target->n)
            rt_fail(c, LLM_ERR_FORMAT, "ValueError: %s values to unpack (expected %zu, got %zu)",
                    items->n > target->n ? "too many" : "not enough", target->n, items->n);
        for (size_t i = 0; i < target->n; i++) assign(c, target->items[i], &items->v[i], s);
        return;
    }
    if (target->kind == N_NSREF) {
        tv ns = lookup_name(c, s, target->name);
        c->cur = target;
        if (ns.t != TV_NS) rt_fail(c, LLM_ERR_FORMAT, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        tv key = tv_cstr(c, target->attr);
        dict_set(c, ns.u.d, &key, v);
        return;
    }
    rt_fail(c, LLM_ERR_FORMAT, "cannot assign to this target");
}

static int exec_for(rctx *c, const node *n, scope *s) {
    tv it = eval_expr(c, n->b);
    c->cur = n;
    tlist *items = tv_iterate(c, &it);
    if (n->c) {
        /* the loop filter sees the loop variables (not `loop`) */
        tv kept = tv_list(c, items->n);
        size_t k = 0;
        scope *fs = scope_new(c, s);
        for (size_t i = 0; i < items->n; i++) {
            rt_step(c);
            fs->n = 0;
            assign(c, n->a, &items->v[i], fs);
            c->scope = fs;
            tv t = eval_expr(c, n->c);
            c->scope = s;
            if (tv_truthy(&t)) kept.u.l->v[k++] = items->v[i];
        }
        kept.u.l->n = k;
        items = kept.u.l;
    }
    if (items->n == 0) {
        if (n->e) return exec_block(c, n->e, s);
        return FLOW_NORMAL;
    }
    tloop *L = rt_alloc(c, sizeof(tloop));
    memset(L, 0, sizeof *L);
    L->items = items;
    L->depth = 1;
    tv loopv = {0};
    loopv.t = TV_LOOP;
    loopv.u.loop = L;
    scope *is = NULL;
    for (size_t i = 0; i < items->n; i++) {
        rt_step(c);
        L->idx = i;
        /* each iteration starts with a fresh scope (assignments do not carry over) */
        if (!is || is->captured) is = scope_new(c, s);
        else is->n = 0;
        assign(c, n->a, &items->v[i], is);
        scope_set(c, is, "loop", &loopv);
        int f = exec_block(c, n->d, is);
        if (f == FLOW_BREAK) break;
    }
    return FLOW_NORMAL;
}

static int exec_stmt(rctx *c, const node *n, scope *s) {
    enter(c, n);
    c->scope = s;
    int flow = FLOW_NORMAL;
    switch (n->kind) {
    case N_DATA: emit(c, n->cv.u.s->p, n->cv.u.s->len); break;
    case N_PRINT: {
        tv v = eval_expr(c, n->a);
        c->cur = n;
        emit_value(c, &v);
        break;
    }
    case N_IF: {
        const node *b = n;
        for (;;) {
            tv t = eval_expr(c, b->a);
            if (tv_truthy(&t)) {
                flow = exec_block(c, b->b, s);
                break;
            }
            if (!b->c) break;
            if (b->c->kind == N_IF) {
                b = b->c;
                continue;
            }
            flow = exec_block(c, b->c, s);
            break;
        }
        break;
    }
    case N_FOR: flow = exec_for(c, n, s); break;
    case N_SET: {
        tv v = eval_expr(c, n->b);
        assign(c, n->a, &v, s);
        break;
    }
    case N_SETBLOCK: { /* the body's own assignments stay in it, as in jinja2 */
        tv v = capture(c, n->d, scope_new(c, s), NULL);
        if (n->b) {
            tv saved = c->filter_input;
            c->filter_input = v;
            c->scope = s;
            v = eval_expr(c, n->b);
            c->filter_input = saved;
        }
        assign(c, n->a, &v, s);
        break;
    }
    case N_MACRO: {
        tv m = make_func_macro(c, n, s, n->name);
        scope_set(c, s, n->name, &m);
        break;
    }
    case N_CALLBLOCK: {
        tv caller = make_func_macro(c, n, s, NULL);
        tv v = eval_call(c, n->a, "caller", &caller);
        c->cur = n;
        emit_value(c, &v);
        break;
    }
    case N_FILTERBLOCK: {
        tv body = capture(c, n->d, scope_new(c, s), NULL);
        tv saved = c->filter_input;
        c->filter_input = body;
        c->scope = s;
        tv v = eval_expr(c, n->b);
        c->filter_input = saved;
        emit_value(c, &v);
        break;
    }
    case N_WITH: {
        scope *ws = scope_new(c, s);
        for (size_t i = 0; i < n->n; i++) {
            c->scope = s;
            tv v = eval_expr(c, n->kw[i]);
            assign(c, n->items[i], &v, ws);
        }
        flow = exec_block(c, n->d, ws);
        break;
    }
    case N_BREAK: flow = FLOW_BREAK; break;
    case N_CONTINUE: flow = FLOW_CONTINUE; break;
    default: rt_fail(c, LLM_ERR_INTERNAL, "not a statement");
    }
    c->scope = s;
    c->depth--;
    return flow;
}

static int exec_block(rctx *c, const node *b, scope *s) {
    scope *saved = c->scope;
    int flow = FLOW_NORMAL;
    for (size_t i = 0; i < b->n; i++) {
        flow = exec_stmt(c, b->items[i], s);
        if (flow != FLOW_NORMAL) break;
    }
    c->scope = saved;
    return flow;
}

void tmpl_exec_root(rctx *c, const node *root) {
    c->scope = c->globals_scope;
    exec_block(c, root, c->globals_scope);
}
