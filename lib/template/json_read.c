/* JSON reader: a recursive descent parser with a depth bound, allocating from one pool. */
#include "template/json_read.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

struct llm_json_doc {
    tmpl_arena arena;
};

typedef struct jp {
    const char *s;
    size_t n, pos;
    size_t depth, max_depth;
    llm_json_doc *doc;
    llm_status st;
    char *msg;
    size_t msg_cap;
    /* scratch for building arrays/objects: a stack of pointers shared by all levels */
    void **stack;
    size_t stack_len, stack_cap;
} jp;

static bool jfail(jp *p, llm_status st, const char *fmt, ...) {
    if (p->st != LLM_OK) return false;
    p->st = st;
    if (p->msg && p->msg_cap) {
        int k = snprintf(p->msg, p->msg_cap, "offset %zu: ", p->pos);
        if (k >= 0 && (size_t)k < p->msg_cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->msg + k, p->msg_cap - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return false;
}

static void *jalloc(jp *p, size_t n) {
    bool over;
    void *r = arena_alloc(&p->doc->arena, n, &over);
    if (!r) jfail(p, over ? LLM_ERR_LIMIT : LLM_ERR_OUT_OF_MEMORY, over ? "JSON larger than the memory limit" : "out of memory");
    return r;
}

static bool push(jp *p, void *v) {
    if (p->stack_len == p->stack_cap) {
        size_t nc = p->stack_cap ? p->stack_cap * 2 : 64;
        void **ns = realloc(p->stack, nc * sizeof(void *));
        if (!ns) return jfail(p, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        p->stack = ns;
        p->stack_cap = nc;
    }
    p->stack[p->stack_len++] = v;
    return true;
}

static void skip_ws(jp *p) {
    while (p->pos < p->n) {
        char ch = p->s[p->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
        p->pos++;
    }
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool read_hex4(jp *p, uint32_t *out) {
    if (p->n - p->pos < 4) return jfail(p, LLM_ERR_FORMAT, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->pos + (size_t)k]);
        if (h < 0) return jfail(p, LLM_ERR_FORMAT, "bad \\u escape");
        v = v * 16 + (uint32_t)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* Reads a string (p->pos at the opening quote) into the pool. The decoded text is never longer
 * than the source, which bounds the allocation. */
static bool read_string(jp *p, const char **out, size_t *out_len) {
    p->pos++;
    size_t start = p->pos, end = start;
    bool plain = true;
    while (end < p->n && p->s[end] != '"') {
        if (p->s[end] == '\\') { plain = false; end++; }
        end++;
    }
    if (end >= p->n) return jfail(p, LLM_ERR_FORMAT, "unterminated string");
    char *buf = jalloc(p, end - start + 1);
    if (!buf) return false;
    size_t k = 0;
    if (plain) {
        for (size_t i = start; i < end; i++)
            if ((unsigned char)p->s[i] < 0x20) { p->pos = i; return jfail(p, LLM_ERR_FORMAT, "control character in string"); }
        memcpy(buf, p->s + start, end - start);
        k = end - start;
        p->pos = end + 1;
    } else {
        while (p->s[p->pos] != '"') {
            unsigned char ch = (unsigned char)p->s[p->pos];
            if (ch < 0x20) return jfail(p, LLM_ERR_FORMAT, "control character in string");
            if (ch != '\\') { buf[k++] = (char)ch; p->pos++; continue; }
            p->pos++;
            char e = p->s[p->pos++];
            switch (e) {
            case '"': buf[k++] = '"'; break;
            case '\\': buf[k++] = '\\'; break;
            case '/': buf[k++] = '/'; break;
            case 'b': buf[k++] = '\b'; break;
            case 'f': buf[k++] = '\f'; break;
            case 'n': buf[k++] = '\n'; break;
            case 'r': buf[k++] = '\r'; break;
            case 't': buf[k++] = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (!read_hex4(p, &cp)) return false;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (p->n - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return jfail(p, LLM_ERR_FORMAT, "lone surrogate in \\u escape");
                    p->pos += 2;
                    if (!read_hex4(p, &lo)) return false;
                    if (lo < 0xdc00 || lo > 0xdfff) return jfail(p, LLM_ERR_FORMAT, "lone surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return jfail(p, LLM_ERR_FORMAT, "lone surrogate in \\u escape");
                }
                /* 6 or 12 source bytes always cover the at most 4 bytes of UTF-8 */
                k += utf8_encode(cp, buf + k);
                break;
            }
            default:
                p->pos--;
                return jfail(p, LLM_ERR_FORMAT, "bad escape");
            }
        }
        p->pos++;
    }
    buf[k] = 0;
    *out = buf;
    *out_len = k;
    return true;
}

static bool match_word(jp *p, const char *w) {
    size_t l = strlen(w);
    if (p->n - p->pos >= l && memcmp(p->s + p->pos, w, l) == 0) {
        p->pos += l;
        return true;
    }
    return false;
}

static llm_json *new_node(jp *p, llm_json_type t) {
    llm_json *v = jalloc(p, sizeof(llm_json));
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = t;
    }
    return v;
}

static llm_json *read_number(jp *p) {
    size_t start = p->pos;
    bool is_float = false;
    if (p->pos < p->n && p->s[p->pos] == '-') p->pos++;
    if (match_word(p, "Infinity")) {
        llm_json *v = new_node(p, LLM_JSON_FLOAT);
        if (v) v->u.f = p->s[start] == '-' ? -INFINITY : INFINITY;
        return v;
    }
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') { jfail(p, LLM_ERR_FORMAT, "bad number"); return NULL; }
    if (p->s[p->pos] == '0') p->pos++;
    else while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (p->pos + 1 < p->n && p->s[p->pos] == '.' && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9') {
        is_float = true;
        p->pos++;
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t save = p->pos;
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            is_float = true;
            while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        } else {
            p->pos = save; /* Python stops the number before a bare 'e' (then fails on it) */
        }
    }
    size_t len = p->pos - start;
    char tmp[64];
    char *num = tmp;
    if (len >= sizeof tmp) {
        num = jalloc(p, len + 1);
        if (!num) return NULL;
    }
    memcpy(num, p->s + start, len);
    num[len] = 0;
    llm_json *v = new_node(p, is_float ? LLM_JSON_FLOAT : LLM_JSON_INT);
    if (!v) return NULL;
    if (is_float) {
        v->u.f = strtod(num, NULL);
    } else {
        int64_t acc = 0;
        bool neg = num[0] == '-';
        for (const char *q = num + neg; *q; q++) {
            int d = *q - '0';
            if (__builtin_mul_overflow(acc, 10, &acc) || __builtin_sub_overflow(acc, d, &acc)) {
                jfail(p, LLM_ERR_LIMIT, "integer outside the 64-bit range");
                return NULL;
            }
        }
        if (!neg) {
            if (acc == INT64_MIN) { jfail(p, LLM_ERR_LIMIT, "integer outside the 64-bit range"); return NULL; }
            acc = -acc;
        }
        v->u.i = acc;
    }
    return v;
}

static llm_json *read_value(jp *p);

/* Finds a key among the first n members (hash table for big objects). */
typedef struct keyidx {
    uint32_t *slots;
    size_t cap;
} keyidx;

static uint64_t key_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static llm_json *read_object(jp *p) {
    p->pos++;
    size_t base = p->stack_len;
    size_t count = 0;
    keyidx ki = {0};
    llm_json_member *members = NULL;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') { jfail(p, LLM_ERR_FORMAT, "expected a string key"); goto fail; }
            llm_json_member *m = jalloc(p, sizeof *m);
            if (!m || !read_string(p, &m->key, &m->key_len)) goto fail;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') { jfail(p, LLM_ERR_FORMAT, "expected ':'"); goto fail; }
            p->pos++;
            m->value = read_value(p);
            if (!m->value) goto fail;
            /* duplicate key: replace the value at the first position */
            bool dup = false;
            if (count >= 8 && !ki.slots) {
                ki.cap = 64;
                while (ki.cap < count * 4) ki.cap *= 2;
                ki.slots = malloc(ki.cap * sizeof(uint32_t));
                if (!ki.slots) { jfail(p, LLM_ERR_OUT_OF_MEMORY, "out of memory"); goto fail; }
                memset(ki.slots, 0xff, ki.cap * sizeof(uint32_t));
                for (size_t i = 0; i < count; i++) {
                    llm_json_member *o = p->stack[base + i];
                    size_t h = key_hash(o->key, o->key_len) & (ki.cap - 1);
                    while (ki.slots[h] != UINT32_MAX) h = (h + 1) & (ki.cap - 1);
                    ki.slots[h] = (uint32_t)i;
                }
            }
            if (ki.slots) {
                size_t h = key_hash(m->key, m->key_len) & (ki.cap - 1);
                while (ki.slots[h] != UINT32_MAX) {
                    llm_json_member *o = p->stack[base + ki.slots[h]];
                    if (o->key_len == m->key_len && memcmp(o->key, m->key, m->key_len) == 0) {
                        o->value = m->value;
                        dup = true;
                        break;
                    }
                    h = (h + 1) & (ki.cap - 1);
                }
                if (!dup) {
                    if (count >= UINT32_MAX - 1) { jfail(p, LLM_ERR_LIMIT, "object too large"); goto fail; }
                    ki.slots[h] = (uint32_t)count;
                }
            } else {
                for (size_t i = 0; i < count; i++) {
                    llm_json_member *o = p->stack[base + i];
                    if (o->key_len == m->key_len && memcmp(o->key, m->key, m->key_len) == 0) {
                        o->value = m->value;
                        dup = true;
                        break;
                    }
                }
            }
            if (!dup) {
                if (!push(p, m)) goto fail;
                count++;
                if (ki.slots && count * 2 > ki.cap) { /* grow: rebuild on next member */
                    free(ki.slots);
                    ki.slots = NULL;
                }
            }
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; break; }
            jfail(p, LLM_ERR_FORMAT, "expected ',' or '}'");
            goto fail;
        }
    }
    free(ki.slots);
    ki.slots = NULL;
    llm_json *v = new_node(p, LLM_JSON_OBJECT);
    if (!v) goto fail;
    if (count) {
        members = jalloc(p, count * sizeof *members);
        if (!members) goto fail;
        for (size_t i = 0; i < count; i++) members[i] = *(llm_json_member *)p->stack[base + i];
    }
    v->u.obj.members = members;
    v->u.obj.n = count;
    p->stack_len = base;
    return v;
fail:
    free(ki.slots);
    p->stack_len = base;
    return NULL;
}

