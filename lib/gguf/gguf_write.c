/* GGUF writer (see gguf_write.h). Every number is written little-endian byte by byte, so the
 * output does not depend on the host's byte order. */
#include "gguf/gguf_write.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define GGUF_WRITE_VERSION 3u
#define GGUF_WRITE_MAX_NESTING 16 /* as the parser */

void gguf_w_init(gguf_writer *w, FILE *f, const char *path, llm_err *err) {
    w->f = f;
    w->path = path;
    w->pos = 0;
    w->st = LLM_OK;
    w->err = err;
}

llm_status gguf_w_status(const gguf_writer *w) { return w->st; }

llm_status gguf_w_bytes(gguf_writer *w, const void *data, size_t n) {
    if (w->st != LLM_OK) return w->st;
    if (n == 0) return LLM_OK;
    if (fwrite(data, 1, n, w->f) != n) {
        int e = errno;
        w->st = llm_err_set(w->err, LLM_ERR_IO, "cannot write %s: %s", w->path ? w->path : "the output file",
                            e ? strerror(e) : "short write");
        return w->st;
    }
    w->pos += n;
    return LLM_OK;
}

static llm_status put_u32(gguf_writer *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    return gguf_w_bytes(w, b, sizeof b);
}

static llm_status put_u64(gguf_writer *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return gguf_w_bytes(w, b, sizeof b);
}

static llm_status put_str(gguf_writer *w, const char *s, uint64_t len) {
    put_u64(w, len);
    return gguf_w_bytes(w, s, (size_t)len);
}

llm_status gguf_w_pad(gguf_writer *w, uint64_t alignment) {
    static const uint8_t zeros[64];
    uint64_t n = gguf_align_up(w->pos, alignment) - w->pos;
    while (n > 0 && w->st == LLM_OK) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        gguf_w_bytes(w, zeros, k);
        n -= k;
    }
    return w->st;
}

llm_status gguf_w_header(gguf_writer *w, uint64_t n_tensors, uint64_t n_kv) {
    gguf_w_bytes(w, "GGUF", 4);
    put_u32(w, GGUF_WRITE_VERSION);
    put_u64(w, n_tensors);
    return put_u64(w, n_kv);
}

static uint64_t rd_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t fixed_size(uint32_t type) {
    switch (type) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

/* Bytes taken by one value of `type` encoded at p, with `left` bytes available. 0 = malformed. */
static uint64_t value_size(const uint8_t *p, uint64_t left, uint32_t type, int depth) {
    uint64_t fs = fixed_size(type);
    if (fs) return fs <= left ? fs : 0;
    if (type == GGUF_STRING) {
        if (left < 8) return 0;
        uint64_t len = rd_u64(p);
        return len <= left - 8 ? 8 + len : 0;
    }
    if (type != GGUF_ARRAY || depth >= GGUF_WRITE_MAX_NESTING || left < 12) return 0;
    uint32_t et = rd_u32(p);
    uint64_t count = rd_u64(p + 4), used = 12;
    uint64_t efs = fixed_size(et);
    if (efs) return count <= (left - used) / efs ? used + count * efs : 0;
    if (et != GGUF_STRING && et != GGUF_ARRAY) return 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = value_size(p + used, left - used, et, depth + 1);
        if (n == 0) return 0;
        used += n;
    }
    return used;
}

llm_status gguf_kv_encoding(const gguf_file *src, const gguf_kv *kv, const uint8_t **data, uint64_t *size,
                            llm_err *err) {
    /* The parser's key points into the buffer: u64 length, key bytes, u32 type, value. */
    const uint8_t *key = (const uint8_t *)kv->key.ptr;
    const uint8_t *end = src->base + src->size;
    if (key < src->base || key > end || kv->key.len > (uint64_t)(end - key) ||
        (uint64_t)(end - key) - kv->key.len < 4)
        return llm_err_set(err, LLM_ERR_FORMAT, "gguf: key/value '%s' is not in the file buffer", kv->key_z);
    const uint8_t *val = key + kv->key.len + 4;
    uint64_t n = value_size(val, (uint64_t)(end - val), (uint32_t)kv->val.type, 0);
    if (n == 0 || rd_u32(val - 4) != (uint32_t)kv->val.type)
        return llm_err_set(err, LLM_ERR_FORMAT, "gguf: cannot re-read the value of '%s'", kv->key_z);
    *data = val;
    *size = n;
    return LLM_OK;
}

llm_status gguf_w_kv_copy(gguf_writer *w, const gguf_file *src, const gguf_kv *kv) {
    if (w->st != LLM_OK) return w->st;
    const uint8_t *data = NULL;
    uint64_t size = 0;
    llm_status st = gguf_kv_encoding(src, kv, &data, &size, w->err);
    if (st != LLM_OK) return w->st = st;
    put_str(w, kv->key.ptr, kv->key.len);
    put_u32(w, (uint32_t)kv->val.type);
    return gguf_w_bytes(w, data, (size_t)size);
}

llm_status gguf_w_kv_u32(gguf_writer *w, const char *key, uint32_t value) {
    put_str(w, key, strlen(key));
    put_u32(w, GGUF_U32);
    return put_u32(w, value);
}

llm_status gguf_w_tensor_info(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                              uint32_t type, uint64_t offset) {
    put_str(w, name, strlen(name));
    put_u32(w, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(w, (uint64_t)ne[i]);
    put_u32(w, type);
    return put_u64(w, offset);
}
