/* The converter's context: one arena for everything a conversion allocates (freed at once at
 * the end, so no error path has to unwind), error records, and text helpers for GBNF literals
 * and JSON text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

/* Hostile schemas can make allOf/anyOf distribution allocate a lot; this bounds it. */
#define SCHEMA_MAX_MEMORY ((size_t)256 << 20)
#define BLOCK_SIZE ((size_t)64 << 10)

struct sblock {
    sblock *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void *sc_alloc(sctx *c, size_t n) {
    if (c->st != LLM_OK) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n > SCHEMA_MAX_MEMORY || c->mem_used + n > SCHEMA_MAX_MEMORY) {
        sc_fail(c, LLM_ERR_LIMIT, "the schema needs more than %zu MiB to convert", SCHEMA_MAX_MEMORY >> 20);
        return NULL;
    }
    sblock *b = c->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        b = malloc(sizeof *b + cap);
        if (!b) {
            sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = c->blocks;
        c->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    c->mem_used += n;
    memset(p, 0, n);
    return p;
}

char *sc_strdup(sctx *c, const char *s, size_t n) {
    char *p = sc_alloc(c, n + 1);
    if (p) {
        if (n) memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

sch *sc_node(sctx *c, skind kind) {
    if (c->st != LLM_OK) return NULL;
    if (++c->n_nodes > SCHEMA_MAX_NODES) {
        sc_fail(c, LLM_ERR_LIMIT, "the schema expands to more than %d schema nodes (allOf/anyOf combinations)",
                SCHEMA_MAX_NODES);
        return NULL;
    }
    sch *s = sc_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->types = T_ALL;
    s->max_len = -1;
    s->max_items = -1;
    s->max_props = -1;
    s->path = "";
    return s;
}

sch *sc_any(sctx *c) { return sc_node(c, SK_NODE); }

static llm_status vfail(sctx *c, const char *path, llm_status st, const char *fmt, va_list ap) {
    if (c->st != LLM_OK) return c->st; /* the first error is the one reported */
    c->st = st;
    if (c->err) {
        char msg[LLM_ERRMSG_MAX];
        vsnprintf(msg, sizeof msg, fmt, ap);
        if (path && *path) llm_err_set(c->err, st, "%s (at %s)", msg, path);
        else llm_err_set(c->err, st, "%s", msg);
    }
    return st;
}

llm_status sc_fail(sctx *c, llm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, NULL, st, fmt, ap);
    va_end(ap);
    return c->st;
}

llm_status sc_fail_at(sctx *c, const char *path, llm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, path, st, fmt, ap);
    va_end(ap);
    return c->st;
}

void sc_free(sctx *c) {
    sblock *b = c->blocks;
    while (b) {
        sblock *n = b->next;
        free(b);
        b = n;
    }
    c->blocks = NULL;
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    free(c->rules);
    free(c->body_index);
    free(c->name_index);
    free(c->defs);
    free(c->rx_cache);
    llm_buf_free(&c->path);
}

void sc_put(sctx *c, llm_buf *b, const char *s, size_t n) {
    if (c->st != LLM_OK) return;
    if (b->len + n > SCHEMA_MAX_OUTPUT) {
        sc_fail(c, LLM_ERR_LIMIT, "the grammar would exceed %u bytes", SCHEMA_MAX_OUTPUT);
        return;
    }
    if (llm_buf_append(b, s, n)) sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
}

void sc_puts(sctx *c, llm_buf *b, const char *s) { sc_put(c, b, s, strlen(s)); }

void sc_printf(sctx *c, llm_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        sc_put(c, b, tmp, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sc_put(c, b, big, (size_t)k);
    free(big);
}

size_t sc_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    unsigned c0 = p[0];
    size_t len = c0 < 0x80 ? 1 : c0 < 0xe0 ? 2 : c0 < 0xf0 ? 3 : 4;
    if (len > n || c0 >= 0xf8 || (c0 >= 0x80 && c0 < 0xc0)) { /* not valid UTF-8: one byte */
        *cp = c0;
        return 1;
    }
    uint32_t v = len == 1 ? c0 : len == 2 ? (c0 & 0x1f) : len == 3 ? (c0 & 0x0f) : (c0 & 0x07);
    for (size_t i = 1; i < len; i++) v = (v << 6) | (p[i] & 0x3f);
    *cp = v;
    return len;
}

size_t sc_utf8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) k++;
    return k;
}

