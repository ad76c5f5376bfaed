/* GGUF parser: one pass over the buffer, every length and count validated against the bytes that
 * remain before anything is allocated or read, so a hostile file can neither read out of bounds
 * nor make us allocate more than a small multiple of its own size. */
#include "gguf/gguf.h"

#include <inttypes.h>
#include <stdlib.h>

#include "kernels/dtype.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
/* Arrays of arrays are legal; a depth bound keeps a crafted file from exhausting the stack. */
#define GGUF_MAX_NESTING 16
/* Smallest encodings, used to bound counts by the bytes left before allocating:
 * a KV is key length (8) + type (4) + the smallest value (1); a tensor info is name length (8) +
 * n_dims (4) + one dim (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 13u
#define GGUF_MIN_TENSOR_BYTES 32u

/* The public gguf_file followed by the lookup indices (sorted positions into kv / tensors). */
typedef struct gguf_file_impl {
    gguf_file pub;
    size_t *kv_sorted;
    size_t *tensor_sorted;
} gguf_file_impl;

typedef struct reader {
    const uint8_t *p;
    size_t size;
    size_t pos;
    llm_err *err;
} reader;

static size_t left(const reader *r) { return r->size - r->pos; }

static uint64_t le_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t le_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static llm_status truncated(reader *r, const char *what, uint64_t need) {
    return llm_err_set(r->err, LLM_ERR_FORMAT,
                       "gguf: truncated: %s needs %" PRIu64 " bytes at offset %zu but only %zu are left",
                       what, need, r->pos, left(r));
}

static llm_status rd_u32(reader *r, const char *what, uint32_t *out) {
    if (left(r) < 4) return truncated(r, what, 4);
    *out = le_u32(r->p + r->pos);
    r->pos += 4;
    return LLM_OK;
}

static llm_status rd_u64(reader *r, const char *what, uint64_t *out) {
    if (left(r) < 8) return truncated(r, what, 8);
    *out = le_u64(r->p + r->pos);
    r->pos += 8;
    return LLM_OK;
}

static llm_status rd_str(reader *r, const char *what, gguf_str *out) {
    size_t at = r->pos;
    uint64_t len = 0;
    llm_status st = rd_u64(r, what, &len);
    if (st) return st;
    if (len > left(r))
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: truncated: %s length %" PRIu64 " at offset %zu exceeds the %zu bytes left",
                           what, len, at, left(r));
    out->ptr = (const char *)(r->p + r->pos);
    out->len = len;
    r->pos += (size_t)len;
    return LLM_OK;
}

/* Size of a fixed-width value type; 0 for STRING / ARRAY / unknown ids. */
static size_t vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

