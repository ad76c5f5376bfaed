/* Reading a whole file for a test: one helper for the tests that load text or GGUF bytes. */
#ifndef LLM_TESTS_READ_FILE_H
#define LLM_TESTS_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>

/* The contents of path, NUL-terminated, in a malloc'd buffer (free it), with *len set to the byte
 * count; NULL when the file cannot be opened, sized or the buffer allocated. */
static inline char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        const long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

#endif
