/* The bytes of a GGUF file, wherever they come from: a mapped or read file, a copied memory
 * buffer, or a user reader. The parser only ever sees (data, size). */
#ifndef LLM_GGUF_SOURCE_H
#define LLM_GGUF_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

typedef struct gguf_source {
    const uint8_t *data; /* size bytes; NULL when size is 0 */
    size_t size;
    int is_mapped;       /* data is an mmap of map_size bytes */
    void *owned;         /* heap buffer to free, or the mapping */
    size_t map_size;
} gguf_source;

/* Maps the file read-only when use_mmap, else reads it into a heap buffer. LLM_ERR_IO names the
 * path and the system's reason. */
llm_status gguf_source_open_file(const char *path, int use_mmap, gguf_source *out, llm_err *err);
/* Copies size bytes so the caller may free data afterwards. */
llm_status gguf_source_from_memory(const void *data, size_t size, gguf_source *out, llm_err *err);
/* Reads everything through the callbacks into a heap buffer, in chunks. seek (optional) rewinds
 * to 0 first; size (optional) gives the total, else the reader is read until it returns 0.
 * progress (optional) gets the fraction read after each chunk; returning 0 aborts with
 * LLM_ERR_ABORTED. */
llm_status gguf_source_from_reader(llm_read_fn read, llm_seek_fn seek, llm_size_fn size, void *user_data,
                                   llm_progress_fn progress, void *progress_ud, gguf_source *out, llm_err *err);
void gguf_source_close(gguf_source *src); /* accepts NULL and a zeroed source; leaves it zeroed */

#endif