/* GBNF escapes: the notation reads \xHH, \uHHHH and \UHHHHHHHH in literals and classes. */
static void put_escape(sctx *c, llm_buf *b, uint32_t cp) {
    if (cp < 0x80) sc_printf(c, b, "\\x%02X", (unsigned)cp);
    else if (cp < 0x10000) sc_printf(c, b, "\\u%04X", (unsigned)cp);
    else sc_printf(c, b, "\\U%08X", (unsigned)cp);
}

void sc_gbnf_literal(sctx *c, llm_buf *b, const char *s, size_t n) {
    sc_put(c, b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = sc_utf8_decode(s + i, n - i, &cp);
        if (cp == '"' || cp == '\\') {
            char e[2] = {'\\', (char)cp};
            sc_put(c, b, e, 2);
        } else if (cp >= 0x20 && cp < 0x7f) {
            char ch = (char)cp;
            sc_put(c, b, &ch, 1);
        } else {
            put_escape(c, b, cp);
        }
        i += k;
    }
    sc_put(c, b, "\"", 1);
}

void sc_gbnf_class_char(sctx *c, llm_buf *b, uint32_t cp) {
    bool plain = (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                 (cp < 0x7f && strchr("!#$%&'()*+,./:;<=>?@_`{|}~", (int)cp) && cp != 0);
    if (plain) {
        char ch = (char)cp;
        sc_put(c, b, &ch, 1);
    } else {
        put_escape(c, b, cp); /* also '-', '^', ']', '[', '\\', '"' */
    }
}

void sc_json_string_body(sctx *c, llm_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': sc_put(c, b, "\\\"", 2); break;
        case '\\': sc_put(c, b, "\\\\", 2); break;
        case '\n': sc_put(c, b, "\\n", 2); break;
        case '\r': sc_put(c, b, "\\r", 2); break;
        case '\t': sc_put(c, b, "\\t", 2); break;
        case '\b': sc_put(c, b, "\\b", 2); break;
        case '\f': sc_put(c, b, "\\f", 2); break;
        default:
            if (ch < 0x20) sc_printf(c, b, "\\u%04x", ch);
            else sc_put(c, b, (const char *)&s[i], 1);
        }
    }
}

/* Shortest text that reads back as the same double (Python's repr), with ".0" added to
 * integral values so that it stays a float in Python. */
static void put_double(sctx *c, llm_buf *b, double f) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0");
    sc_puts(c, b, tmp);
}

void sc_json_text(sctx *c, llm_buf *b, const llm_json *v) {
    switch (v->type) {
    case LLM_JSON_NULL: sc_puts(c, b, "null"); break;
    case LLM_JSON_TRUE: sc_puts(c, b, "true"); break;
    case LLM_JSON_FALSE: sc_puts(c, b, "false"); break;
    case LLM_JSON_INT: sc_printf(c, b, "%lld", (long long)v->u.i); break;
    case LLM_JSON_FLOAT: put_double(c, b, v->u.f); break;
    case LLM_JSON_STRING:
        sc_put(c, b, "\"", 1);
        sc_json_string_body(c, b, v->u.str.s, v->u.str.len);
        sc_put(c, b, "\"", 1);
        break;
    case LLM_JSON_ARRAY:
        sc_put(c, b, "[", 1);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i) sc_put(c, b, ",", 1);
            sc_json_text(c, b, v->u.arr.items[i]);
        }
        sc_put(c, b, "]", 1);
        break;
    case LLM_JSON_OBJECT:
        sc_put(c, b, "{", 1);
        for (size_t i = 0; i < v->u.obj.n; i++) {
            if (i) sc_put(c, b, ",", 1);
            sc_put(c, b, "\"", 1);
            sc_json_string_body(c, b, v->u.obj.members[i].key, v->u.obj.members[i].key_len);
            sc_put(c, b, "\":", 2);
            sc_json_text(c, b, v->u.obj.members[i].value);
        }
        sc_put(c, b, "}", 1);
        break;
    }
}
