/* Contexts: the thread pool and limits under which sessions of one model run. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "memory/memory.h"

/* Puts the model on the CUDA plugin's device with the most free memory, if it can run there:
 * LLM_OK with c->dev_* set, else the reason in err (LLM_ERR_OUT_OF_MEMORY when the device ran out
 * of memory during the upload, LLM_ERR_BACKEND or LLM_ERR_UNSUPPORTED otherwise). */
static llm_status open_device(llm_context *c, const llm_model *model, llm_err *err) {
    const char *why = "";
    const llm_plugin_api *api = llm_backend_plugin(LLM_BACKEND_CUDA, &why);
    if (!api) return llm_err_set(err, LLM_ERR_BACKEND, "%s", why);
    llm_backend_view v;
    llm_status st = llm_backend_view_build(model->arch, api, &v, err);
    if (st != LLM_OK) return st;
    /* Enough memory: the weights as stored, one session's KV cache (f32) and a margin for the
     * scratch of a 512-token chunk and the runtime's own allocations. The estimate only avoids
     * an upload doomed to fail; an out-of-memory during the upload is still reported cleanly. */
    const llm_hparams *hp = llm_arch_hparams(model->arch);
    const uint64_t kv = (uint64_t)hp->n_layer * (uint64_t)c->n_ctx *
                        ((uint64_t)hp->n_head_kv * (uint64_t)(hp->head_dim_k + hp->head_dim_v)) * 4u;
    const uint64_t need = v.weight_bytes + kv + (256ull << 20);
    int32_t best = -1;
    uint64_t best_free = 0;
    char best_name[128] = "";
    for (int32_t d = 0; d < api->device_count(); d++) {
        char name[128] = "", msg[256] = "";
        uint64_t total = 0, free_b = 0;
        if (api->device_info(d, name, sizeof name, &total, &free_b, msg, sizeof msg) != LLM_OK) continue;
        if (best < 0 || free_b > best_free) {
            best = d;
            best_free = free_b;
            name[sizeof name - 1] = 0;
            memcpy(best_name, name, sizeof best_name);
        }
    }
    if (best < 0) {
        llm_backend_view_free(&v);
        return llm_err_set(err, LLM_ERR_BACKEND, "no usable %s device", api->name);
    }
    if (best_free < need) {
        llm_backend_view_free(&v);
        return llm_err_set(err, LLM_ERR_BACKEND, "%s device %d (%s) has %llu MiB free; the model needs about %llu MiB",
                           api->name, (int)best, best_name, (unsigned long long)(best_free >> 20),
                           (unsigned long long)(need >> 20));
    }
    char msg[LLM_ERRMSG_MAX] = "";
    llm_plugin_model *pm = NULL;
    const int r = api->model_upload(best, &v.view, &pm, msg, sizeof msg);
    llm_backend_view_free(&v);
    msg[sizeof msg - 1] = 0;
    if (r != LLM_OK) {
        st = r == LLM_ERR_OUT_OF_MEMORY ? LLM_ERR_OUT_OF_MEMORY : LLM_ERR_BACKEND;
        return llm_err_set(err, st, "uploading the model to %s device %d (%s): %s", api->name, (int)best, best_name,
                           msg[0] ? msg : "failed");
    }
    c->dev_api = api;
    c->dev_model = pm;
    c->dev_device = best;
    c->backend = LLM_BACKEND_CUDA;
    llm_log(model, LLM_LOG_INFO, "context: %s backend on device %d (%s), %llu MiB of weights", api->name, (int)best,
            best_name, (unsigned long long)(v.weight_bytes >> 20));
    return LLM_OK;
}

llm_status llm_cpu_isa_chosen(llm_isa *isa, llm_err *err) {
    *isa = llm_isa_best();
    const char *forced = getenv("LLM_CPU_ISA");
    if (!forced || !*forced) return LLM_OK;
    const int f = llm_isa_parse(forced);
    if (f < 0)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "LLM_CPU_ISA=%s is not one of scalar, avx2, avx512, amx, neon",
                           forced);
    if (!llm_isa_runnable((llm_isa)f))
        return llm_err_set(err, LLM_ERR_BACKEND, "LLM_CPU_ISA=%s: this CPU cannot run it (best path: %s)", forced,
                           llm_isa_name(*isa));
    *isa = (llm_isa)f;
    return LLM_OK;
}

void llm_context_sizes(const llm_options *o, int32_t n_ctx_train, int32_t *n_ctx, int32_t *n_threads) {
    *n_ctx = (int32_t)llm_options_value(o, LLM_OPT_CONTEXT_SIZE);
    if (*n_ctx == 0) *n_ctx = (n_ctx_train > 0 && n_ctx_train < 4096) ? n_ctx_train : 4096;
    *n_threads = (int32_t)llm_options_value(o, LLM_OPT_THREADS);
    if (*n_threads == 0) *n_threads = llm_online_cores();
}

