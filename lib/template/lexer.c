/* Lexer with jinja2 3.1's rules for the transformers environment:
 *  - newlines (\r\n, \r) become \n and one trailing newline is dropped (keep_trailing_newline off);
 *  - trim_blocks: the newline right after a block or comment tag is dropped;
 *  - lstrip_blocks: spaces and tabs before a block/comment tag at the start of a line are dropped;
 *  - '{%-' strips all whitespace before, '-%}' all after; '{%+' and '+%}' disable the above;
 *  - inside a tag, the end marker is only recognized when no bracket is open. */
#include "template/lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lx {
    tmpl_arena *a;
    const char *s;
    size_t n;
    token *toks;
    size_t ntok, cap;
    tmpl_err *err;
    size_t line_pos, line, line_start; /* cursor for positions */
    char *brackets;
    size_t nbr, max_br;
} lx;

static void pos_of(lx *L, size_t pos, uint32_t *line, uint32_t *col) {
    if (pos < L->line_pos) { L->line_pos = 0; L->line = 1; L->line_start = 0; }
    for (size_t i = L->line_pos; i < pos && i < L->n; i++)
        if (L->s[i] == '\n') { L->line++; L->line_start = i + 1; }
    L->line_pos = pos;
    *line = (uint32_t)(L->line > UINT32_MAX ? UINT32_MAX : L->line);
    size_t c = utf8_count(L->s + L->line_start, pos - L->line_start) + 1;
    *col = (uint32_t)(c > UINT32_MAX ? UINT32_MAX : c);
}

static bool lfail(lx *L, llm_status st, size_t pos, const char *fmt, ...) {
    uint32_t line, col;
    pos_of(L, pos, &line, &col);
    L->err->status = st;
    int k = snprintf(L->err->msg, sizeof L->err->msg, "line %u, column %u: ", line, col);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof L->err->msg) vsnprintf(L->err->msg + k, sizeof L->err->msg - (size_t)k, fmt, ap);
    va_end(ap);
    return false;
}

static void *lalloc(lx *L, size_t n) {
    bool over;
    void *p = arena_alloc(L->a, n, &over);
    if (!p) {
        L->err->status = over ? LLM_ERR_LIMIT : LLM_ERR_OUT_OF_MEMORY;
        snprintf(L->err->msg, sizeof L->err->msg, over ? "template larger than max_memory" : "out of memory");
    }
    return p;
}

static token *emit(lx *L, tok_type t, size_t pos) {
    if (L->ntok == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        token *nt = lalloc(L, nc * sizeof(token));
        if (!nt) return NULL;
        if (L->ntok) memcpy(nt, L->toks, L->ntok * sizeof(token));
        L->toks = nt;
        L->cap = nc;
    }
    token *t0 = &L->toks[L->ntok++];
    memset(t0, 0, sizeof *t0);
    t0->type = (uint8_t)t;
    pos_of(L, pos, &t0->line, &t0->col);
    return t0;
}

/* length of the Unicode whitespace character at pos, or 0 */
static size_t space_at(const lx *L, size_t pos) {
    if (pos >= L->n) return 0;
    uint32_t cp;
    size_t k = utf8_decode(L->s + pos, L->n - pos, &cp);
    return py_isspace_cp(cp) ? k : 0;
}

static size_t skip_spaces(const lx *L, size_t pos) {
    size_t k;
    while ((k = space_at(L, pos)) != 0) pos += k;
    return pos;
}

/* Is text[from..to) non-empty and all whitespace? */
static bool all_space(const lx *L, size_t from, size_t to) {
    if (from >= to) return false;
    return skip_spaces(L, from) >= to;
}

/* Start of trailing whitespace of [from, to) (Python str.rstrip). */
static size_t rstrip_pos(const lx *L, size_t from, size_t to) {
    size_t end = to, i = from, last_non = from;
    while (i < end) {
        size_t k = space_at(L, i);
        if (k) { i += k; continue; }
        uint32_t cp;
        i += utf8_decode(L->s + i, end - i, &cp);
        last_non = i;
    }
    return last_non;
}

/* Emits the data before a tag, applying '-' or lstrip_blocks (OptionalLStrip in jinja2). */
static bool emit_text(lx *L, size_t from, size_t to, char sign, bool lstrip_ok, bool line_starting) {
    if (sign == '-') {
        to = rstrip_pos(L, from, to);
    } else if (sign != '+' && lstrip_ok) {
        size_t l_pos = from;
        for (size_t i = to; i > from; i--)
            if (L->s[i - 1] == '\n') { l_pos = i; break; }
        if ((l_pos > from || line_starting) && all_space(L, l_pos, to)) to = l_pos;
    }
    if (to > from) {
        token *t = emit(L, TK_DATA, from);
        if (!t) return false;
        t->p = L->s + from;
        t->len = to - from;
    }
    return true;
}

