/* The saved-session byte format: bounded little-endian writer and reader (see state_io.h). */
#include "state/state_io.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- checksums ------------------------------------------------------------------------------ */

static uint32_t g_crc_table[256];
static pthread_once_t g_crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        g_crc_table[i] = c;
    }
}

uint32_t llm_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&g_crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = g_crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

uint64_t llm_fnv64(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- writer --------------------------------------------------------------------------------- */

static uint8_t *grow(llm_swriter *w, size_t n) {
    if (w->oom) return NULL;
    if (w->counting) {
        w->len += n;
        return NULL;
    }
    if (n > w->cap - w->len) {
        if (w->fixed) {
            w->oom = 1;
            return NULL;
        }
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return NULL;
            }
            cap *= 2;
        }
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            w->oom = 1;
            return NULL;
        }
        w->data = grown;
        w->cap = cap;
    }
    uint8_t *at = w->data + w->len;
    w->len += n;
    return at;
}

uint8_t *llm_sw_reserve(llm_swriter *w, size_t n) { return grow(w, n); }

void llm_sw_bytes(llm_swriter *w, const void *p, size_t n) {
    if (n == 0) return;
    uint8_t *at = grow(w, n);
    if (at) memcpy(at, p, n);
}

static void put_le(uint8_t *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}

void llm_sw_u32(llm_swriter *w, uint32_t v) {
    uint8_t b[4];
    put_le(b, v, 4);
    llm_sw_bytes(w, b, 4);
}
void llm_sw_i32(llm_swriter *w, int32_t v) { llm_sw_u32(w, (uint32_t)v); }
void llm_sw_u64(llm_swriter *w, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    llm_sw_bytes(w, b, 8);
}
void llm_sw_i64(llm_swriter *w, int64_t v) { llm_sw_u64(w, (uint64_t)v); }
void llm_sw_f32(llm_swriter *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    llm_sw_u32(w, u);
}
void llm_sw_blob(llm_swriter *w, const void *p, size_t n) {
    llm_sw_u64(w, n);
    llm_sw_bytes(w, p, n);
}

size_t llm_sw_begin(llm_swriter *w, uint32_t tag) {
    llm_sw_u32(w, tag);
    const size_t mark = w->len;
    llm_sw_u64(w, 0);
    return mark;
}

void llm_sw_end(llm_swriter *w, size_t mark) {
    if (w->counting || w->oom) return;
    put_le(w->data + mark, (uint64_t)(w->len - mark - 8), 8);
}

void llm_sw_header(llm_swriter *w, uint32_t version) {
    llm_sw_bytes(w, LLM_STATE_MAGIC, 4);
    llm_sw_u32(w, version);
    llm_sw_u64(w, 0);
}

void llm_sw_finish(llm_swriter *w) {
    if (!w->counting && !w->oom) put_le(w->data + 8, (uint64_t)(w->len - LLM_STATE_HEADER), 8);
    const uint32_t crc = (w->counting || w->oom) ? 0 : llm_crc32(0, w->data, w->len);
    llm_sw_u32(w, crc);
}

void llm_sw_free(llm_swriter *w) {
    if (!w->fixed) free(w->data);
    memset(w, 0, sizeof *w);
}

/* ---- reader --------------------------------------------------------------------------------- */

const uint8_t *llm_sr_bytes(llm_sreader *r, size_t n) {
    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint64_t get_le(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint32_t llm_sr_u32(llm_sreader *r) {
    const uint8_t *b = llm_sr_bytes(r, 4);
    return b ? (uint32_t)get_le(b, 4) : 0;
}
int32_t llm_sr_i32(llm_sreader *r) {
    const uint32_t u = llm_sr_u32(r);
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}
uint64_t llm_sr_u64(llm_sreader *r) {
    const uint8_t *b = llm_sr_bytes(r, 8);
    return b ? get_le(b, 8) : 0;
}
int64_t llm_sr_i64(llm_sreader *r) {
    const uint64_t u = llm_sr_u64(r);
    int64_t v;
    memcpy(&v, &u, 8);
    return v;
}
float llm_sr_f32(llm_sreader *r) {
    const uint32_t u = llm_sr_u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

const uint8_t *llm_sr_blob(llm_sreader *r, size_t max, size_t *n) {
    const uint64_t len = llm_sr_u64(r);
    *n = 0;
    if (r->bad || len > max || len > r->left) {
        r->bad = 1;
        return NULL;
    }
    *n = (size_t)len;
    return llm_sr_bytes(r, (size_t)len);
}

uint64_t llm_sr_count(llm_sreader *r, uint64_t max, size_t elem_size) {
    const uint64_t c = llm_sr_u64(r);
    if (r->bad || c > max || (elem_size && c > r->left / elem_size)) {
        r->bad = 1;
        return 0;
    }
    return c;
}

int llm_sr_section(llm_sreader *r, uint32_t tag, llm_sreader *sec) {
    const uint32_t t = llm_sr_u32(r);
    const uint64_t len = llm_sr_u64(r);
    sec->p = NULL;
    sec->left = 0;
    sec->bad = 1;
    if (r->bad || t != tag || len > r->left) {
        r->bad = 1;
        return -1;
    }
    sec->p = llm_sr_bytes(r, (size_t)len);
    sec->left = (size_t)len;
    sec->bad = 0;
    return 0;
}

int llm_state_open(const void *data, size_t size, uint32_t *version, llm_sreader *payload) {
    const uint8_t *b = data;
    *version = 0;
    memset(payload, 0, sizeof *payload);
    payload->bad = 1;
    if (!b || size < LLM_STATE_HEADER + LLM_STATE_TRAILER || memcmp(b, LLM_STATE_MAGIC, 4) != 0) return -1;
    const uint64_t len = get_le(b + 8, 8);
    if (len != size - LLM_STATE_HEADER - LLM_STATE_TRAILER) return -1;
    if (llm_crc32(0, b, size - LLM_STATE_TRAILER) != (uint32_t)get_le(b + size - LLM_STATE_TRAILER, 4)) return -1;
    *version = (uint32_t)get_le(b + 4, 4);
    payload->p = b + LLM_STATE_HEADER;
    payload->left = (size_t)len;
    payload->bad = 0;
    return 0;
}