static int vtype_known(uint32_t t) { return t <= GGUF_F64; }
static int vtype_is_int(gguf_vtype t) {
    return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 ||
           t == GGUF_I32 || t == GGUF_U64 || t == GGUF_I64 || t == GGUF_BOOL;
}
static int vtype_is_signed(gguf_vtype t) {
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

const char *gguf_vtype_name(gguf_vtype t) {
    static const char *const names[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Decodes one fixed-width scalar at p into v (type already set). */
static void decode_scalar(const uint8_t *p, gguf_value *v) {
    switch (v->type) {
    case GGUF_U8: v->v.u = p[0]; break;
    case GGUF_BOOL: v->v.u = p[0] != 0; break;
    case GGUF_I8: v->v.i = (int8_t)p[0]; break;
    case GGUF_U16: v->v.u = le_u16(p); break;
    case GGUF_I16: v->v.i = (int16_t)le_u16(p); break;
    case GGUF_U32: v->v.u = le_u32(p); break;
    case GGUF_I32: v->v.i = (int32_t)le_u32(p); break;
    case GGUF_U64: v->v.u = le_u64(p); break;
    case GGUF_I64: v->v.i = (int64_t)le_u64(p); break;
    case GGUF_F32: {
        uint32_t b = le_u32(p);
        float f;
        memcpy(&f, &b, sizeof f);
        v->v.f = f;
        break;
    }
    case GGUF_F64: {
        uint64_t b = le_u64(p);
        double d;
        memcpy(&d, &b, sizeof d);
        v->v.f = d;
        break;
    }
    default: break;
    }
}

static llm_status parse_array(reader *r, gguf_value *v, int depth);

/* Reads a value of type `type` at the cursor. `v` may be NULL for values inside nested arrays,
 * which are only skipped (they get no index). */
static llm_status parse_value(reader *r, uint32_t type, gguf_value *v, int depth) {
    size_t at = r->pos;
    if (!vtype_known(type))
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: unknown value type %" PRIu32 " at offset %zu",
                           type, at);
    gguf_value tmp;
    if (!v) v = &tmp;
    memset(v, 0, sizeof *v);
    v->type = (gguf_vtype)type;
    if (type == GGUF_STRING) return rd_str(r, "string", &v->v.str);
    if (type == GGUF_ARRAY) return parse_array(r, v, depth);
    size_t sz = vtype_size(type);
    if (left(r) < sz) return truncated(r, gguf_vtype_name((gguf_vtype)type), sz);
    decode_scalar(r->p + r->pos, v);
    r->pos += sz;
    return LLM_OK;
}

static llm_status parse_array(reader *r, gguf_value *v, int depth) {
    size_t at = r->pos;
    if (depth >= GGUF_MAX_NESTING)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: arrays nested deeper than %d levels at offset %zu", GGUF_MAX_NESTING, at);
    uint32_t et = 0;
    uint64_t count = 0;
    llm_status st = rd_u32(r, "array element type", &et);
    if (st) return st;
    if (!vtype_known(et))
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: unknown array element type %" PRIu32 " at offset %zu", et, at);
    size_t count_at = r->pos;
    if ((st = rd_u64(r, "array count", &count))) return st;
    /* Every element takes at least this many bytes: the count is bounded before any loop or
     * allocation depends on it. */
    size_t min_elem = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : vtype_size(et);
    if (count > left(r) / min_elem)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: truncated: array count %" PRIu64 " of %s at offset %zu needs at least %"
                           PRIu64 "-byte elements but only %zu bytes are left",
                           count, gguf_vtype_name((gguf_vtype)et), count_at, (uint64_t)min_elem, left(r));
    v->v.arr.elem_type = (gguf_vtype)et;
    v->v.arr.count = count;
    v->v.arr.data = r->p + r->pos;
    v->v.arr.strs = NULL;
    if (et == GGUF_STRING) {
        /* Only top-level string arrays are indexed (nested ones have no getter). */
        gguf_str *strs = NULL;
        if (depth == 0 && count > 0) {
            strs = malloc((size_t)count * sizeof *strs);
            if (!strs)
                return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY,
                                   "gguf: out of memory indexing a string array of %" PRIu64 " entries", count);
        }
        for (uint64_t i = 0; i < count; i++) {
            gguf_str s;
            if ((st = rd_str(r, "array string", &s))) {
                free(strs);
                return st;
            }
            if (strs) strs[i] = s;
        }
        v->v.arr.strs = strs;
        return LLM_OK;
    }
    if (et == GGUF_ARRAY) {
        for (uint64_t i = 0; i < count; i++) {
            gguf_value inner;
            if ((st = parse_array(r, &inner, depth + 1))) return st;
        }
        return LLM_OK;
    }
    r->pos += (size_t)count * min_elem; /* fits: checked against left(r) above */
    return LLM_OK;
}

/* A key or a tensor name: must be non-empty and free of NUL bytes, since it is also kept as a C
 * string and looked up by one. */
static llm_status check_name(reader *r, const char *what, const gguf_str *s, size_t at) {
    if (s->len == 0)
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: empty %s at offset %zu", what, at);
    if (memchr(s->ptr, 0, (size_t)s->len))
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: %s at offset %zu contains a NUL byte", what, at);
    return LLM_OK;
}