static llm_json *read_array(jp *p) {
    p->pos++;
    size_t base = p->stack_len;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            llm_json *item = read_value(p);
            if (!item || !push(p, item)) goto fail;
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->n && p->s[p->pos] == ']') { p->pos++; break; }
            jfail(p, LLM_ERR_FORMAT, "expected ',' or ']'");
            goto fail;
        }
    }
    size_t count = p->stack_len - base;
    llm_json *v = new_node(p, LLM_JSON_ARRAY);
    if (!v) goto fail;
    if (count) {
        v->u.arr.items = jalloc(p, count * sizeof(llm_json *));
        if (!v->u.arr.items) goto fail;
        memcpy(v->u.arr.items, p->stack + base, count * sizeof(llm_json *));
    }
    v->u.arr.n = count;
    p->stack_len = base;
    return v;
fail:
    p->stack_len = base;
    return NULL;
}

static llm_json *read_value(jp *p) {
    skip_ws(p);
    if (p->pos >= p->n) { jfail(p, LLM_ERR_FORMAT, "unexpected end of input"); return NULL; }
    char ch = p->s[p->pos];
    if (ch == '{' || ch == '[') {
        if (++p->depth > p->max_depth) { jfail(p, LLM_ERR_LIMIT, "JSON nested deeper than max_depth"); return NULL; }
        llm_json *v = ch == '{' ? read_object(p) : read_array(p);
        p->depth--;
        return v;
    }
    if (ch == '"') {
        llm_json *v = new_node(p, LLM_JSON_STRING);
        if (!v || !read_string(p, &v->u.str.s, &v->u.str.len)) return NULL;
        return v;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) return read_number(p);
    if (match_word(p, "null")) return new_node(p, LLM_JSON_NULL);
    if (match_word(p, "true")) return new_node(p, LLM_JSON_TRUE);
    if (match_word(p, "false")) return new_node(p, LLM_JSON_FALSE);
    if (match_word(p, "NaN")) {
        llm_json *v = new_node(p, LLM_JSON_FLOAT);
        if (v) v->u.f = NAN;
        return v;
    }
    if (match_word(p, "Infinity")) {
        llm_json *v = new_node(p, LLM_JSON_FLOAT);
        if (v) v->u.f = INFINITY;
        return v;
    }
    jfail(p, LLM_ERR_FORMAT, "unexpected character");
    return NULL;
}

