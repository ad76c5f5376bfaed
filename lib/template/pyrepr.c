/* Python's str() and repr() of values: what {{ x }} prints (lists and dicts print as repr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "template/tmpl_internal.h"

/* Shortest digits that read back as f (repr), laid out as Python's float_repr_style 'short':
 * positional for exponents -4 <= e < 16, scientific otherwise. */
void py_float_repr(char *out, size_t cap, double f) {
    if (isnan(f)) { snprintf(out, cap, "nan"); return; }
    if (isinf(f)) { snprintf(out, cap, f < 0 ? "-inf" : "inf"); return; }
    if (f == 0) { snprintf(out, cap, signbit(f) ? "-0.0" : "0.0"); return; }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf: [-]d.ddde[+-]xx */
    bool neg = buf[0] == '-';
    const char *p = buf + neg;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char res[64];
    size_t k = 0;
    if (neg) res[k++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            res[k++] = '0';
            res[k++] = '.';
            for (int i = 0; i < -exp - 1; i++) res[k++] = '0';
            for (size_t i = 0; i < nd; i++) res[k++] = digits[i];
        } else {
            for (int i = 0; i <= exp; i++) res[k++] = (size_t)i < nd ? digits[i] : '0';
            res[k++] = '.';
            if ((size_t)exp + 1 < nd) {
                for (size_t i = (size_t)exp + 1; i < nd; i++) res[k++] = digits[i];
            } else {
                res[k++] = '0';
            }
        }
        res[k] = 0;
    } else {
        res[k++] = digits[0];
        if (nd > 1) {
            res[k++] = '.';
            for (size_t i = 1; i < nd; i++) res[k++] = digits[i];
        }
        res[k] = 0;
        snprintf(res + k, sizeof res - k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(out, cap, "%s", res);
}

static bool py_printable(uint32_t cp) {
    if (cp < 0x20 || cp == 0x7f) return false;
    if (cp < 0x7f) return true;
    if (cp == ' ') return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
    switch (k) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return false;
    default:
        return true;
    }
}

static void repr_str(rctx *c, sbuf *b, const tstr *s) {
    bool has_sq = memchr(s->p, '\'', s->len) != NULL, has_dq = memchr(s->p, '"', s->len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    sb_putc(c, b, q);
    size_t i = 0;
    while (i < s->len) {
        uint32_t cp;
        size_t k = utf8_decode(s->p + i, s->len - i, &cp);
        char tmp[16];
        if (cp == (uint32_t)q || cp == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)cp;
            sb_put(c, b, tmp, 2);
        } else if (cp == '\n') sb_put(c, b, "\\n", 2);
        else if (cp == '\r') sb_put(c, b, "\\r", 2);
        else if (cp == '\t') sb_put(c, b, "\\t", 2);
        else if (!py_printable(cp)) {
            if (cp < 0x100) snprintf(tmp, sizeof tmp, "\\x%02x", cp);
            else if (cp < 0x10000) snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            else snprintf(tmp, sizeof tmp, "\\U%08x", cp);
            sb_puts(c, b, tmp);
        } else {
            sb_put(c, b, s->p + i, k);
        }
        i += k;
    }
    sb_putc(c, b, q);
}

static void enter(rctx *c) {
    if (++c->depth > c->value_depth_max) rt_fail(c, LLM_ERR_LIMIT, "values nested deeper than max_depth");
}

void py_repr(rctx *c, sbuf *b, const tv *v) {
    char tmp[64];
    switch (v->t) {
    case TV_STR:
        if (v->markup) {
            sb_puts(c, b, "Markup(");
            repr_str(c, b, v->u.s);
            sb_putc(c, b, ')');
        } else {
            repr_str(c, b, v->u.s);
        }
        return;
    case TV_UNDEF: sb_puts(c, b, "Undefined"); return;
    case TV_LIST: {
        if (v->gen == 1 || v->gen == 2) {
            sb_puts(c, b, v->gen == 1 ? "<generator object>" : "<list_reverseiterator object>");
            return;
        }
        if (v->gen) {
            tv plain = *v;
            plain.gen = 0;
            sb_puts(c, b, tv_type_name(v));
            sb_putc(c, b, '(');
            py_repr(c, b, &plain);
            sb_putc(c, b, ')');
            return;
        }
        enter(c);
        sb_putc(c, b, v->tuple ? '(' : '[');
        for (size_t i = 0; i < v->u.l->n; i++) {
            if (i) sb_put(c, b, ", ", 2);
            py_repr(c, b, &v->u.l->v[i]);
        }
        if (v->tuple && v->u.l->n == 1) sb_putc(c, b, ',');
        sb_putc(c, b, v->tuple ? ')' : ']');
        c->depth--;
        return;
    }
    case TV_DICT: case TV_NS: {
        enter(c);
        if (v->t == TV_NS) sb_puts(c, b, "<Namespace ");
        sb_putc(c, b, '{');
        for (size_t i = 0; i < v->u.d->n; i++) {
            if (i) sb_put(c, b, ", ", 2);
            py_repr(c, b, &v->u.d->k[i]);
            sb_put(c, b, ": ", 2);
            py_repr(c, b, &v->u.d->v[i]);
        }
        sb_putc(c, b, '}');
        if (v->t == TV_NS) sb_putc(c, b, '>');
        c->depth--;
        return;
    }
    case TV_FUNC:
        if (v->u.fn->kind == FN_MACRO) {
            snprintf(tmp, sizeof tmp, "<Macro '%.40s'>", v->u.fn->name ? v->u.fn->name : "caller");
            sb_puts(c, b, tmp);
        } else {
            snprintf(tmp, sizeof tmp, "<built-in method %.40s>", v->u.fn->name ? v->u.fn->name : "?");
            sb_puts(c, b, tmp);
        }
        return;
    case TV_LOOP: sb_puts(c, b, "<LoopContext>"); return;
    default: py_str(c, b, v); return;
    }
}

void py_str(rctx *c, sbuf *b, const tv *v) {
    char tmp[64];
    switch (v->t) {
    case TV_UNDEF: return;
    case TV_NONE: sb_put(c, b, "None", 4); return;
    case TV_BOOL: sb_puts(c, b, v->u.b ? "True" : "False"); return;
    case TV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i); sb_puts(c, b, tmp); return;
    case TV_FLOAT: py_float_repr(tmp, sizeof tmp, v->u.f); sb_puts(c, b, tmp); return;
    case TV_STR: sb_put(c, b, v->u.s->p, v->u.s->len); return;
    default: py_repr(c, b, v); return;
    }
}

tv tv_to_str(rctx *c, const tv *v) {
    if (v->t == TV_STR) {
        tv r = *v;
        r.markup = 0;
        return r;
    }
    sbuf b = {0};
    py_str(c, &b, v);
    return sb_value(c, &b);
}