static char *dup_str(const gguf_str *s) {
    char *z = malloc((size_t)s->len + 1);
    if (z) {
        memcpy(z, s->ptr, (size_t)s->len);
        z[s->len] = '\0';
    }
    return z;
}

static int cmp_str(const gguf_str *a, const gguf_str *b) {
    size_t n = (size_t)(a->len < b->len ? a->len : b->len);
    int c = memcmp(a->ptr, b->ptr, n);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* qsort has no context argument and a global one would make parsing non-reentrant: a small
 * merge sort with an explicit context keeps parses safe on several threads at once. */
typedef int (*idx_cmp)(const void *ctx, size_t a, size_t b);

static void merge_sort(size_t *v, size_t *tmp, size_t n, idx_cmp cmp, const void *ctx) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(v, tmp, h, cmp, ctx);
    merge_sort(v + h, tmp, n - h, cmp, ctx);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp(ctx, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static int kv_cmp_ctx(const void *ctx, size_t a, size_t b) {
    const gguf_kv *kv = ctx;
    return cmp_str(&kv[a].key, &kv[b].key);
}
static int tensor_cmp_ctx(const void *ctx, size_t a, size_t b) {
    const gguf_tensor *t = ctx;
    return strcmp(t[a].name, t[b].name);
}

/* Sorted index 0..n-1 by cmp; NULL on out of memory. */
static size_t *build_index(size_t n, idx_cmp cmp, const void *ctx) {
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) idx[i] = i;
    merge_sort(idx, tmp, n, cmp, ctx);
    free(tmp);
    return idx;
}

static llm_status parse_kvs(reader *r, gguf_file *f) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        size_t at = r->pos;
        llm_status st = rd_str(r, "key", &kv->key);
        if (st) return st;
        if ((st = check_name(r, "key", &kv->key, at))) return st;
        if (!(kv->key_z = dup_str(&kv->key)))
            return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
        uint32_t type = 0;
        if ((st = rd_u32(r, "value type", &type))) return st;
        if ((st = parse_value(r, type, &kv->val, 0))) return st;
    }
    return LLM_OK;
}

static llm_status apply_alignment(reader *r, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return LLM_OK;
    if (kv->val.type != GGUF_U32)
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: bad alignment: general.alignment has type %s, not u32",
                           gguf_vtype_name(kv->val.type));
    uint64_t a = kv->val.v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: bad alignment: general.alignment %" PRIu64 " is not a nonzero power of two", a);
    f->alignment = a;
    return LLM_OK;
}

static llm_status parse_tensor_info(reader *r, gguf_tensor *t) {
    size_t at = r->pos;
    gguf_str name;
    llm_status st = rd_str(r, "tensor name", &name);
    if (st) return st;
    if ((st = check_name(r, "tensor name", &name, at))) return st;
    if (!(t->name = dup_str(&name))) return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    size_t dims_at = r->pos;
    if ((st = rd_u32(r, "tensor n_dims", &t->n_dims))) return st;
    if (t->n_dims < 1 || t->n_dims > 4)
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: tensor '%s': n_dims %" PRIu32 " at offset %zu is not in 1..4",
                           t->name, t->n_dims, dims_at);
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t dim_at = r->pos;
        uint64_t ne = 0;
        if ((st = rd_u64(r, "tensor dimension", &ne))) return st;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return llm_err_set(r->err, LLM_ERR_FORMAT,
                               "gguf: tensor '%s': dimension %" PRIu32 " = %" PRIu64 " at offset %zu is out of range",
                               t->name, d, ne, dim_at);
        if (n_elems > (uint64_t)INT64_MAX / ne)
            return llm_err_set(r->err, LLM_ERR_FORMAT,
                               "gguf: tensor '%s': element count overflows at dimension %" PRIu32 " (offset %zu)",
                               t->name, d, dim_at);
        n_elems *= ne;
        t->ne[d] = (int64_t)ne;
    }
    size_t type_at = r->pos;
    if ((st = rd_u32(r, "tensor type", &t->type))) return st;
    const llm_dtype_info *info = llm_dtype_get(t->type);
    if (!info)
        return llm_err_set(r->err, LLM_ERR_UNSUPPORTED,
                           "gguf: tensor '%s' has unknown type id %" PRIu32 " (offset %zu)", t->name, t->type, type_at);
    if ((uint64_t)t->ne[0] % info->block_size != 0)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRIu32,
                           t->name, t->ne[0], info->name, info->block_size);
    uint64_t blocks = n_elems / info->block_size; /* exact: ne[0] divides by block_size */
    if (blocks > SIZE_MAX / info->type_size)
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: tensor '%s': byte size overflows", t->name);
    t->nbytes = (size_t)blocks * info->type_size;
    return rd_u64(r, "tensor offset", &t->offset);
}