llm_status llm_context_new(const llm_model *model, llm_options *o, llm_context **out) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    llm_handle_header *eh = o ? &o->h : NULL;
    if (!out) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "context out-parameter is NULL");
    *out = NULL;
    if (!model || model->h.magic != LLM_MAGIC_MODEL) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "invalid model handle");
    if (!model->arch) /* loaded from a file without tensors (api_model.c) */
        return llm_fail(eh, LLM_ERR_UNSUPPORTED,
                        "the model file has no weights (vocabulary only); it can tokenize but not run");
    int backend = (int)llm_options_value(o, LLM_OPT_BACKEND);
    if (backend != LLM_BACKEND_AUTO && backend != LLM_BACKEND_CPU && backend != LLM_BACKEND_CUDA)
        return llm_fail(eh, LLM_ERR_BACKEND, "backend %d is not available", backend);

    int32_t train = llm_arch_hparams(model->arch)->n_ctx_train;
    int32_t n_ctx, n_threads;
    llm_context_sizes(o, train, &n_ctx, &n_threads);
    if (train > 0 && n_ctx > train)
        llm_log(model, LLM_LOG_WARN, "context size %d exceeds the model's training length %d", (int)n_ctx, (int)train);
    llm_isa isa;
    llm_err isa_err;
    if (llm_cpu_isa_chosen(&isa, &isa_err) != LLM_OK) return llm_fail(eh, isa_err.code, "%s", isa_err.msg);

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
    c->backend = LLM_BACKEND_CPU;
    c->kv_type = (int)llm_options_value(o, LLM_OPT_KV_TYPE);
    const llm_hparams *hp = llm_arch_hparams(model->arch);
    if (c->kv_type == LLM_KV_Q8_0 && (hp->head_dim_k % 32 || hp->head_dim_v % 32)) {
        llm_pool_free(c->pool);
        free(c);
        return llm_fail(eh, LLM_ERR_UNSUPPORTED,
                        "a Q8_0 KV cache needs head dimensions that are multiples of 32 (this model: %d and %d)",
                        (int)hp->head_dim_k, (int)hp->head_dim_v);
    }
    if (c->kv_type != LLM_KV_F32 && backend == LLM_BACKEND_CUDA) {
        llm_pool_free(c->pool);
        free(c);
        return llm_fail(eh, LLM_ERR_UNSUPPORTED, "the cuda backend keeps an F32 KV cache (LLM_OPT_KV_TYPE)");
    }
    /* the prefix cache: by default as large as one session's cache */
    const int64_t prefix_opt = (int64_t)llm_options_value(o, LLM_OPT_PREFIX_CACHE);
    const uint64_t prefix_limit =
        prefix_opt >= 0 ? (uint64_t)prefix_opt : llm_kv_bytes_per_token(hp, c->kv_type) * (uint64_t)n_ctx;
    if (prefix_limit > 0 && !(c->prefixes = llm_prefix_cache_new(prefix_limit))) {
        llm_pool_free(c->pool);
        free(c);
        return llm_fail(eh, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating the context");
    }
    if (backend != LLM_BACKEND_CPU && c->kv_type == LLM_KV_F32) {
        llm_err err;
        llm_err_clear(&err);
        llm_status st = open_device(c, model, &err);
        if (st != LLM_OK && backend == LLM_BACKEND_CUDA) {
            llm_prefix_cache_free(c->prefixes);
            llm_pool_free(c->pool);
            free(c);
            return llm_fail(eh, st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_BACKEND, "the cuda backend is not available: %s",
                            err.msg);
        }
        if (st != LLM_OK)
            llm_log(model, LLM_LOG_INFO, "context: cuda backend not used (%s); running on the cpu", err.msg);
    }
    if (c->backend == LLM_BACKEND_CPU)
        llm_log(model, LLM_LOG_INFO, "context: cpu backend (%s kernels, %s precision; %s), %d threads, %d tokens per session",
            llm_isa_name(isa), c->precision == LLM_PRECISION_FAST ? "fast" : "exact", llm_kernels_blas_info(),
            (int)n_threads, (int)n_ctx);
    llm_err mem_err; /* LLM_OPT_MEMORY_LIMIT (lib/memory) */
    if (llm_mem_context_admit(c, o, &mem_err) != LLM_OK) {
        llm_context_free(c);
        return llm_fail(eh, mem_err.code, "%s", mem_err.msg);
    }
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
    if (c->dev_api) c->dev_api->model_free(c->dev_model);
    llm_prefix_cache_free(c->prefixes);
    llm_pool_free(c->pool);
    llm_fwd_scratch_free(&c->batch_scratch);
    llm_mem_context_release(c);
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
    if (!c || c->h.magic != LLM_MAGIC_CONTEXT) return "";
    return llm_backend_name(c->backend);
}

uint64_t llm_context_kv_bytes(const llm_context *c) {
    if (!c || c->h.magic != LLM_MAGIC_CONTEXT) return 0;
    const int64_t b = atomic_load(&((llm_context *)c)->kv_dom.bytes);
    return b > 0 ? (uint64_t)b : 0;
}

void llm_context_clear_prefixes(llm_context *c) {
    if (!c || c->h.magic != LLM_MAGIC_CONTEXT) return;
    llm_prefix_cache_clear(c->prefixes);
}
