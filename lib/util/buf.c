#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

int llm_buf_append(llm_buf *b, const char *s, size_t n) {
    if (n > (size_t)-1 / 2 - b->len) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int llm_buf_append_str(llm_buf *b, const char *s) { return llm_buf_append(b, s, strlen(s)); }

void llm_buf_consume(llm_buf *b, size_t n) {
    if (n >= b->len) {
        llm_buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void llm_buf_clear(llm_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void llm_buf_free(llm_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *llm_memdup_str(const void *p, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        if (n) memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}