/* Places every tensor inside the data section; needs the alignment and the data offset. */
static llm_status place_tensors(reader *r, gguf_file *f) {
    if (f->n_tensors == 0) return LLM_OK;
    if (f->data_offset > f->size)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: truncated: data section starts at offset %" PRIu64 " past the end of the %zu-byte file",
                           f->data_offset, f->size);
    size_t avail = f->size - (size_t)f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment != 0)
            return llm_err_set(r->err, LLM_ERR_FORMAT,
                               "gguf: tensor '%s': offset %" PRIu64 " is misaligned (alignment %" PRIu64 ")",
                               t->name, t->offset, f->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return llm_err_set(r->err, LLM_ERR_FORMAT,
                               "gguf: truncated: tensor '%s' (%zu bytes at data offset %" PRIu64
                               ") extends beyond the end of the file (%zu data bytes)",
                               t->name, t->nbytes, t->offset, avail);
        t->data = f->base + f->data_offset + t->offset;
    }
    return LLM_OK;
}

static llm_status parse_header(reader *r, gguf_file *f) {
    if (r->size < 4 || memcmp(r->p, GGUF_MAGIC, 4) != 0) {
        if (r->size < 4 && memcmp(r->p, GGUF_MAGIC, r->size) == 0) return truncated(r, "magic", 4);
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: bad magic at offset 0: not a GGUF file");
    }
    r->pos = 4;
    llm_status st = rd_u32(r, "version", &f->version);
    if (st) return st;
    if (f->version != 2 && f->version != 3) {
        if (f->version == 1)
            return llm_err_set(r->err, LLM_ERR_UNSUPPORTED, "gguf: unsupported version 1 (only 2 and 3 are read)");
        /* A byte-swapped small number is the sign of a big-endian file. */
        uint32_t swapped = (f->version >> 24) | ((f->version >> 8) & 0xff00u) |
                           ((f->version << 8) & 0xff0000u) | (f->version << 24);
        return llm_err_set(r->err, LLM_ERR_UNSUPPORTED, "gguf: unsupported version %" PRIu32 "%s", f->version,
                           swapped >= 1 && swapped <= 3 ? " (a big-endian file?)" : "");
    }
    size_t at = r->pos;
    if ((st = rd_u64(r, "tensor count", &f->n_tensors))) return st;
    if ((st = rd_u64(r, "metadata count", &f->n_kv))) return st;
    /* Bounds both counts by what the rest of the file could hold before allocating. */
    if (f->n_kv > left(r) / GGUF_MIN_KV_BYTES)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: truncated: n_kv %" PRIu64 " at offset %zu cannot fit in the %zu bytes left",
                           f->n_kv, at + 8, left(r));
    if (f->n_tensors > left(r) / GGUF_MIN_TENSOR_BYTES)
        return llm_err_set(r->err, LLM_ERR_FORMAT,
                           "gguf: truncated: n_tensors %" PRIu64 " at offset %zu cannot fit in the %zu bytes left",
                           f->n_tensors, at, left(r));
    return LLM_OK;
}

