/* Contexts: the thread pool and limits under which sessions of one model run. */
#include <stdlib.h>
#include <unistd.h>

#include "api/internal.h"

static int online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 512 ? 512 : (int)n);
}

llm_status llm_context_new(const llm_model *model, llm_options *o, llm_context **out) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    llm_handle_header *eh = o ? &o->h : NULL;
    if (!out) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "context out-parameter is NULL");
    *out = NULL;
    if (!model || model->h.magic != LLM_MAGIC_MODEL) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "invalid model handle");
    int backend = (int)llm_options_value(o, LLM_OPT_BACKEND);
    if (backend != LLM_BACKEND_AUTO && backend != LLM_BACKEND_CPU)
        return llm_fail(eh, LLM_ERR_BACKEND, "backend %d is not available", backend);

    int32_t train = llm_arch_hparams(model->arch)->n_ctx_train;
    int32_t n_ctx = (int32_t)llm_options_value(o, LLM_OPT_CONTEXT_SIZE);
    if (n_ctx == 0) n_ctx = (train > 0 && train < 4096) ? train : 4096;
    if (train > 0 && n_ctx > train)
        llm_log(model, LLM_LOG_WARN, "context size %d exceeds the model's training length %d", (int)n_ctx, (int)train);
    /* The instruction-set path: the best the CPU runs, or a lower one forced by LLM_CPU_ISA (tests
     * use it to run every path; results are bit-identical on all of them). */
    llm_isa isa = llm_isa_best();
    const char *forced = getenv("LLM_CPU_ISA");
    if (forced && *forced) {
        int f = llm_isa_parse(forced);
        if (f < 0)
            return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "LLM_CPU_ISA=%s is not one of scalar, avx2, avx512, amx, neon",
                            forced);
        if (!llm_isa_runnable((llm_isa)f))
            return llm_fail(eh, LLM_ERR_BACKEND, "LLM_CPU_ISA=%s: this CPU cannot run it (best path: %s)", forced,
                            llm_isa_name(isa));
        isa = (llm_isa)f;
    }
    int32_t n_threads = (int32_t)llm_options_value(o, LLM_OPT_THREADS);
    if (n_threads == 0) n_threads = online_cores();

    llm_context *c = calloc(1, sizeof *c);
    if (!c) return llm_fail(eh, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating the context");
    c->h.magic = LLM_MAGIC_CONTEXT;
    c->model = model;
    c->n_ctx = n_ctx;
    c->n_threads = n_threads;
    c->max_sessions = (int32_t)llm_options_value(o, LLM_OPT_MAX_SESSIONS);
    c->pool = llm_pool_new(n_threads);
    if (!c->pool) {
        free(c);
        return llm_fail(eh, LLM_ERR_OUT_OF_MEMORY, "cannot start %d worker threads", (int)n_threads);
    }
    llm_pool_set_isa(c->pool, isa);
    c->isa = isa;
    c->precision = (llm_precision)llm_options_value(o, LLM_OPT_PRECISION);
    llm_pool_set_fast(c->pool, c->precision == LLM_PRECISION_FAST);
    llm_log(model, LLM_LOG_INFO, "context: cpu backend (%s kernels, %s precision; %s), %d threads, %d tokens per session",
            llm_isa_name(isa), c->precision == LLM_PRECISION_FAST ? "fast" : "exact", llm_kernels_blas_info(),
            (int)n_threads, (int)n_ctx);
    *out = c;
    return LLM_OK;
}

void llm_context_free(llm_context *c) {
    if (!c || c->h.magic != LLM_MAGIC_CONTEXT) return;
    if (c->n_sessions > 0) { /* freeing under live sessions would leave them dangling: refuse */
        llm_log(c->model, LLM_LOG_ERROR, "llm_context_free: %d sessions are still open; free them first",
                (int)c->n_sessions);
        return;
    }
    llm_pool_free(c->pool);
    c->h.magic = 0;
    free(c);
}

int32_t llm_context_n_ctx(const llm_context *c) { return c && c->h.magic == LLM_MAGIC_CONTEXT ? c->n_ctx : 0; }
int32_t llm_context_n_threads(const llm_context *c) {
    return c && c->h.magic == LLM_MAGIC_CONTEXT ? c->n_threads : 0;
}
const char *llm_context_isa(const llm_context *c) {
    return c && c->h.magic == LLM_MAGIC_CONTEXT ? llm_isa_name(c->isa) : "";
}

const char *llm_context_backend_name(const llm_context *c) {
    return c && c->h.magic == LLM_MAGIC_CONTEXT ? "cpu" : "";
}
