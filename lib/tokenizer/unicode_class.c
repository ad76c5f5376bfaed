/* Character classes of the pre-tokenizer patterns and normalizers. General categories come from
 * utf8proc (the project's Unicode database, also used for NFC/NFD) rather than tables of our
 * own, so that one Unicode version decides every class; ASCII is tested directly because it is
 * most of the text and the hot path. Class tables written out below are the ones the reference
 * patterns spell out as explicit ranges (they are not any Unicode category). */
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

int tok_is_punct(uint32_t c) {
    if (c < 0x80) /* ASCII: the P* characters (the symbols $+<=>^`|~ are S*) */
        return (c >= '!' && c <= '/' && c != '$' && c != '+') || (c >= ':' && c <= '@' && c != '<' && c != '=' && c != '>') ||
               (c >= '[' && c <= '`' && c != '^' && c != '`') || c == '{' || c == '}';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int tok_is_ascii_or_unicode_punct(uint32_t c) {
    /* Rust's char::is_ascii_punctuation (all ASCII symbols and punctuation) or a P* category:
     * the punctuation test of HF's Punctuation and BertPreTokenizer */
    if (c < 0x80) return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
    return tok_is_punct(c);
}

int tok_is_mark_nonspacing(uint32_t c) {
    return c >= 0x300 && utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_MN;
}

int tok_is_other_assigned(uint32_t c) {
    /* Cc, Cf, Co (and Cs, never in valid UTF-8); not Cn: what HF's BERT normalizer removes as
     * "control" (checked against it: unassigned code points stay) */
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CS:
        return 1;
    default:
        return 0;
    }
}

/* The letter class of DeepSeek LLM's second split pattern, written in its tokenizer.json as
 * 87 explicit ranges; merged here. Every code point in it is Lu, Ll or Lt (checked when the
 * table was made), but it is not all of them, so it stays a table. */
static const uint32_t k_deepseek_letters[][2] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6}, {0x00F8, 0x01BA},
    {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373}, {0x0376, 0x0377}, {0x037B, 0x037D},
    {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5},
    {0x03F7, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
    {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
    {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
    {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

int tok_is_deepseek_letter(uint32_t c) {
    size_t lo = 0, hi = sizeof k_deepseek_letters / sizeof k_deepseek_letters[0];
    while (lo < hi) { /* first range whose end is >= c */
        size_t mid = (lo + hi) / 2;
        if (k_deepseek_letters[mid][1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof k_deepseek_letters / sizeof k_deepseek_letters[0] && k_deepseek_letters[lo][0] <= c;
}

int tok_is_deepseek_cjk(uint32_t c) { /* [一-龥ࠀ-一가-퟿] */
    return (c >= 0x0800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF);
}
