/* Model loading (file, memory, reader), metadata queries and freeing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "memory/memory.h"

static int report(llm_options *o, float p) {
    return (o && o->progress) ? o->progress(o->progress_ud, p) : 1;
}

/* Touch every page of a mapped file so that loading shows progress and can be cancelled,
 * instead of stalling on page faults during the first forward pass. */
static llm_status prefault(const gguf_source *src, llm_options *o, llm_err *err) {
    if (!o || !o->progress) return LLM_OK;
    const size_t step = 4096, chunk = (size_t)64 << 20;
    volatile unsigned char sink = 0;
    for (size_t off = 0; off < src->size; off += chunk) {
        size_t end = off + chunk < src->size ? off + chunk : src->size;
        for (size_t i = off; i < end; i += step) sink ^= src->data[i];
        if (!report(o, 0.9f * (float)end / (float)src->size))
            return llm_err_set(err, LLM_ERR_ABORTED, "model load aborted by the progress callback");
    }
    (void)sink;
    return LLM_OK;
}

static void model_destroy(llm_model *m) {
    if (!m) return;
    llm_tmpl_free(m->chat_tmpl);
    llm_token_trie_free(m->trie);
    free(m->eog_ids);
    llm_tokenizer_free(m->tok);
    llm_arch_free(m->arch);
    gguf_free(m->gguf);
    gguf_source_close(&m->source);
    free((char *)m->arch_name);
    free((char *)m->name);
    m->h.magic = 0;
    free(m);
}

/* The x16 copies for the FAST decode kernels (lib/model/repack.c). Without memory for them the
 * model still loads, with the plain kernels. */
static llm_status repack(llm_model *m, llm_err *err) {
    llm_err rerr;
    llm_err_clear(&rerr);
    const int64_t t0 = llm_now_ns();
    /* for the path contexts will take (with an invalid LLM_CPU_ISA, which every context refuses,
     * the best one: nothing is lost but the copies' memory) */
    llm_isa isa;
    (void)llm_cpu_isa_chosen(&isa, &rerr);
    llm_err_clear(&rerr);
    const llm_status st = llm_arch_repack(m->arch, isa, m->source.is_mapped, llm_online_cores(), &rerr);
    if (st == LLM_ERR_OUT_OF_MEMORY) {
        llm_log(m, LLM_LOG_WARN, "%s; decoding with the plain kernels", rerr.msg);
        return LLM_OK;
    }
    if (st != LLM_OK) {
        *err = rerr;
        return st;
    }
    const uint64_t b = llm_arch_repacked_bytes(m->arch);
    if (b)
        llm_log(m, LLM_LOG_INFO, "repacked %.1f MiB of weights for the %s kernels in %.0f ms", (double)b / 1048576.0,
                llm_isa_name(isa), (double)(llm_now_ns() - t0) / 1e6);
    return LLM_OK;
}