static bool starts(const lx *L, size_t pos, const char *w) {
    size_t l = strlen(w);
    return L->n - pos >= l && pos <= L->n && memcmp(L->s + pos, w, l) == 0;
}

/* Matches `{%[-+]? \s* word \s* (-%}\s* | +%} | %}\n?)` at pos (allow_plus_end/trim for endraw).
 * Returns the end position or 0; *sign gets the opening marker. */
static size_t match_raw_tag(const lx *L, size_t pos, const char *word, bool is_end, char *sign) {
    if (!starts(L, pos, "{%")) return 0;
    size_t q = pos + 2;
    *sign = 0;
    if (q < L->n && (L->s[q] == '-' || L->s[q] == '+')) *sign = L->s[q++];
    q = skip_spaces(L, q);
    if (!starts(L, q, word)) return 0;
    q = skip_spaces(L, q + strlen(word));
    if (starts(L, q, "-%}")) return skip_spaces(L, q + 3);
    if (is_end && starts(L, q, "+%}")) return q + 3;
    if (starts(L, q, "%}")) {
        q += 2;
        if (is_end && q < L->n && L->s[q] == '\n') q++;
        return q;
    }
    return 0;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_name_start(const lx *L, size_t pos) {
    unsigned char ch = (unsigned char)L->s[pos];
    if (ch < 0x80) return ch == '_' || ((ch | 32) >= 'a' && (ch | 32) <= 'z');
    uint32_t cp;
    utf8_decode(L->s + pos, L->n - pos, &cp);
    return cp_isalpha(cp);
}
static size_t name_char_len(const lx *L, size_t pos) {
    if (pos >= L->n) return 0;
    unsigned char ch = (unsigned char)L->s[pos];
    if (ch < 0x80) return (ch == '_' || is_digit((char)ch) || ((ch | 32) >= 'a' && (ch | 32) <= 'z')) ? 1 : 0;
    uint32_t cp;
    size_t k = utf8_decode(L->s + pos, L->n - pos, &cp);
    return (cp_isalpha(cp) || cp_isdigit(cp)) ? k : 0;
}

/* digits with single '_' separators: returns end or pos when none */
static size_t scan_digits(const lx *L, size_t pos) {
    if (pos >= L->n || !is_digit(L->s[pos])) return pos;
    size_t q = pos;
    while (q < L->n && is_digit(L->s[q])) q++;
    while (q + 1 < L->n && L->s[q] == '_' && is_digit(L->s[q + 1])) {
        q++;
        while (q < L->n && is_digit(L->s[q])) q++;
    }
    return q;
}

static int hexv(char ch) {
    if (is_digit(ch)) return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes a string literal body [from, to) with Python's unicode-escape rules. */
static bool decode_string(lx *L, size_t from, size_t to, token *t) {
    char *out = lalloc(L, to - from + 1);
    if (!out) return false;
    size_t k = 0, i = from;
    while (i < to) {
        char ch = L->s[i];
        if (ch != '\\') { out[k++] = ch; i++; continue; }
        size_t esc = i;
        i++;
        char e = L->s[i++]; /* the regex guarantees a character after '\' */
        uint32_t cp;
        int want = 0;
        switch (e) {
        case '\n': continue;
        case '\\': out[k++] = '\\'; continue;
        case '\'': out[k++] = '\''; continue;
        case '"': out[k++] = '"'; continue;
        case 'a': out[k++] = '\a'; continue;
        case 'b': out[k++] = '\b'; continue;
        case 'f': out[k++] = '\f'; continue;
        case 'n': out[k++] = '\n'; continue;
        case 'r': out[k++] = '\r'; continue;
        case 't': out[k++] = '\t'; continue;
        case 'v': out[k++] = '\v'; continue;
        case 'x': want = 2; break;
        case 'u': want = 4; break;
        case 'U': want = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int d = 0; d < 2 && i < to && L->s[i] >= '0' && L->s[i] <= '7'; d++) cp = cp * 8 + (uint32_t)(L->s[i++] - '0');
                k += utf8_encode(cp, out + k);
                continue;
            }
            if (e == 'N') return lfail(L, LLM_ERR_FORMAT, esc, "\\N{...} escapes are not supported");
            out[k++] = '\\';
            i--; /* unknown escape: kept as is */
            continue;
        }
        cp = 0;
        for (int d = 0; d < want; d++) {
            int h = i < to ? hexv(L->s[i]) : -1;
            if (h < 0) return lfail(L, LLM_ERR_FORMAT, esc, "truncated \\%c escape in string", e);
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return lfail(L, LLM_ERR_FORMAT, esc, "escape gives an invalid code point");
        /* every escape is at least as long as its UTF-8 encoding */
        k += utf8_encode(cp, out + k);
    }
    out[k] = 0;
    t->p = out;
    t->len = k;
    return true;
}

/* Lexes the inside of a tag from pos; kind '%' or '{'. Returns the position after its end. */
static bool lex_tag(lx *L, size_t pos, char kind, size_t *end_out, bool *ends_newline) {
    L->nbr = 0;
    for (;;) {
        if (pos >= L->n) return lfail(L, LLM_ERR_FORMAT, pos, "unexpected end of template, expected '%s'", kind == '%' ? "%}" : "}}");
        if (L->nbr == 0) {
            size_t e = 0;
            if (kind == '%') {
                if (starts(L, pos, "-%}")) e = skip_spaces(L, pos + 3);
                else if (starts(L, pos, "+%}")) e = pos + 3;
                else if (starts(L, pos, "%}")) { e = pos + 2; if (e < L->n && L->s[e] == '\n') e++; }
            } else {
                if (starts(L, pos, "-}}")) e = skip_spaces(L, pos + 3);
                else if (starts(L, pos, "}}")) e = pos + 2;
            }
            if (e) {
                if (!emit(L, kind == '%' ? TK_BLOCK_END : TK_VAR_END, pos)) return false;
                *end_out = e;
                *ends_newline = L->s[e - 1] == '\n';
                return true;
            }
        }
        size_t sp = space_at(L, pos);
        if (sp) { pos = skip_spaces(L, pos); continue; }
        char ch = L->s[pos];
        if (is_digit(ch)) {
            size_t q = scan_digits(L, pos);
            size_t fe = 0;
            bool prev_dot = pos > 0 && L->s[pos - 1] == '.';
            if (!prev_dot) {
                size_t r = q;
                if (r + 1 < L->n && L->s[r] == '.' && is_digit(L->s[r + 1])) r = scan_digits(L, r + 1);
                size_t after_frac = r;
                if (r < L->n && (L->s[r] == 'e' || L->s[r] == 'E')) {
                    size_t x = r + 1;
                    if (x < L->n && (L->s[x] == '+' || L->s[x] == '-')) x++;
                    size_t y = scan_digits(L, x);
                    if (y > x) r = y;
                }
                if (r > q && (r != after_frac || after_frac > q)) fe = r;
            }
            char buf[128];
            size_t bl = 0;
            size_t end = fe ? fe : q;
            for (size_t i = pos; i < end && bl + 1 < sizeof buf; i++)
                if (L->s[i] != '_') buf[bl++] = L->s[i];
            buf[bl] = 0;
            token *t = emit(L, fe ? TK_FLOAT : TK_INT, pos);
            if (!t) return false;
            if (fe) {
                t->f = strtod(buf, NULL);
            } else {
                int64_t v = 0;
                for (size_t i = 0; i < bl; i++)
                    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[i] - '0', &v) || bl + 1 >= sizeof buf)
                        return lfail(L, LLM_ERR_LIMIT, pos, "integer literal outside the 64-bit range");
                t->i = v;
            }
            pos = end;
            continue;
        }
        if (is_name_start(L, pos)) {
            size_t q = pos, k;
            while ((k = name_char_len(L, q)) != 0) q += k;
            token *t = emit(L, TK_NAME, pos);
            if (!t) return false;
            t->p = L->s + pos;
            t->len = q - pos;
            pos = q;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            size_t q = pos + 1;
            while (q < L->n && L->s[q] != ch) q += (L->s[q] == '\\' && q + 1 < L->n) ? 2 : 1;
            if (q >= L->n) return lfail(L, LLM_ERR_FORMAT, pos, "unterminated string");
            token *t = emit(L, TK_STRING, pos);
            if (!t || !decode_string(L, pos + 1, q, t)) return false;
            pos = q + 1;
            continue;
        }
        static const char *const two[] = {"//", "**", "==", "!=", "<=", ">="};
        static const char two_op[] = {OP_FLOORDIV, OP_POW, OP_EQ, OP_NE, OP_LE, OP_GE};
        int op = 0;
        size_t oplen = 0;
        for (size_t k = 0; k < 6; k++)
            if (starts(L, pos, two[k])) { op = two_op[k]; oplen = 2; break; }
        if (!op && strchr("+-/*%~[](){}<>=.:|,;", ch) && ch) { op = ch; oplen = 1; }
        if (!op) return lfail(L, LLM_ERR_FORMAT, pos, "unexpected character '%c'", ch >= 0x20 && ch < 0x7f ? ch : '?');
        if (op == '(' || op == '[' || op == '{') {
            if (L->nbr >= L->max_br) return lfail(L, LLM_ERR_LIMIT, pos, "brackets nested deeper than max_depth");
            L->brackets[L->nbr++] = op == '(' ? ')' : op == '[' ? ']' : '}';
        } else if (op == ')' || op == ']' || op == '}') {
            if (L->nbr == 0) return lfail(L, LLM_ERR_FORMAT, pos, "unexpected '%c'", op);
            if (L->brackets[L->nbr - 1] != op)
                return lfail(L, LLM_ERR_FORMAT, pos, "unexpected '%c', expected '%c'", op, L->brackets[L->nbr - 1]);
            L->nbr--;
        }
        token *t = emit(L, TK_OP, pos);
        if (!t) return false;
        t->op = (uint8_t)op;
        pos += oplen;
    }
}

