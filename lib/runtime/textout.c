#include "runtime/textout.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n): 1..4; 0 when the bytes present are a valid
 * but incomplete start; -1 when s[0] cannot start a valid sequence here. */
static int seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    int len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;      /* no overlong forms */
        else if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        else if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return -1;
    }
    return len;
}

size_t llm_utf8_complete_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        int l = seq_len(s + i, n - i);
        if (l == 0) return i;
        i += l < 0 ? 1 : (size_t)l;
    }
    return n;
}

int llm_utf8_append_valid(llm_buf *out, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* run: start of the current stretch of valid bytes */
    while (i < n) {
        int l = seq_len(s + i, n - i);
        if (l > 0) {
            i += (size_t)l;
            continue;
        }
        if (llm_buf_append(out, str + run, i - run) || llm_buf_append(out, "\xef\xbf\xbd", 3)) return -1;
        i++;
        run = i;
    }
    return llm_buf_append(out, str + run, n - run);
}

int llm_utf8_is_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        int l = seq_len(s + i, n - i);
        if (l <= 0) return 0;
        i += (size_t)l;
    }
    return 1;
}

int llm_stops_find(char *const *stops, size_t n_stops, const char *text, size_t len, size_t *pos) {
    int found = 0;
    size_t best = 0;
    for (size_t k = 0; k < n_stops; k++) {
        size_t m = strlen(stops[k]);
        if (m == 0 || m > len) continue;
        for (size_t i = 0; i + m <= len && (!found || i < best); i++) {
            if (memcmp(text + i, stops[k], m) == 0) {
                best = i;
                found = 1;
                break;
            }
        }
    }
    if (found) *pos = best;
    return found;
}

size_t llm_stops_holdback(char *const *stops, size_t n_stops, const char *text, size_t len) {
    size_t hold = 0;
    for (size_t k = 0; k < n_stops; k++) {
        size_t m = strlen(stops[k]);
        if (m == 0) continue;
        /* suffixes of text of length h < m that equal the first h bytes of the stop string */
        for (size_t h = (m - 1 < len ? m - 1 : len); h > hold; h--) {
            if (memcmp(text + len - h, stops[k], h) == 0) {
                hold = h;
                break;
            }
        }
    }
    return hold;
}
