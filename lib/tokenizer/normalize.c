/* Unicode normalization of the input text, through utf8proc. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

int tok_nfc(const char *s, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    /* Every code point below U+0300 is NFC and composes with nothing before U+0300; those are
     * the UTF-8 sequences with lead bytes below 0xCC. Most text stops here. */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;
    if (i == n) return 0;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (r < 0) {
        /* valid UTF-8 goes in, so the only failure left is memory */
        free(dst);
        return -1;
    }
    *out = (char *)dst;
    *out_len = (size_t)r;
    return 0;
}
