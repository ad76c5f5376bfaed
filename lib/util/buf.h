/* A growable byte buffer, always NUL-terminated after its contents. */
#ifndef LLM_UTIL_BUF_H
#define LLM_UTIL_BUF_H

#include <stddef.h>

typedef struct llm_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} llm_buf;

/* Return 0 on success, -1 on out of memory (the buffer is unchanged then). */
int llm_buf_append(llm_buf *b, const char *s, size_t n);
int llm_buf_append_str(llm_buf *b, const char *s);
/* Drop the first n bytes. */
void llm_buf_consume(llm_buf *b, size_t n);
void llm_buf_clear(llm_buf *b);
void llm_buf_free(llm_buf *b);
/* A NUL-terminated malloc'd copy of n bytes (NULL on out of memory; p may be NULL when n is 0). */
char *llm_memdup_str(const void *p, size_t n);

#endif
