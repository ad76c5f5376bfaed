/* Thread pool: n-1 worker threads plus the calling thread.
 *
 * Hand-off (why it is not just a condition variable): decode runs ~150 pool runs per token on a
 * small model (one per weight product, attention), each ~100-150 us long, and waking a worker
 * through a condition variable and waiting for it through another cost ~23% of the decode time of
 * Gemma 3 270M on 2 threads (perf: futex wake-ups and the scheduler). So both sides spin first,
 * briefly, on C11 atomics, and only then sleep:
 *
 *  - A run is published by storing fn / arg / pending and then bumping the atomic generation
 *    counter (seq_cst, which includes release; a worker's acquire load of the new generation
 *    therefore sees fn, arg and pending). A worker that finished its previous run spins on the
 *    counter for at most LLM_POOL_SPIN_NS (50 us) with a pause instruction, and starts the new run
 *    without any system call. After that bound it sleeps on cv_work: an idle pool does not spin.
 *  - A worker that is about to sleep counts itself in `sleepers` (under mu) and re-checks the
 *    counter before waiting; the caller, after bumping the counter, broadcasts (under mu) only if
 *    `sleepers` is non-zero. Both are seq_cst, so at least one side sees the other's store (no
 *    lost wake-up), and the mutex orders the re-check against the broadcast.
 *  - Each worker decrements the atomic `pending` when done (release: its results are visible to
 *    the caller's acquire load of 0). The caller runs its own share, spins on `pending` for at most
 *    the same bound, then sleeps on cv_done with the same `caller_waiting` handshake: the worker
 *    that takes pending to 0 signals only when the caller announced that it sleeps.
 *
 * The split of work (fn's ith / nth) is unchanged, so results do not depend on any of this. All
 * state lives in the pool object, so any number of pools may coexist in one process. Concurrent
 * llm_pool_run calls on one pool are serialised by run_lock (the library drives a pool from one
 * thread at a time, this only makes misuse safe rather than racy). A worker touches mu / cv_done
 * after its decrement at most; llm_pool_free joins the workers before destroying them.
 *
 * Each thread slot also owns a scratch buffer (llm_pool_scratch) that grows on demand and is
 * only touched by the thread running that slot, so it needs no locking. */
#include "kernels/kernels.h"
#include "util/common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* The most a worker spins waiting for the next run (and the caller waiting for the workers)
 * before sleeping on a condition variable: 50 microseconds (measured with the clock every 32
 * pauses). Gaps between the runs of a forward pass are a few microseconds; a longer gap (e.g.
 * sampling between tokens) costs one wake-up, as before. Past the bound the thread sleeps: an
 * idle pool costs no CPU after 50 us. Where the cores are oversubscribed (more runnable threads
 * than cores) the spinning takes CPU time from the others, up to 50 us per run and thread. */
#ifndef LLM_POOL_SPIN_NS
#define LLM_POOL_SPIN_NS 50000
#endif
#define LLM_POOL_SPIN_CHECK 32 /* pauses between two reads of the clock */
/* The first part of the spin only pauses; after it the spinning thread calls sched_yield() at
 * each step. On an idle machine yield returns at once (the thread keeps its core), but where the
 * cores are oversubscribed the thread we wait for may be queued behind us, and yielding lets it
 * (or another program) run instead of burning the time slice. */
#ifndef LLM_POOL_PAUSE_NS
#define LLM_POOL_PAUSE_NS 5000
#endif

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One step of a bounded spin (step i, started at *t0): pause, or yield the core past
 * LLM_POOL_PAUSE_NS; 0 once LLM_POOL_SPIN_NS have passed (the caller then sleeps). */
