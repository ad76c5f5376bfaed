/* A minimal GGUF writer for tests: appends little-endian fields to a growable buffer, so a test
 * can build valid files and then bend exactly one field. Aborts on out of memory (tests only). */
#ifndef TEST_GGUF_WRITER_H
#define TEST_GGUF_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw {
    uint8_t *p;
    size_t n, cap;
} gw;

static inline void gw_bytes(gw *w, const void *src, size_t len) {
    if (w->n + len > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + len) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) {
            fprintf(stderr, "gw: out of memory\n");
            abort();
        }
        w->p = np;
        w->cap = cap;
    }
    if (len) memcpy(w->p + w->n, src, len);
    w->n += len;
}

static inline void gw_le(gw *w, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    gw_bytes(w, b, (size_t)bytes);
}
static inline void gw_u8(gw *w, uint8_t v) { gw_le(w, v, 1); }
static inline void gw_u16(gw *w, uint16_t v) { gw_le(w, v, 2); }
static inline void gw_u32(gw *w, uint32_t v) { gw_le(w, v, 4); }
static inline void gw_u64(gw *w, uint64_t v) { gw_le(w, v, 8); }
static inline void gw_f32(gw *w, float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    gw_u32(w, b);
}
static inline void gw_f64(gw *w, double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    gw_u64(w, b);
}
/* A GGUF string: u64 length then the bytes (no NUL). */
static inline void gw_str(gw *w, const char *s) {
    size_t len = strlen(s);
    gw_u64(w, len);
    gw_bytes(w, s, len);
}
static inline void gw_zeros(gw *w, size_t n) {
    for (size_t i = 0; i < n; i++) gw_u8(w, 0);
}
/* Pads with zeros to the next multiple of align (relative to the buffer start). */
static inline void gw_pad(gw *w, size_t align) {
    while (w->n % align) gw_u8(w, 0);
}
static inline void gw_header(gw *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, version);
    gw_u64(w, n_tensors);
    gw_u64(w, n_kv);
}
/* Key and value type of a KV; the value follows. */
static inline void gw_key(gw *w, const char *key, uint32_t vtype) {
    gw_str(w, key);
    gw_u32(w, vtype);
}
static inline void gw_tensor_info(gw *w, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                                  uint64_t offset) {
    gw_str(w, name);
    gw_u32(w, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) gw_u64(w, ne[d]);
    gw_u32(w, type);
    gw_u64(w, offset);
}
static inline void gw_free(gw *w) {
    free(w->p);
    memset(w, 0, sizeof *w);
}
/* Overwrites 8 bytes at pos (for bending a field of a built file). */
static inline void gw_put_u64(gw *w, size_t pos, uint64_t v) {
    for (int i = 0; i < 8; i++) w->p[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
}
static inline void gw_put_u32(gw *w, size_t pos, uint32_t v) {
    for (int i = 0; i < 4; i++) w->p[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
}

#endif
