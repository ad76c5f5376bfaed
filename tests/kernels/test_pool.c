/* Thread pool: every slot runs exactly once per run, runs are complete when llm_pool_run
 * returns, several pools work at once from several threads, scratch memory grows and is kept. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

typedef struct job {
    llm_pool *pool;
    int counts[16];
    int nth_seen[16];
    int scratch_ok[16];
} job;

static void count_fn(void *arg, int ith, int nth) {
    job *j = arg;
    j->counts[ith]++;
    j->nth_seen[ith] = nth;
    /* each slot writes its whole scratch; ASan would catch overlaps or short buffers */
    size_t n = 1000 + 37 * (size_t)ith;
    float *s = llm_pool_scratch(j->pool, ith, n);
    if (s) {
        for (size_t i = 0; i < n; i++) s[i] = (float)ith;
        j->scratch_ok[ith] = ((uintptr_t)s % 64) == 0;
    }
}

static void exercise(int nth, int runs) {
    llm_pool *p = llm_pool_new(nth);
    CHECK(p);
    CHECK(llm_pool_size(p) == nth);
    for (int r = 0; r < runs; r++) {
        job j;
        memset(&j, 0, sizeof j);
        j.pool = p;
        llm_pool_run(p, count_fn, &j);
        for (int i = 0; i < nth; i++) {
            CHECK(j.counts[i] == 1);
            CHECK(j.nth_seen[i] == nth);
            CHECK(j.scratch_ok[i]);
        }
        for (int i = nth; i < 16; i++) CHECK(j.counts[i] == 0);
    }
    llm_pool_free(p);
}

static void *thread_main(void *arg) {
    int nth = (int)(intptr_t)arg;
    exercise(nth, 300);
    return NULL;
}

int main(void) {
    /* NULL pool runs on the caller */
    job j;
    memset(&j, 0, sizeof j);
    llm_pool_run(NULL, count_fn, &j);
    CHECK(j.counts[0] == 1 && j.nth_seen[0] == 1);
    CHECK(llm_pool_size(NULL) == 1);
    CHECK(llm_pool_scratch(NULL, 0, 10) == NULL);
    CHECK(llm_pool_new(0) == NULL);
    llm_pool_free(NULL);

    for (int n = 1; n <= 5; n++) exercise(n, 200);
    /* create/free without any run, and quickly after creation */
    for (int i = 0; i < 50; i++) llm_pool_free(llm_pool_new(3));

    /* several pools driven from several threads at once */
    pthread_t th[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)(i + 1)) == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);

    /* scratch grows and keeps its address while big enough */
    llm_pool *p = llm_pool_new(2);
    float *a = llm_pool_scratch(p, 1, 100);
    CHECK(a);
    CHECK(llm_pool_scratch(p, 1, 50) == a);
    float *b = llm_pool_scratch(p, 1, 1 << 20);
    CHECK(b);
    b[(1 << 20) - 1] = 1.0f;
    CHECK(llm_pool_scratch(p, 2, 10) == NULL); /* out of range slot */
    llm_pool_free(p);
    puts("pool ok");
    return 0;
}