static inline int spin_step(unsigned i, int64_t *t0, int *yielding) {
    if (*yielding || i % LLM_POOL_SPIN_CHECK == 0) {
        const int64_t now = llm_now_ns();
        if (i == 0) {
            *t0 = now;
        } else {
            if (now - *t0 > LLM_POOL_SPIN_NS) return 0;
            if (now - *t0 > LLM_POOL_PAUSE_NS) *yielding = 1;
        }
    }
    if (*yielding)
        sched_yield();
    else
        cpu_relax();
    return 1;
}

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
    pthread_mutex_t mu;       /* guards the sleeps only (the hand-off itself is lock-free) */
    pthread_cond_t cv_work;   /* sleeping workers wait here for a new generation or shutdown */
    pthread_cond_t cv_done;   /* a sleeping caller waits here for pending == 0 */
    _Atomic uint64_t generation;
    _Atomic int pending;
    _Atomic int stop;
    _Atomic int sleepers;       /* workers in (or entering) the cv_work wait */
    _Atomic int caller_waiting; /* the caller is in (or entering) the cv_done wait */
    void (*fn)(void *arg, int ith, int nth); /* written before, read after, the generation bump */
    void *arg;
    struct llm_pool_worker *workers; /* n_threads - 1 of them (ith 1 .. n-1) */
    int n_started;
    llm_pool_slot *slots;            /* n_threads */
    const llm_cpu_kernels *kernels;  /* the instruction-set path of every kernel run here */
    int fast;                        /* 8-bit activations allowed (llm_pool_set_fast) */
    void *shared;                    /* llm_pool_shared */
    size_t shared_bytes;
};

/* Waits (spin, then sleep) until the generation differs from seen or the pool stops; returns the
 * generation seen (its run's fn / arg are then visible), or seen itself on stop. */
static uint64_t wait_work(llm_pool *pool, uint64_t seen) {
    int64_t t0 = 0;
    int yielding = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) return seen;
        const uint64_t g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen) return g;
        if (!spin_step(i, &t0, &yielding)) break;
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1); /* seq_cst: pairs with the caller's bump + load */
    while (!atomic_load(&pool->stop) && atomic_load(&pool->generation) == seen)
        pthread_cond_wait(&pool->cv_work, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return atomic_load(&pool->stop) ? seen : atomic_load(&pool->generation);
}

static void *worker_main(void *p) {
    struct llm_pool_worker *w = p;
    llm_pool *pool = w->pool;
    /* Generation 0 is the state at creation; a run published before this thread got here
     * (generation > 0 already) must still be taken, so do not read the counter here. */
    uint64_t seen = 0;
    for (;;) {
        const uint64_t g = wait_work(pool, seen);
        if (g == seen) break; /* stop */
        seen = g;
        /* Only one run is in flight at a time (the caller waits for pending == 0 before it
         * publishes the next), so fn / arg are those of generation g. */
        pool->fn(pool->arg, w->ith, pool->n_threads);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_seq_cst) == 1 &&
            atomic_load(&pool->caller_waiting)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->cv_done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

llm_pool *llm_pool_new(int n_threads) {
    if (n_threads < 1) return NULL;
    llm_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pool->kernels = &llm_kernels_scalar;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_waiting, 0);
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
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->mu);
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
    /* No worker reads fn / arg / pending now: each finished the previous run (pending was 0). */
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1); /* seq_cst: publishes the above; pairs with sleepers */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv_work);
        pthread_mutex_unlock(&pool->mu);
    }

    fn(arg, 0, pool->n_threads);

    /* spin on pending for at most LLM_POOL_SPIN_NS, then sleep on cv_done */
    int64_t t0 = 0;
    int done = 0, yielding = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0) {
            done = 1;
            break;
        }
        if (!spin_step(i, &t0, &yielding)) break;
    }
    if (!done) {
        pthread_mutex_lock(&pool->mu);
        atomic_store(&pool->caller_waiting, 1); /* seq_cst: pairs with the workers' decrement */
        while (atomic_load(&pool->pending) != 0) pthread_cond_wait(&pool->cv_done, &pool->mu);
        atomic_store(&pool->caller_waiting, 0);
        pthread_mutex_unlock(&pool->mu);
    }
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
