/* json.dumps(x, ensure_ascii, indent, separators, sort_keys) of Python, which transformers
 * installs as the tojson filter (so no HTML escaping, unlike jinja2's own tojson). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "template/json_escape.h"
#include "template/tmpl_internal.h"

const char *llm_json_escape_byte(unsigned char c, bool ensure_ascii, char *buf) {
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: break;
    }
    if (c < 0x20 || (ensure_ascii && c == 0x7f)) {
        snprintf(buf, LLM_JSON_ESCAPE_MAX, "\\u%04x", c);
        return buf;
    }
    return NULL;
}

static void put_json_string(rctx *c, sbuf *b, const char *p, size_t n, bool ensure_ascii) {
    sb_putc(c, b, '"');
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)p[i];
        char tmp[16];
        const char *esc = llm_json_escape_byte(ch, ensure_ascii, tmp);
        if (esc) {
            sb_put(c, b, p + run, i - run);
            sb_puts(c, b, esc);
            i++;
            run = i;
            continue;
        }
        if (ch >= 0x80 && ensure_ascii) {
            sb_put(c, b, p + run, i - run);
            uint32_t cp;
            size_t k = utf8_decode(p + i, n - i, &cp);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            sb_puts(c, b, tmp);
            i += k;
            run = i;
            continue;
        }
        i++;
    }
    sb_put(c, b, p + run, i - run);
    sb_putc(c, b, '"');
}

static void put_float(rctx *c, sbuf *b, double f) {
    char tmp[64];
    if (isnan(f)) sb_puts(c, b, "NaN");
    else if (isinf(f)) sb_puts(c, b, f < 0 ? "-Infinity" : "Infinity");
    else {
        py_float_repr(tmp, sizeof tmp, f);
        sb_puts(c, b, tmp);
    }
}

static void newline_indent(rctx *c, sbuf *b, const json_opts *o, size_t level) {
    sb_putc(c, b, '\n');
    for (size_t i = 0; i < level; i++) {
        sb_put(c, b, o->indent, o->indent_len);
        rt_step(c);
    }
}

/* A dict key as json.dumps converts it: str as is, numbers/bools/None to their JSON text. */
static tv key_text(rctx *c, const tv *k) {
    char tmp[64];
    switch (k->t) {
    case TV_STR: return *k;
    case TV_BOOL: return tv_cstr(c, k->u.b ? "true" : "false");
    case TV_NONE: return tv_cstr(c, "null");
    case TV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)k->u.i); return tv_str(c, tmp, strlen(tmp));
    case TV_FLOAT: {
        sbuf b = {0};
        put_float(c, &b, k->u.f);
        return sb_value(c, &b);
    }
    default:
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: keys must be str, int, float, bool or None, not %s", tv_type_name(k));
    }
}

static void dumps(rctx *c, sbuf *b, const tv *v, const json_opts *o, size_t level);

static void dump_dict(rctx *c, sbuf *b, const tdict *d, const json_opts *o, size_t level) {
    if (d->n == 0) {
        sb_put(c, b, "{}", 2);
        return;
    }
    size_t *order = rt_alloc(c, d->n * sizeof(size_t));
    tv *keys = rt_alloc(c, d->n * sizeof(tv));
    for (size_t i = 0; i < d->n; i++) {
        order[i] = i;
        keys[i] = key_text(c, &d->k[i]);
    }
    if (o->sort_keys) {
        /* insertion sort is enough for chat-sized dicts; steps bound the worst case */
        for (size_t i = 1; i < d->n; i++) {
            size_t x = order[i], j = i;
            while (j > 0) {
                rt_step(c);
                if (d->k[order[j - 1]].t != TV_STR || d->k[x].t != TV_STR) {
                    if (tv_cmp(c, &d->k[order[j - 1]], &d->k[x]) <= 0) break;
                } else if (tv_cmp(c, &keys[order[j - 1]], &keys[x]) <= 0) {
                    break;
                }
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
    }
    sb_putc(c, b, '{');
    for (size_t i = 0; i < d->n; i++) {
        size_t at = order[i];
        if (i) sb_put(c, b, o->item_sep, o->item_sep_len);
        if (o->has_indent) newline_indent(c, b, o, level + 1);
        put_json_string(c, b, keys[at].u.s->p, keys[at].u.s->len, o->ensure_ascii);
        sb_put(c, b, o->key_sep, o->key_sep_len);
        dumps(c, b, &d->v[at], o, level + 1);
    }
    if (o->has_indent) newline_indent(c, b, o, level);
    sb_putc(c, b, '}');
}

static void dumps(rctx *c, sbuf *b, const tv *v, const json_opts *o, size_t level) {
    char tmp[64];
    rt_step(c);
    switch (v->t) {
    case TV_NONE: sb_puts(c, b, "null"); return;
    case TV_BOOL: sb_puts(c, b, v->u.b ? "true" : "false"); return;
    case TV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i); sb_puts(c, b, tmp); return;
    case TV_FLOAT: put_float(c, b, v->u.f); return;
    case TV_STR: put_json_string(c, b, v->u.s->p, v->u.s->len, o->ensure_ascii); return;
    case TV_LIST: {
        if (v->gen) rt_fail(c, LLM_ERR_FORMAT, "TypeError: Object of type %s is not JSON serializable", tv_type_name(v));
        if (++c->depth > c->value_depth_max) rt_fail(c, LLM_ERR_LIMIT, "values nested deeper than max_depth");
        if (v->u.l->n == 0) {
            sb_put(c, b, "[]", 2);
        } else {
            sb_putc(c, b, '[');
            for (size_t i = 0; i < v->u.l->n; i++) {
                if (i) sb_put(c, b, o->item_sep, o->item_sep_len);
                if (o->has_indent) newline_indent(c, b, o, level + 1);
                dumps(c, b, &v->u.l->v[i], o, level + 1);
            }
            if (o->has_indent) newline_indent(c, b, o, level);
            sb_putc(c, b, ']');
        }
        c->depth--;
        return;
    }
    case TV_DICT:
        if (++c->depth > c->value_depth_max) rt_fail(c, LLM_ERR_LIMIT, "values nested deeper than max_depth");
        dump_dict(c, b, v->u.d, o, level);
        c->depth--;
        return;
    default:
        rt_fail(c, LLM_ERR_FORMAT, "TypeError: Object of type %s is not JSON serializable", tv_type_name(v));
    }
}

void json_dumps(rctx *c, sbuf *b, const tv *v, const json_opts *o) { dumps(c, b, v, o, 0); }
