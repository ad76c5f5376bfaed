/* The saved-state envelope's CRC-32 (IEEE, reflected, as zlib), written here from its definition
 * rather than taken from lib/state, so that the tests check the library against it. The last 4
 * bytes of a state of n bytes are the little-endian CRC of the n - 4 before them. */
#ifndef LLM_TESTS_STATE_CRC_H
#define LLM_TESTS_STATE_CRC_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* Rewrites the checksum of a state of n bytes after its other bytes were changed. */
static inline void state_fix_crc(uint8_t *b, size_t n) {
    const uint32_t c = crc32_ieee(b, n - 4);
    for (int i = 0; i < 4; i++) b[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

#endif
