/* Load-time repacking of the weight matrices into the x16 layout (kernels/cpu/x16.h) that the
 * FAST decode kernels of the CPU path read 16 rows at a time.
 *
 * Which matrices: the ones the forward pass multiplies (per layer q, k, v, o, gate, up, down, and
 * the output head) whose type has a 16-row kernel on the instruction-set path contexts will use
 * (the best one of this CPU, or the one LLM_CPU_ISA forces). Views of a fused matrix (Phi-3's
 * attn_qkv, gate/up) are repacked view by view. The token embedding keeps the file layout: it is
 * read one row per token. The copies are one aligned allocation owned by the model; they do not
 * change results (the 16-row kernels give the bits of the plain ones), only speed and memory.
 *
 * Memory: the copy is as large as the matrices it holds. When the file is mapped, the mapped
 * pages of those matrices are released afterwards (madvise MADV_DONTNEED: the kernel drops them
 * from this process; a later read, e.g. by an EXACT context or another path, faults them in again
 * from the file), so the resident size stays about the model's size. The packing runs on up to 8
 * threads. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/cpu/x16.h"
#include "model/model_internal.h"

#define REPACK_MAX_THREADS 8

/* Every matrix the forward pass multiplies (the output head last). */
static int list_matrices(llm_arch_model *m, llm_matrix **out, int cap) {
    int n = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        llm_layer *L = &m->layers[il];
        llm_matrix *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            if (ms[i]->data && n < cap) out[n++] = ms[i];
    }
    if (m->output.data && n < cap) out[n++] = &m->output;
    return n;
}

typedef struct pack_work {
    llm_matrix **mats;
    int n;
    const size_t *offs; /* byte offset of each matrix's copy in buf */
    const int64_t *first; /* first group of each matrix in the numbering of all groups */
    int64_t groups;     /* all of them */
    uint8_t *buf;
} pack_work;

/* Groups [g0, g1) of the numbering of all matrices' groups (in list order). */
static void pack_range(const pack_work *w, int64_t g0, int64_t g1) {
    for (int i = 0; i < w->n && g0 < g1; i++) {
        const llm_matrix *mt = w->mats[i];
        const int64_t ng = (mt->rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS, a = w->first[i], b = a + ng;
        if (g1 <= a || g0 >= b) continue;
        const int64_t lo = g0 > a ? g0 - a : 0, hi = (g1 < b ? g1 : b) - a;
        llm_x16_pack(mt->type, mt->data, mt->row_bytes, mt->rows, mt->cols, w->buf + w->offs[i], lo, hi);
    }
}

/* One thread's share of the groups (llm_pool_run). */
static void run_pack(void *arg, int ith, int nth) {
    const pack_work *w = arg;
    pack_range(w, w->groups * ith / nth, w->groups * (ith + 1) / nth);
}

/* Drops the whole pages inside [p, p + n) from this process's mapping of the file. */
static void release_pages(const void *p, size_t n) {
    const long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    const uintptr_t a = ((uintptr_t)p + (uintptr_t)ps - 1) & ~(uintptr_t)(ps - 1);
    const uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(ps - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED); /* advice only: failure changes nothing */
}

llm_status llm_arch_repack(llm_arch_model *m, llm_isa isa, int release_mapped, int n_threads, llm_err *err) {
    const llm_cpu_kernels *k = llm_cpu_kernels_for(isa);
    const int cap = 7 * m->hp.n_layer + 1;
    llm_matrix **all = malloc(sizeof *all * (size_t)cap);
    size_t *offs = malloc(sizeof *offs * (size_t)cap);
    int64_t *first = malloc(sizeof *first * (size_t)cap);
    if (!all || !offs || !first) {
        free(all), free(offs), free(first);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory repacking the weights");
    }
    const int listed = list_matrices(m, all, cap);
    int n = 0;
    size_t total = 0;
    int64_t groups = 0;
    for (int i = 0; i < listed; i++) {
        llm_matrix *mt = all[i];
        const size_t b = llm_x16_bytes(mt->type, mt->rows, mt->cols);
        if (!b || !llm_cpu_fast_dot16(k, mt->type) || total > SIZE_MAX - b - 64) continue;
        all[n] = mt;
        offs[n] = total;
        first[n] = groups;
        total += (b + 63) & ~(size_t)63;
        groups += (mt->rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS;
        n++;
    }
    if (n == 0) {
        free(all), free(offs), free(first);
        return LLM_OK;
    }
    uint8_t *buf = aligned_alloc(64, total);
    if (!buf) { /* not fatal: the plain kernels read the file layout */
        free(all), free(offs), free(first);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for the repacked weights (%zu bytes)", total);
    }
    pack_work w = {all, n, offs, first, groups, buf};
    /* a pool of its own for the load (without one, llm_pool_run packs on this thread) */
    llm_pool *pool = llm_pool_new(n_threads < 1 ? 1 : n_threads > REPACK_MAX_THREADS ? REPACK_MAX_THREADS : n_threads);
    llm_pool_run(pool, run_pack, &w);
    llm_pool_free(pool);
    for (int i = 0; i < n; i++) all[i]->x16 = buf + offs[i];
    if (release_mapped)
        for (int i = 0; i < n; i++) release_pages(all[i]->data, (size_t)all[i]->rows * all[i]->row_bytes);
    m->x16_buf = buf;
    m->x16_bytes = total;
    free(all), free(offs), free(first);
    return LLM_OK;
}

uint64_t llm_arch_repacked_bytes(const llm_arch_model *m) { return m ? (uint64_t)m->x16_bytes : 0; }
