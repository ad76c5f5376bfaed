/* GGUF writer: streams a GGUF file (version 3, little-endian) to a FILE*, piece by piece, so that
 * tensor data can be produced and written a chunk at a time and never has to be held in memory
 * as a whole.
 *
 * Order of calls: gguf_w_header, then n_kv key/value pairs (gguf_w_kv_copy to copy a parsed one
 * verbatim, gguf_w_kv_u32 for a new one), then n_tensors tensor infos, then gguf_w_pad(alignment)
 * to start the data section, then each tensor's bytes followed by gguf_w_pad(alignment). The
 * offsets given in the tensor infos are the caller's to compute (gguf_align_up helps): each is
 * relative to the data section and must be a multiple of the alignment.
 *
 * Errors are sticky: after the first failed write every call returns the same status without
 * writing, so a sequence of calls needs one check at the end (gguf_w_status). */
#ifndef LLM_GGUF_WRITE_H
#define LLM_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf/gguf.h"
#include "util/common.h"

typedef struct gguf_writer {
    FILE *f;
    const char *path; /* for error messages (may be NULL) */
    uint64_t pos;     /* bytes written so far */
    llm_status st;    /* first failure, LLM_OK while none */
    llm_err *err;     /* receives the first failure's message (may be NULL) */
} gguf_writer;

void gguf_w_init(gguf_writer *w, FILE *f, const char *path, llm_err *err);
llm_status gguf_w_status(const gguf_writer *w);

/* Raw bytes. */
llm_status gguf_w_bytes(gguf_writer *w, const void *data, size_t n);
/* Zero bytes up to the next multiple of alignment (> 0) of the position. */
llm_status gguf_w_pad(gguf_writer *w, uint64_t alignment);

llm_status gguf_w_header(gguf_writer *w, uint64_t n_tensors, uint64_t n_kv);

/* A key/value pair of a parsed file, written with the same key, type and value (every value
 * type, arrays of any element type and nesting included). src is the file kv belongs to (its
 * buffer bounds the raw array contents that are copied). */
llm_status gguf_w_kv_copy(gguf_writer *w, const gguf_file *src, const gguf_kv *kv);
/* A new pair of type U32 with a NUL-terminated key. */
llm_status gguf_w_kv_u32(gguf_writer *w, const char *key, uint32_t value);

/* One tensor info. ne[0..n_dims) are the dimensions, ne[0] the contiguous one. */
llm_status gguf_w_tensor_info(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne,
                              uint32_t type, uint64_t offset);

/* Where a parsed pair's value is encoded in src's buffer (just after its type tag) and how many
 * bytes it takes (scalars, strings, arrays of any nesting); LLM_ERR_FORMAT when it would run
 * past the buffer. */
llm_status gguf_kv_encoding(const gguf_file *src, const gguf_kv *kv, const uint8_t **data, uint64_t *size,
                            llm_err *err);

static inline uint64_t gguf_align_up(uint64_t x, uint64_t a) { return a ? (x + a - 1) / a * a : x; }

#endif