static llm_status check_duplicate_keys(reader *r, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    for (size_t i = 1; i < (size_t)f->n_kv; i++) {
        const gguf_kv *a = &f->kv[fi->kv_sorted[i - 1]], *b = &f->kv[fi->kv_sorted[i]];
        if (cmp_str(&a->key, &b->key) == 0) /* key offsets: the length field precedes the bytes */
            return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: duplicate key '%s' at offsets %zu and %zu", a->key_z,
                               (size_t)((const uint8_t *)a->key.ptr - f->base) - 8,
                               (size_t)((const uint8_t *)b->key.ptr - f->base) - 8);
    }
    return LLM_OK;
}

static llm_status check_duplicate_tensors(reader *r, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    for (size_t i = 1; i < (size_t)f->n_tensors; i++) {
        const gguf_tensor *a = &f->tensors[fi->tensor_sorted[i - 1]], *b = &f->tensors[fi->tensor_sorted[i]];
        if (strcmp(a->name, b->name) == 0)
            return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: duplicate tensor name '%s'", a->name);
    }
    return LLM_OK;
}

static llm_status parse_all(reader *r, gguf_file_impl *fi) {
    gguf_file *f = &fi->pub;
    llm_status st = parse_header(r, f);
    if (st) return st;
    /* calloc: a partial parse leaves NULL pointers that gguf_free can skip. Counts fit in size_t
     * because they are bounded by the buffer size above. */
    f->kv = calloc(f->n_kv ? (size_t)f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? (size_t)f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors) return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    if ((st = parse_kvs(r, f))) return st;
    if (!(fi->kv_sorted = build_index((size_t)f->n_kv, kv_cmp_ctx, f->kv)))
        return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    /* Duplicate keys are checked before the alignment lookup so it cannot pick one arbitrarily. */
    if ((st = check_duplicate_keys(r, fi))) return st;
    if ((st = apply_alignment(r, f))) return st;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if ((st = parse_tensor_info(r, &f->tensors[i]))) return st;
    if (!(fi->tensor_sorted = build_index((size_t)f->n_tensors, tensor_cmp_ctx, f->tensors)))
        return llm_err_set(r->err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    if ((st = check_duplicate_tensors(r, fi))) return st;
    uint64_t end = r->pos;
    if (end > UINT64_MAX - f->alignment) /* only a buffer of nearly 2^64 bytes could get here */
        return llm_err_set(r->err, LLM_ERR_FORMAT, "gguf: data offset overflows after offset %zu", r->pos);
    f->data_offset = (end + f->alignment - 1) / f->alignment * f->alignment;
    return place_tensors(r, f);
}

llm_status gguf_parse(const uint8_t *data, size_t size, gguf_file **out, llm_err *err) {
    if (!out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "gguf: NULL output");
    *out = NULL;
    if (!data && size) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "gguf: NULL data");
    static const uint8_t empty[1];
    reader r = {data ? data : empty, size, 0, err};
    gguf_file_impl *fi = calloc(1, sizeof *fi);
    if (!fi) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "gguf: out of memory");
    fi->pub.base = r.p;
    fi->pub.size = size;
    llm_status st = parse_all(&r, fi);
    if (st) {
        gguf_free(&fi->pub);
        return st;
    }
    *out = &fi->pub;
    return LLM_OK;
}