llm_status llm_json_parse(const char *src, size_t len, size_t max_depth, size_t max_bytes, llm_json_doc **doc,
                          const llm_json **root, char *message, size_t message_cap) {
    if (message && message_cap) message[0] = 0;
    if (!doc || !root || (!src && len)) return LLM_ERR_INVALID_ARGUMENT;
    *doc = NULL;
    *root = NULL;
    if (!utf8_valid(src, len)) {
        if (message && message_cap) snprintf(message, message_cap, "invalid UTF-8");
        return LLM_ERR_INVALID_UTF8;
    }
    llm_json_doc *d = calloc(1, sizeof *d);
    if (!d) return LLM_ERR_OUT_OF_MEMORY;
    d->arena.limit = max_bytes ? max_bytes : ((size_t)64 << 20);
    jp p = {.s = src ? src : "", .n = len, .max_depth = max_depth ? max_depth : 64, .doc = d,
            .st = LLM_OK, .msg = message, .msg_cap = message_cap};
    llm_json *v = read_value(&p);
    if (v) {
        skip_ws(&p);
        if (p.pos != p.n) jfail(&p, LLM_ERR_FORMAT, "extra data after the value");
    }
    free(p.stack);
    if (p.st != LLM_OK) {
        llm_json_doc_free(d);
        return p.st;
    }
    *doc = d;
    *root = v;
    return LLM_OK;
}

void llm_json_doc_free(llm_json_doc *doc) {
    if (!doc) return;
    arena_free_all(&doc->arena);
    free(doc);
}
