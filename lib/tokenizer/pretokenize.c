/* Hand-written pre-tokenizers: each reproduces one split pattern of the reference tokenizers
 * as a matcher over code points, trying the pattern's alternatives in order (leftmost-first,
 * as a backtracking regex engine does). Adding a pre-tokenizer = one function + one table row. */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

int tok_is_space(uint32_t c) {
    /* Unicode White_Space, which is what \s matches in the reference engines */
    if (c >= 0x09 && c <= 0x0D) return 1;
    if (c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680) return 1;
    if (c >= 0x2000 && c <= 0x200A) return 1;
    return c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int tok_is_letter(uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return 1;
    default:
        return 0;
    }
}

int tok_is_number(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int is_other(uint32_t c) { /* [^\s\p{L}\p{N}] */
    return !tok_is_space(c) && !tok_is_letter(c) && !tok_is_number(c);
}

static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

static uint32_t fold(uint32_t c, int icase) {
    if (!icase) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x017F) return 's'; /* LATIN SMALL LETTER LONG S folds to s */
    if (c == 0x212A) return 'k'; /* KELVIN SIGN folds to k */
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d (optionally case-insensitive): length matched or 0. */
static size_t match_contraction(const uint32_t *s, size_t n, size_t i, int icase) {
    if (s[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = fold(s[i + 1], icase);
    uint32_t b = i + 2 < n ? fold(s[i + 2], icase) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t run(const uint32_t *s, size_t n, size_t i, int (*pred)(uint32_t)) {
    while (i < n && pred(s[i])) i++;
    return i;
}

/* \s+(?!\S) then \s+ at a whitespace position i: end of the match. */
static size_t match_space_tail(const uint32_t *s, size_t n, size_t i) {
    size_t e = run(s, n, i, tok_is_space);
    if (e == n) return e;    /* (?!\S) holds at the end */
    if (e - i >= 2) return e - 1; /* leave the last space to the next piece */
    return e;                /* \s+ alone */
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t pre_gpt2(const uint32_t *s, size_t n, size_t i) {
    size_t m = match_contraction(s, n, i, 0);
    if (m) return i + m;
    size_t j = (s[i] == ' ' && i + 1 < n) ? i + 1 : i;
    /* with the optional space first, then without it (only differs when s[i] == ' ') */
    for (size_t k = j;; k = i) {
        if (k < n) {
            if (tok_is_letter(s[k])) return run(s, n, k, tok_is_letter);
            if (tok_is_number(s[k])) return run(s, n, k, tok_is_number);
            if (is_other(s[k])) return run(s, n, k, is_other);
        }
        if (k == i) break;
    }
    return match_space_tail(s, n, i);
}

static int not_crlf_letter_number(uint32_t c) {
    return !is_crlf(c) && !tok_is_letter(c) && !tok_is_number(c);
}

/* Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t pre_llama3(const uint32_t *s, size_t n, size_t i) {
    size_t m = match_contraction(s, n, i, 1);
    if (m) return i + m;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (not_crlf_letter_number(s[i]) && i + 1 < n && tok_is_letter(s[i + 1]))
        return run(s, n, i + 1, tok_is_letter);
    if (tok_is_letter(s[i])) return run(s, n, i, tok_is_letter);
    /* \p{N}{1,3} */
    if (tok_is_number(s[i])) {
        size_t e = i + 1;
        while (e < n && e < i + 3 && tok_is_number(s[e])) e++;
        return e;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    {
        size_t k = (s[i] == ' ' && i + 1 < n && is_other(s[i + 1])) ? i + 1 : i;
        if (is_other(s[k])) {
            size_t e = run(s, n, k, is_other);
            return run(s, n, e, is_crlf);
        }
    }
    /* here s[i] is whitespace. \s*[\r\n]+ : up to the last CR/LF of the whitespace run */
    size_t e = run(s, n, i, tok_is_space);
    for (size_t k = e; k > i; k--) {
        if (is_crlf(s[k - 1])) return k;
    }
    return match_space_tail(s, n, i);
}

static const tok_pretok k_pretoks[] = {
    {"default", pre_gpt2, 0, 0},
    {"gpt-2", pre_gpt2, 0, 0},
    {"llama-bpe", pre_llama3, 1, 1},
    {"llama3", pre_llama3, 1, 1},
};

const tok_pretok *tok_pretok_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof k_pretoks / sizeof k_pretoks[0]; i++) {
        if (strlen(k_pretoks[i].name) == len && memcmp(k_pretoks[i].name, name, len) == 0)
            return &k_pretoks[i];
    }
    return NULL;
}
