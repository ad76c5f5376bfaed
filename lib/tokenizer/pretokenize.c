/* Hand-written pre-tokenizers. A reference pre-tokenizer (HF `tokenizers`) is a sequence of
 * split steps, each applied to every piece the previous steps left, with the matches and the
 * gaps between them both kept as pieces ("Isolated"). Each step here is a matcher of one split
 * pattern over code points, trying the pattern's alternatives in order (leftmost-first, as a
 * backtracking regex engine does); tok_bpe.c runs the steps. Steps that HF runs after its
 * ByteLevel step see GPT-2 byte symbols, not code points (on_bytes). Adding a pre-tokenizer =
 * its matchers + one table row. */
#include <string.h>

#include "tokenizer/tok_internal.h"

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

/* Llama 3 (max_digits 3) and Qwen 2 (max_digits 1):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_like(const uint32_t *s, size_t n, size_t i, size_t max_digits) {
    size_t m = match_contraction(s, n, i, 1);
    if (m) return i + m;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (not_crlf_letter_number(s[i]) && i + 1 < n && tok_is_letter(s[i + 1]))
        return run(s, n, i + 1, tok_is_letter);
    if (tok_is_letter(s[i])) return run(s, n, i, tok_is_letter);
    /* \p{N}{1,max_digits} */
    if (tok_is_number(s[i])) {
        size_t e = i + 1;
        while (e < n && e < i + max_digits && tok_is_number(s[e])) e++;
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

static size_t pre_llama3(const uint32_t *s, size_t n, size_t i) { return llama3_like(s, n, i, 3); }
static size_t pre_qwen2(const uint32_t *s, size_t n, size_t i) { return llama3_like(s, n, i, 1); }

/* ---- single-class steps ---- */

/* [\r\n] */
static size_t m_crlf(const uint32_t *s, size_t n, size_t i) {
    (void)n;
    return is_crlf(s[i]) ? i + 1 : i;
}

/* \p{N} (HF Digits with individual_digits) */
static size_t m_digit(const uint32_t *s, size_t n, size_t i) {
    (void)n;
    return tok_is_number(s[i]) ? i + 1 : i;
}

/* \p{N}+ (HF Digits without individual_digits) */
static size_t m_digits(const uint32_t *s, size_t n, size_t i) { return run(s, n, i, tok_is_number); }

/* [0-9][0-9][0-9] */
static int is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static size_t m_three_ascii_digits(const uint32_t *s, size_t n, size_t i) {
    return (i + 3 <= n && is_ascii_digit(s[i]) && is_ascii_digit(s[i + 1]) && is_ascii_digit(s[i + 2])) ? i + 3 : i;
}

/* [\p{P}\$\+<=>\^~\|`]+ (HF Punctuation, contiguous) */
static size_t m_punct_run(const uint32_t *s, size_t n, size_t i) {
    return run(s, n, i, tok_is_ascii_or_unicode_punct);
}

/* \s?X+ for a class X: the optional \s is taken only when X follows it. */
static size_t space_then_run(const uint32_t *s, size_t n, size_t i, int (*pred)(uint32_t)) {
    size_t k = (tok_is_space(s[i]) && i + 1 < n && pred(s[i + 1])) ? i + 1 : i;
    size_t e = run(s, n, k, pred);
    return e > k ? e : i;
}

static size_t m_space_letters(const uint32_t *s, size_t n, size_t i) { /* \s?\p{L}+ */
    return space_then_run(s, n, i, tok_is_letter);
}

static size_t m_space_puncts(const uint32_t *s, size_t n, size_t i) { /* \s?\p{P}+ */
    return space_then_run(s, n, i, tok_is_punct);
}

/* [一-龥ࠀ-一가-퟿]+ */
static size_t m_deepseek_cjk(const uint32_t *s, size_t n, size_t i) { return run(s, n, i, tok_is_deepseek_cjk); }

/* \s?[<DeepSeek letters>]+ */
static size_t m_deepseek_letters(const uint32_t *s, size_t n, size_t i) {
    return space_then_run(s, n, i, tok_is_deepseek_letter);
}

/* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
static int is_deepseek_punct(uint32_t c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x7E) || (c >= 0xFF01 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) || (c >= 0x3000 && c <= 0x3002);
}
static size_t m_deepseek_puncts(const uint32_t *s, size_t n, size_t i) {
    return space_then_run(s, n, i, is_deepseek_punct);
}

/* \s+$ : the whitespace run reaching the end of the piece */
static size_t m_trailing_space(const uint32_t *s, size_t n, size_t i) {
    size_t e = run(s, n, i, tok_is_space);
    return (e > i && e == n) ? e : i;
}

#define CP(fn) {fn, 0}
#define BYTES(fn) {fn, 1}

/* name, steps, n_steps, ignore_merges, add_bos_default, nfc. The step lists follow the
 * pre_tokenizer (and the NFC normalizer) of each family's tokenizer.json. */
static const tok_pretok k_pretoks[] = {
    /* GPT-2: ByteLevel with its regex */
    {"default", {CP(pre_gpt2)}, 1, 0, 0, 0},
    {"gpt-2", {CP(pre_gpt2)}, 1, 0, 0, 0},
    /* MPT and GPT-NeoX (the gpt-neox-20b tokenizer): NFC, then GPT-2's ByteLevel */
    {"mpt", {CP(pre_gpt2)}, 1, 0, 0, 1},
    {"gpt-neox", {CP(pre_gpt2)}, 1, 0, 0, 1},
    /* Llama 3: one Split, then ByteLevel without regex */
    {"llama-bpe", {CP(pre_llama3)}, 1, 1, 1, 0},
    {"llama3", {CP(pre_llama3)}, 1, 1, 1, 0},
    /* Qwen 2 / 2.5 / 3 and the DeepSeek-R1 distills of Qwen: NFC, Llama 3's Split with single digits */
    {"qwen2", {CP(pre_qwen2)}, 1, 0, 0, 1},
    {"deepseek-r1-qwen", {CP(pre_qwen2)}, 1, 0, 0, 1},
    /* StarCoder, Refact: Digits(individual), then GPT-2's ByteLevel */
    {"starcoder", {CP(m_digit), CP(pre_gpt2)}, 2, 0, 0, 0},
    {"refact", {CP(m_digit), CP(pre_gpt2)}, 2, 0, 0, 0},
    /* SmolLM / SmolLM2: the StarCoder tokenizer's chain (tokenizer.json: Sequence of
     * Digits(individual_digits) and ByteLevel(use_regex, no prefix space)) */
    {"smollm", {CP(m_digit), CP(pre_gpt2)}, 2, 0, 0, 0},
    /* Falcon: Punctuation(contiguous), ByteLevel with GPT-2's regex, then Digits and
     * Split([0-9]{3}) on the byte symbols */
    {"falcon", {CP(m_punct_run), CP(pre_gpt2), BYTES(m_digits), BYTES(m_three_ascii_digits)}, 4, 0, 0, 0},
    /* DeepSeek Coder: five Splits / Digits(individual), then ByteLevel without regex */
    {"deepseek-coder", {CP(m_crlf), CP(m_space_letters), CP(m_space_puncts), CP(m_deepseek_cjk), CP(m_digit)}, 5, 0, 1, 0},
    /* DeepSeek LLM: six Splits, then ByteLevel without regex */
    {"deepseek-llm",
     {CP(m_crlf), CP(m_deepseek_letters), CP(m_deepseek_puncts), CP(m_trailing_space), CP(m_deepseek_cjk), CP(m_digits)},
     6, 0, 1, 0},
};

const tok_pretok *tok_pretok_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof k_pretoks / sizeof k_pretoks[0]; i++) {
        if (strlen(k_pretoks[i].name) == len && memcmp(k_pretoks[i].name, name, len) == 0)
            return &k_pretoks[i];
    }
    return NULL;
}
