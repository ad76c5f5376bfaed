/* GGUF container parser. Works on a byte buffer holding the whole file (mapped, copied or read
 * through a reader); every offset, count and length is checked against the buffer size before
 * use. The parsed structure points into the buffer, which must outlive it. */
#ifndef LLM_GGUF_H
#define LLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11,
    GGUF_F64 = 12
} gguf_vtype;

typedef struct gguf_str {
    const char *ptr; /* not NUL-terminated; points into the file buffer */
    uint64_t len;
} gguf_str;

typedef struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u;  /* U8/U16/U32/U64/BOOL */
        int64_t i;   /* I8/I16/I32/I64 */
        double f;    /* F32/F64 */
        gguf_str str;
        struct {
            gguf_vtype elem_type;
            uint64_t count;
            const uint8_t *data; /* first element in the file buffer */
            gguf_str *strs;      /* for string arrays: count entries (owned by gguf_file) */
        } arr;
    } v;
} gguf_value;

typedef struct gguf_kv {
    gguf_str key;
    char *key_z; /* NUL-terminated copy of key (owned) */
    gguf_value val;
} gguf_kv;

typedef struct gguf_tensor {
    char *name;         /* NUL-terminated copy (owned) */
    uint32_t n_dims;    /* 1..4 */
    int64_t ne[4];      /* elements per dimension, ne[0] contiguous; unused dims = 1 */
    uint32_t type;      /* llm_dtype id (see kernels/dtype.h) */
    uint64_t offset;    /* relative to the data section */
    const void *data;   /* absolute pointer into the file buffer */
    size_t nbytes;
} gguf_tensor;

typedef struct gguf_file {
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset; /* start of the tensor data section in the buffer */
    const uint8_t *base;
    size_t size;
} gguf_file;

/* Parse a whole GGUF file held in data[0..size). On failure returns LLM_ERR_FORMAT (malformed,
 * truncated: the message names the failed check and the offset), LLM_ERR_UNSUPPORTED (version,
 * tensor type), or LLM_ERR_OUT_OF_MEMORY, and *out is NULL. */
llm_status gguf_parse(const uint8_t *data, size_t size, gguf_file **out, llm_err *err);
void gguf_free(gguf_file *f); /* accepts NULL */

/* Lookup. NULL when absent. */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Integers of any width/sign and bool convert to int64 (u64 above INT64_MAX is a
 * type mismatch); F32/F64 to double (an integer value is also accepted as float). Return LLM_OK,
 * LLM_ERR_NOT_FOUND or LLM_ERR_TYPE_MISMATCH. */
llm_status gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
llm_status gguf_get_float(const gguf_file *f, const char *key, double *out);
llm_status gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
llm_status gguf_get_arr(const gguf_file *f, const char *key, const gguf_value **out); /* type must be ARRAY */

/* Element i of a numeric array as int64/double (bounds and type checked). */
llm_status gguf_arr_int(const gguf_value *arr, uint64_t i, int64_t *out);
llm_status gguf_arr_float(const gguf_value *arr, uint64_t i, double *out);
/* Element i of a top-level string array (O(1) through the index). LLM_ERR_TYPE_MISMATCH when the
 * elements are not strings, LLM_ERR_INVALID_ARGUMENT when i is out of range. */
llm_status gguf_arr_str(const gguf_value *arr, uint64_t i, gguf_str *out);

const char *gguf_vtype_name(gguf_vtype t);

#endif
