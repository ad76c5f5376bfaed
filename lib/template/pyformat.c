/* Python's printf-style string formatting (str % args), used by the % operator on strings and
 * by the format filter. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "template/tmpl_internal.h"

#define MAX_WIDTH 100000 /* widths and precisions beyond this are refused rather than allocated */

static void pad_to(rctx *c, sbuf *b, const char *s, size_t n, int64_t width, bool left, char fill) {
    int64_t len = (int64_t)utf8_count(s, n);
    if (!left)
        for (int64_t k = len; k < width; k++) sb_putc(c, b, fill);
    sb_put(c, b, s, n);
    if (left)
        for (int64_t k = len; k < width; k++) sb_putc(c, b, ' ');
}

tv py_percent_format(rctx *c, const tv *fmt, const tv *argv) {
    const tstr *f = fmt->u.s;
    const tv *items = NULL;
    size_t nitems = 0, next = 0;
    const tdict *mapping = NULL;
    if (argv->t == TV_LIST && argv->tuple) {
        items = argv->u.l->v;
        nitems = argv->u.l->n;
    } else {
        if (argv->t == TV_DICT) mapping = argv->u.d;
        items = argv;
        nitems = 1;
    }
    sbuf b = {0};
    size_t i = 0;
    bool used_mapping = false;
    while (i < f->len) {
        char ch = f->p[i];
        if (ch != '%') {
            size_t j = i;
            while (j < f->len && f->p[j] != '%') j++;
            sb_put(c, &b, f->p + i, j - i);
            i = j;
            continue;
        }
        i++;
        if (i >= f->len) rt_fail(c, LLM_ERR_FORMAT, "ValueError: incomplete format");
        const tv *arg = NULL;
        if (f->p[i] == '(') {
            size_t j = i + 1;
            while (j < f->len && f->p[j] != ')') j++;
            if (j >= f->len) rt_fail(c, LLM_ERR_FORMAT, "ValueError: incomplete format key");
            if (!mapping) rt_fail(c, LLM_ERR_FORMAT, "TypeError: format requires a mapping");
            tv *v = dict_get_str(c, (tdict *)mapping, f->p + i + 1, j - i - 1);
            if (!v) rt_fail(c, LLM_ERR_FORMAT, "KeyError: '%.*s'", (int)(j - i - 1 > 60 ? 60 : j - i - 1), f->p + i + 1);
            arg = v;
            used_mapping = true;
            i = j + 1;
        }
        bool left = false, zero = false, plus = false, space = false, alt = false;
        for (; i < f->len; i++) {
            char fl = f->p[i];
            if (fl == '-') left = true;
            else if (fl == '0') zero = true;
            else if (fl == '+') plus = true;
            else if (fl == ' ') space = true;
            else if (fl == '#') alt = true;
            else break;
        }
        int64_t width = 0, prec = -1;
        while (i < f->len && f->p[i] >= '0' && f->p[i] <= '9') {
            width = width * 10 + (f->p[i++] - '0');
            if (width > MAX_WIDTH) rt_fail(c, LLM_ERR_LIMIT, "format width too large");
        }
        if (i < f->len && f->p[i] == '.') {
            i++;
            prec = 0;
            while (i < f->len && f->p[i] >= '0' && f->p[i] <= '9') {
                prec = prec * 10 + (f->p[i++] - '0');
                if (prec > MAX_WIDTH) rt_fail(c, LLM_ERR_LIMIT, "format precision too large");
            }
        }
        if (i < f->len && (f->p[i] == 'h' || f->p[i] == 'l' || f->p[i] == 'L')) i++;
        if (i >= f->len) rt_fail(c, LLM_ERR_FORMAT, "ValueError: incomplete format");
        char conv = f->p[i++];
        if (conv == '%') {
            sb_putc(c, &b, '%');
            continue;
        }
        if (!arg) {
            if (mapping && nitems == 1) {
                arg = items;
            } else {
                if (next >= nitems) rt_fail(c, LLM_ERR_FORMAT, "TypeError: not enough arguments for format string");
                arg = &items[next++];
            }
        }
        char spec[64], tmp[512];
        switch (conv) {
        case 's': case 'r': case 'a': {
            sbuf s = {0};
            if (conv == 's') py_str(c, &s, arg);
            else py_repr(c, &s, arg);
            size_t n = s.len;
            if (prec >= 0) n = utf8_offset(s.p ? s.p : "", s.len, (size_t)prec);
            pad_to(c, &b, s.p ? s.p : "", n, width, left, ' ');
            break;
        }
        case 'c': {
            char cb[4];
            size_t n = 0;
            if (arg->t == TV_INT && arg->u.i >= 0 && arg->u.i <= 0x10ffff && !(arg->u.i >= 0xd800 && arg->u.i <= 0xdfff))
                n = utf8_encode((uint32_t)arg->u.i, cb);
            else if (arg->t == TV_STR && utf8_count(arg->u.s->p, arg->u.s->len) == 1) {
                memcpy(cb, arg->u.s->p, arg->u.s->len);
                n = arg->u.s->len;
            } else rt_fail(c, LLM_ERR_FORMAT, "TypeError: %%c requires an int or a unicode character");
            pad_to(c, &b, cb, n, width, left, ' ');
            break;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
            int64_t v;
            if (arg->t == TV_INT) v = arg->u.i;
            else if (arg->t == TV_BOOL) v = arg->u.b;
            else if (arg->t == TV_FLOAT && (conv == 'd' || conv == 'i' || conv == 'u')) {
                if (!isfinite(arg->u.f) || fabs(arg->u.f) >= 9.2e18) rt_fail(c, LLM_ERR_LIMIT, "integer result outside the 64-bit range");
                v = (int64_t)arg->u.f;
            } else {
                rt_fail(c, LLM_ERR_FORMAT, "TypeError: %%%c format: a real number is required, not %s", conv, tv_type_name(arg));
            }
            if (conv == 'u') conv = 'd';
            (void)tmp;
            /* digits of the magnitude (at least prec of them), sign and prefix in front, then
             * zero padding after the sign or space padding, as Python does */
            if (conv == 'i') conv = 'd';
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            char digits[40];
            snprintf(digits, sizeof digits, conv == 'd' ? "%llu" : conv == 'o' ? "%llo" : conv == 'x' ? "%llx" : "%llX",
                     (unsigned long long)mag);
            sbuf body = {0};
            sb_puts(c, &body, v < 0 ? "-" : plus ? "+" : space ? " " : "");
            if (alt && conv != 'd') sb_puts(c, &body, conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X");
            size_t head = body.len, nd = strlen(digits);
            for (int64_t k = (int64_t)nd; k < prec; k++) sb_putc(c, &body, '0');
            if (zero && !left)
                for (int64_t k = (int64_t)(body.len + nd); k < width; k++) sb_putc(c, &body, '0');
            sb_puts(c, &body, digits);
            (void)head;
            pad_to(c, &b, body.p, body.len, width, left, ' ');
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            if (!tv_is_number(arg)) rt_fail(c, LLM_ERR_FORMAT, "TypeError: must be real number, not %s", tv_type_name(arg));
            double v = tv_as_double(arg);
            if (prec > 300) rt_fail(c, LLM_ERR_LIMIT, "format precision too large");
            snprintf(spec, sizeof spec, "%%%s%s%s%s%s%lld.%lld%c", left ? "-" : "", zero ? "0" : "", plus ? "+" : "",
                     space ? " " : "", alt ? "#" : "", (long long)(width > 400 ? 0 : width), (long long)(prec < 0 ? 6 : prec), conv);
            if (width > 400) rt_fail(c, LLM_ERR_LIMIT, "format width too large");
            snprintf(tmp, sizeof tmp, spec, v);
            sb_puts(c, &b, tmp);
            break;
        }
        default:
            rt_fail(c, LLM_ERR_FORMAT, "ValueError: unsupported format character '%c'", conv >= 0x20 && conv < 0x7f ? conv : '?');
        }
    }
    if (!used_mapping && !mapping && next < nitems && !(argv->t == TV_LIST && !argv->tuple && next == 1))
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: not all arguments converted during string formatting");
    return sb_value(c, &b);
}
