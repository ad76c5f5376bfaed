/* The CHECK of the GGUF tests: a failed condition is printed with its location and counted in
 * g_fail, and the test goes on; main reports g_fail at the end. */
#ifndef LLM_TESTS_GGUF_CHECK_H
#define LLM_TESTS_GGUF_CHECK_H

#include <stdio.h>

static int g_fail = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            g_fail++;                                                            \
        }                                                                        \
    } while (0)

#endif