/* Takes ownership of src (closed on failure). */
static llm_status finish_load(gguf_source *src, llm_options *o, llm_model **out) {
    llm_err err;
    llm_err_clear(&err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    llm_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_source_close(src);
        if (o) llm_fail(&o->h, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating the model");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    m->h.magic = LLM_MAGIC_MODEL;
    m->source = *src;
    if (o) {
        m->log = o->log;
        m->log_ud = o->log_ud;
    }
    llm_status st = gguf_parse(m->source.data, m->source.size, &m->gguf, &err);
    if (st == LLM_OK) st = llm_mem_model_admit(m, o, &err); /* LLM_OPT_MEMORY_LIMIT (lib/memory) */
    if (st == LLM_OK && m->source.is_mapped) st = prefault(&m->source, o, &err);
    if (st == LLM_OK) {
        gguf_str s = {"", 0};
        if (gguf_get_str(m->gguf, "general.architecture", &s) != LLM_OK)
            st = llm_err_set(&err, LLM_ERR_FORMAT, "missing general.architecture");
        else if (!(m->arch_name = llm_memdup_str(s.ptr, s.len)))
            st = llm_err_set(&err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == LLM_OK) {
        gguf_str s = {"", 0};
        gguf_get_str(m->gguf, "general.name", &s);
        if (!(m->name = llm_memdup_str(s.ptr, s.len))) st = llm_err_set(&err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == LLM_OK && !report(o, 0.92f))
        st = llm_err_set(&err, LLM_ERR_ABORTED, "model load aborted by the progress callback");
    /* A file without tensors is a vocabulary (like llama.cpp's ggml-vocab-*.gguf): it loads for
     * the tokenizer, the metadata and the chat template, with m->arch NULL; llm_context_new
     * refuses it. Its architecture need not be one libllm runs. */
    if (st == LLM_OK && m->gguf->n_tensors > 0) st = llm_arch_load(m->gguf, &m->arch, &err);
    if (st == LLM_OK && m->arch && llm_options_value(o, LLM_OPT_REPACK)) st = repack(m, &err);
    if (st == LLM_OK && !report(o, 0.95f))
        st = llm_err_set(&err, LLM_ERR_ABORTED, "model load aborted by the progress callback");
    if (st == LLM_OK) st = llm_tokenizer_new(m->gguf, &m->tok, &err);
    if (st == LLM_OK && m->arch && llm_tokenizer_n_vocab(m->tok) < llm_arch_hparams(m->arch)->n_vocab)
        st = llm_err_set(&err, LLM_ERR_FORMAT, "the tokenizer has %d tokens but the model's vocabulary is %d",
                         (int)llm_tokenizer_n_vocab(m->tok), (int)llm_arch_hparams(m->arch)->n_vocab);
    if (st == LLM_OK) st = llm_model_chat_init(m, o, &err);
    if (st == LLM_OK && !report(o, 1.0f))
        st = llm_err_set(&err, LLM_ERR_ABORTED, "model load aborted by the progress callback");
    if (st != LLM_OK) {
        if (o) llm_fail(&o->h, st, "%s", err.msg);
        if (m->log) m->log(m->log_ud, LLM_LOG_ERROR, err.msg);
        model_destroy(m);
        return st;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    llm_log(m, LLM_LOG_INFO, "loaded %s model '%s': %" PRIu64 " parameters, %d tensors, chat template: %s, %.0f ms",
            m->arch_name, m->name, llm_arch_n_params(m->arch), (int)m->gguf->n_tensors, m->chat_source,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    *out = m;
    return LLM_OK;
}

static llm_status check_out(llm_options *o, llm_model **out) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    if (!out) return o ? llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "model out-parameter is NULL")
                       : LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (o) llm_err_clear(&o->h.err);
    return LLM_OK;
}

static llm_status source_failed(llm_options *o, const llm_err *err) {
    if (o) llm_fail(&o->h, err->code, "%s", err->msg);
    if (o && o->log) o->log(o->log_ud, LLM_LOG_ERROR, err->msg);
    return err->code;
}

llm_status llm_model_load_file(const char *path, llm_options *o, llm_model **out) {
    llm_status st = check_out(o, out);
    if (st != LLM_OK) return st;
    if (!path) return o ? llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "path is NULL") : LLM_ERR_INVALID_ARGUMENT;
    gguf_source src;
    llm_err err;
    llm_err_clear(&err);
    int use_mmap = (int)llm_options_value(o, LLM_OPT_USE_MMAP);
    if ((st = gguf_source_open_file(path, use_mmap, &src, &err)) != LLM_OK) return source_failed(o, &err);
    return finish_load(&src, o, out);
}

llm_status llm_model_load_memory(const void *data, size_t size, llm_options *o, llm_model **out) {
    llm_status st = check_out(o, out);
    if (st != LLM_OK) return st;
    if (!data && size)
        return o ? llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "data is NULL") : LLM_ERR_INVALID_ARGUMENT;
    gguf_source src;
    llm_err err;
    llm_err_clear(&err);
    if ((st = gguf_source_from_memory(data, size, &src, &err)) != LLM_OK) return source_failed(o, &err);
    return finish_load(&src, o, out);
}

/* Reading through a reader is the first 90% of the load; parsing and binding the rest. */
static int scaled_progress(void *ud, float p) { return report(ud, 0.9f * p); }

llm_status llm_model_load_reader(llm_read_fn read, llm_seek_fn seek, llm_size_fn size, void *user_data,
                                 llm_options *o, llm_model **out) {
    llm_status st = check_out(o, out);
    if (st != LLM_OK) return st;
    if (!read || !size)
        return o ? llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "read and size callbacks are required")
                 : LLM_ERR_INVALID_ARGUMENT;
    gguf_source src;
    llm_err err;
    llm_err_clear(&err);
    st = gguf_source_from_reader(read, seek, size, user_data, (o && o->progress) ? scaled_progress : NULL, o,
                                 &src, &err);
    if (st != LLM_OK) return source_failed(o, &err);
    return finish_load(&src, o, out);
}

void llm_model_free(llm_model *m) {
    if (!m || m->h.magic != LLM_MAGIC_MODEL) return;
    model_destroy(m);
}

static int valid(const llm_model *m) { return m && m->h.magic == LLM_MAGIC_MODEL; }

const char *llm_model_architecture(const llm_model *m) { return valid(m) ? m->arch_name : ""; }
const char *llm_model_name(const llm_model *m) { return valid(m) ? m->name : ""; }
uint64_t llm_model_n_params(const llm_model *m) { return valid(m) ? llm_arch_n_params(m->arch) : 0; }

uint64_t llm_model_repacked_bytes(const llm_model *m) { return valid(m) ? llm_arch_repacked_bytes(m->arch) : 0; }

uint64_t llm_model_size_bytes(const llm_model *m) {
    if (!valid(m)) return 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) total += m->gguf->tensors[i].nbytes;
    return total;
}