void gguf_free(gguf_file *f) {
    if (!f) return;
    gguf_file_impl *fi = (gguf_file_impl *)f;
    if (f->kv) {
        for (uint64_t i = 0; i < f->n_kv; i++) {
            free(f->kv[i].key_z);
            if (f->kv[i].val.type == GGUF_ARRAY) free(f->kv[i].val.v.arr.strs);
        }
    }
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    free(fi->kv_sorted);
    free(fi->tensor_sorted);
    free(fi);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    if (!fi->kv_sorted) return NULL;
    gguf_str q = {key, strlen(key)};
    size_t lo = 0, hi = (size_t)f->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = &f->kv[fi->kv_sorted[mid]];
        int c = cmp_str(&kv->key, &q);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    const gguf_file_impl *fi = (const gguf_file_impl *)f;
    if (!fi->tensor_sorted) return NULL;
    size_t lo = 0, hi = (size_t)f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_tensor *t = &f->tensors[fi->tensor_sorted[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Shared conversion used by the scalar and array getters. */
static llm_status value_int(const gguf_value *v, int64_t *out) {
    if (!vtype_is_int(v->type)) return LLM_ERR_TYPE_MISMATCH;
    if (vtype_is_signed(v->type)) {
        *out = v->v.i;
    } else {
        if (v->v.u > (uint64_t)INT64_MAX) return LLM_ERR_TYPE_MISMATCH;
        *out = (int64_t)v->v.u;
    }
    return LLM_OK;
}

static llm_status value_float(const gguf_value *v, double *out) {
    if (v->type == GGUF_F32 || v->type == GGUF_F64) {
        *out = v->v.f;
        return LLM_OK;
    }
    if (!vtype_is_int(v->type)) return LLM_ERR_TYPE_MISMATCH;
    *out = vtype_is_signed(v->type) ? (double)v->v.i : (double)v->v.u;
    return LLM_OK;
}

llm_status gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LLM_ERR_NOT_FOUND;
    return value_int(&kv->val, out);
}

llm_status gguf_get_float(const gguf_file *f, const char *key, double *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LLM_ERR_NOT_FOUND;
    return value_float(&kv->val, out);
}

llm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LLM_ERR_NOT_FOUND;
    if (kv->val.type != GGUF_STRING) return LLM_ERR_TYPE_MISMATCH;
    *out = kv->val.v.str;
    return LLM_OK;
}

llm_status gguf_get_arr(const gguf_file *f, const char *key, const gguf_value **out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return LLM_ERR_NOT_FOUND;
    if (kv->val.type != GGUF_ARRAY) return LLM_ERR_TYPE_MISMATCH;
    *out = &kv->val;
    return LLM_OK;
}

/* Decodes element i of a fixed-width array into a scalar value. */
static llm_status arr_elem(const gguf_value *arr, uint64_t i, gguf_value *elem) {
    if (!arr || arr->type != GGUF_ARRAY) return LLM_ERR_TYPE_MISMATCH;
    size_t sz = vtype_size(arr->v.arr.elem_type);
    if (sz == 0) return LLM_ERR_TYPE_MISMATCH;
    if (i >= arr->v.arr.count) return LLM_ERR_INVALID_ARGUMENT;
    memset(elem, 0, sizeof *elem);
    elem->type = arr->v.arr.elem_type;
    decode_scalar(arr->v.arr.data + (size_t)i * sz, elem);
    return LLM_OK;
}

llm_status gguf_arr_int(const gguf_value *arr, uint64_t i, int64_t *out) {
    gguf_value e;
    llm_status st = arr_elem(arr, i, &e);
    return st ? st : value_int(&e, out);
}

llm_status gguf_arr_float(const gguf_value *arr, uint64_t i, double *out) {
    gguf_value e;
    llm_status st = arr_elem(arr, i, &e);
    return st ? st : value_float(&e, out);
}

llm_status gguf_arr_str(const gguf_value *arr, uint64_t i, gguf_str *out) {
    if (!arr || arr->type != GGUF_ARRAY || arr->v.arr.elem_type != GGUF_STRING) return LLM_ERR_TYPE_MISMATCH;
    if (i >= arr->v.arr.count || !arr->v.arr.strs) return LLM_ERR_INVALID_ARGUMENT;
    *out = arr->v.arr.strs[i];
    return LLM_OK;
}