bool tmpl_lex(tmpl_arena *a, const char *src, size_t len, size_t max_depth, lex_result *out, tmpl_err *err) {
    lx L = {.a = a, .err = err, .line = 1};
    /* normalize newlines; drop one trailing newline */
    char *s = lalloc(&L, len + 1);
    if (!s) return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    L.s = s;
    L.n = n;
    L.max_br = max_depth * TMPL_EXPR_DEPTH_FACTOR;
    L.brackets = lalloc(&L, L.max_br + 1);
    if (!L.brackets) return false;
    size_t pos = 0;
    bool line_starting = true;
    while (pos < n) {
        size_t p = pos;
        while (p + 1 < n && !(s[p] == '{' && (s[p + 1] == '%' || s[p + 1] == '{' || s[p + 1] == '#'))) p++;
        if (p + 1 >= n) {
            token *t = emit(&L, TK_DATA, pos);
            if (!t) return false;
            t->p = s + pos;
            t->len = n - pos;
            break;
        }
        char kind = s[p + 1];
        size_t q = p + 2;
        char sign = 0;
        if (q < n && (s[q] == '-' || s[q] == '+')) sign = s[q++];
        char rsign;
        size_t raw_end = kind == '%' ? match_raw_tag(&L, p, "raw", false, &rsign) : 0;
        if (!emit_text(&L, pos, p, sign, kind != '{', line_starting)) return false;
        if ((kind == '#' && q >= n) || (raw_end && raw_end >= n)) break; /* jinja2 stops at the end */
        if (kind == '#') {
            size_t i = q, e = 0;
            for (; i + 1 < n; i++) {
                if (starts(&L, i, "+#}")) { e = i + 3; break; }
                if (starts(&L, i, "-#}")) { e = skip_spaces(&L, i + 3); break; }
                if (starts(&L, i, "#}")) { e = i + 2; if (e < n && s[e] == '\n') e++; break; }
            }
            if (!e) return lfail(&L, LLM_ERR_FORMAT, p, "missing end of comment tag");
            line_starting = s[e - 1] == '\n';
            pos = e;
            continue;
        }
        if (raw_end) {
            bool ls = s[raw_end - 1] == '\n';
            size_t i = raw_end, e = 0;
            char esign = 0;
            for (; i + 1 < n; i++)
                if (s[i] == '{' && s[i + 1] == '%' && (e = match_raw_tag(&L, i, "endraw", true, &esign)) != 0) break;
            if (!e) return lfail(&L, LLM_ERR_FORMAT, p, "missing end of raw directive");
            if (!emit_text(&L, raw_end, i, esign, true, ls)) return false;
            line_starting = s[e - 1] == '\n';
            pos = e;
            continue;
        }
        if (!emit(&L, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, p)) return false;
        size_t e = 0;
        if (!lex_tag(&L, q, kind, &e, &line_starting)) return false;
        pos = e;
    }
    if (!emit(&L, TK_EOF, n)) return false;
    out->toks = L.toks;
    out->n = L.ntok;
    return true;
}