/* A vocabulary-only model (m->arch NULL) has the tokenizer's vocabulary and no network: 0 for the
 * network's sizes. */
int32_t llm_model_n_vocab(const llm_model *m) {
    if (!valid(m)) return 0;
    return m->arch ? llm_arch_hparams(m->arch)->n_vocab : llm_tokenizer_n_vocab(m->tok);
}
int32_t llm_model_n_ctx_train(const llm_model *m) {
    return valid(m) && m->arch ? llm_arch_hparams(m->arch)->n_ctx_train : 0;
}
int32_t llm_model_n_embd(const llm_model *m) { return valid(m) && m->arch ? llm_arch_hparams(m->arch)->n_embd : 0; }
int32_t llm_model_n_layer(const llm_model *m) { return valid(m) && m->arch ? llm_arch_hparams(m->arch)->n_layer : 0; }

int32_t llm_model_meta_count(const llm_model *m) { return valid(m) ? (int32_t)m->gguf->n_kv : 0; }

const char *llm_model_meta_key(const llm_model *m, int32_t index) {
    if (!valid(m) || index < 0 || (uint64_t)index >= m->gguf->n_kv) return NULL;
    return m->gguf->kv[index].key_z;
}

llm_status llm_model_meta_int(const llm_model *m, const char *key, int64_t *value) {
    if (!valid(m) || !key || !value) return LLM_ERR_INVALID_ARGUMENT;
    return gguf_get_int(m->gguf, key, value);
}

llm_status llm_model_meta_float(const llm_model *m, const char *key, double *value) {
    if (!valid(m) || !key || !value) return LLM_ERR_INVALID_ARGUMENT;
    return gguf_get_float(m->gguf, key, value);
}

/* Copies n bytes and a NUL when they fit; reports the length either way. */
llm_status llm_copy_out(const char *src, size_t n, char *buffer, size_t capacity, size_t *needed) {
    if (needed) *needed = n;
    if (!buffer || capacity < n + 1) {
        if (buffer && capacity > 0) buffer[0] = '\0';
        return LLM_ERR_BUFFER_TOO_SMALL;
    }
    if (n) memcpy(buffer, src, n);
    buffer[n] = '\0';
    return LLM_OK;
}

llm_status llm_model_meta_str(const llm_model *m, const char *key, char *buffer, size_t capacity, size_t *needed) {
    if (!valid(m) || !key) return LLM_ERR_INVALID_ARGUMENT;
    const gguf_kv *kv = gguf_find_kv(m->gguf, key);
    if (!kv) return LLM_ERR_NOT_FOUND;
    char tmp[64];
    const gguf_value *v = &kv->val;
    switch (v->type) {
    case GGUF_STRING:
        return llm_copy_out(v->v.str.ptr, (size_t)v->v.str.len, buffer, capacity, needed);
    case GGUF_ARRAY:
        return LLM_ERR_TYPE_MISMATCH;
    case GGUF_F32:
    case GGUF_F64:
        snprintf(tmp, sizeof tmp, "%.9g", v->v.f);
        break;
    case GGUF_BOOL:
        snprintf(tmp, sizeof tmp, "%s", v->v.u ? "true" : "false");
        break;
    case GGUF_I8:
    case GGUF_I16:
    case GGUF_I32:
    case GGUF_I64:
        snprintf(tmp, sizeof tmp, "%" PRId64, v->v.i);
        break;
    default:
        snprintf(tmp, sizeof tmp, "%" PRIu64, v->v.u);
        break;
    }
    return llm_copy_out(tmp, strlen(tmp), buffer, capacity, needed);
}
