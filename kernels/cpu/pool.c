/* Thread pool: n-1 worker threads plus the calling thread.
 *
 * Workers sleep on a condition variable between runs (no spinning). A run is published by
 * bumping a generation counter under the mutex and broadcasting; each worker runs its share,
 * then decrements the pending count, and the last one wakes the caller. All state lives in the
 * pool object, so any number of pools may coexist in one process. Concurrent llm_pool_run calls
 * on one pool are serialised by run_lock (the library drives a pool from one thread at a time,
 * this only makes misuse safe rather than racy).
 *
 * Each thread slot also owns a scratch buffer (llm_pool_scratch) that grows on demand and is
 * only touched by the thread running that slot, so it needs no locking. */
#include "kernels/kernels.h"
#include "util/common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct llm_pool_slot {
    float *scratch;
    size_t scratch_n; /* floats */
} llm_pool_slot;

struct llm_pool_worker {
    llm_pool *pool;
    int ith;
    pthread_t thread;
};

struct llm_pool {
    int n_threads;
    pthread_mutex_t run_lock; /* serialises llm_pool_run callers */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   /* workers wait here for a new generation or shutdown */
    pthread_cond_t cv_done;   /* the caller waits here for pending == 0 */
    uint64_t generation;
    int pending;
    int stop;
    void (*fn)(void *arg, int ith, int nth);
    void *arg;
    struct llm_pool_worker *workers; /* n_threads - 1 of them (ith 1 .. n-1) */
    int n_started;
    llm_pool_slot *slots;            /* n_threads */
    const llm_cpu_kernels *kernels;  /* the instruction-set path of every kernel run here */
    int fast;                        /* 8-bit activations allowed (llm_pool_set_fast) */
    void *shared;                    /* llm_pool_shared */
    size_t shared_bytes;
};

static void *worker_main(void *p) {
    struct llm_pool_worker *w = p;
    llm_pool *pool = w->pool;
    /* Generation 0 is the state at creation; a run published before this thread got here
     * (generation > 0 already) must still be taken, so do not read the counter here. */
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->cv_work, &pool->mu);
        if (pool->stop) break;
        seen = pool->generation;
        void (*fn)(void *, int, int) = pool->fn;
        void *arg = pool->arg;
        int nth = pool->n_threads;
        pthread_mutex_unlock(&pool->mu);

        fn(arg, w->ith, nth);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->cv_done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

llm_pool *llm_pool_new(int n_threads) {
    if (n_threads < 1) return NULL;
    llm_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pool->kernels = &llm_kernels_scalar;
    pool->slots = calloc((size_t)n_threads, sizeof *pool->slots);
    pool->workers = n_threads > 1 ? calloc((size_t)(n_threads - 1), sizeof *pool->workers) : NULL;
    if (!pool->slots || (n_threads > 1 && !pool->workers)) {
        free(pool->slots);
        free(pool->workers);
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv_work, NULL);
    pthread_cond_init(&pool->cv_done, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].ith = i + 1;
        if (pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]) != 0) {
            llm_pool_free(pool);
            return NULL;
        }
        pool->n_started++;
    }
    return pool;
}

void llm_pool_free(llm_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_started; i++) pthread_join(pool->workers[i].thread, NULL);
    pthread_cond_destroy(&pool->cv_done);
    pthread_cond_destroy(&pool->cv_work);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->run_lock);
    for (int i = 0; i < pool->n_threads; i++) free(pool->slots[i].scratch);
    free(pool->shared);
    free(pool->slots);
    free(pool->workers);
    free(pool);
}

void llm_pool_set_isa(llm_pool *pool, llm_isa isa) {
    if (pool) pool->kernels = llm_cpu_kernels_for(isa);
}

void llm_pool_set_fast(llm_pool *pool, int fast) {
    if (pool) pool->fast = fast != 0;
}

int llm_pool_fast(const llm_pool *pool) { return pool ? pool->fast : 0; }

const llm_cpu_kernels *llm_pool_kernels(const llm_pool *pool) {
    return pool ? pool->kernels : &llm_kernels_scalar;
}

int llm_pool_size(const llm_pool *pool) { return pool ? pool->n_threads : 1; }

void llm_pool_run(llm_pool *pool, void (*fn)(void *arg, int ith, int nth), void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);

    fn(arg, 0, pool->n_threads);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->cv_done, &pool->mu);
    pool->fn = NULL;
    pool->arg = NULL;
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_unlock(&pool->run_lock);
}

float *llm_pool_scratch(llm_pool *pool, int ith, size_t n_floats) {
    if (!pool || ith < 0 || ith >= pool->n_threads) return NULL;
    llm_pool_slot *s = &pool->slots[ith];
    if (s->scratch_n < n_floats) {
        size_t want = n_floats + n_floats / 4; /* some headroom against repeated growth */
        size_t bytes;
        if (!llm_mul_ok(want, sizeof(float), &bytes)) return NULL;
        bytes = (bytes + 63) & ~(size_t)63;
        void *p = aligned_alloc(64, bytes);
        if (!p) return NULL;
        free(s->scratch);
        s->scratch = p;
        s->scratch_n = bytes / sizeof(float);
    }
    return s->scratch;
}

void *llm_pool_shared(llm_pool *pool, size_t bytes) {
    if (!pool) return NULL;
    if (pool->shared_bytes < bytes) {
        size_t want = bytes + bytes / 4;
        if (want < bytes) return NULL;
        want = (want + 63) & ~(size_t)63;
        if (want < bytes) return NULL;
        void *p = aligned_alloc(64, want);
        if (!p) return NULL;
        free(pool->shared);
        pool->shared = p;
        pool->shared_bytes = want;
    }
    return pool->shared;
}
