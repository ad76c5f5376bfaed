/* A tiny test harness: CHECK records a failure with its location and goes on, so that one run
 * reports every broken expectation; check_summary prints the closing line ctest logs show. */
#ifndef LLM_TESTS_CHECK_H
#define LLM_TESTS_CHECK_H

#include <stdio.h>

static int g_checks_passed, g_checks_failed;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (cond) {                                                               \
            g_checks_passed++;                                                    \
        } else {                                                                  \
            g_checks_failed++;                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, g_checks_passed, g_checks_failed);
    return g_checks_failed ? 1 : 0;
}

#endif
