/* llm_quantize: copy a GGUF model with its weight matrices converted to another type.
 *
 * The input is parsed (not loaded as a model: any architecture works); every matrix (a tensor
 * of 2 or more dimensions whose type the kernels can dequantize) is read a chunk of rows at a
 * time, each row dequantized to f32 (llm_dequantize_row) and encoded in the planned type
 * (lib/quantize), and written at once, so memory use is a few chunks, whatever the model's size.
 * Rows are spread over a thread pool; each row is encoded on its own, so the output does not
 * depend on the thread count. Everything else (1-D tensors, metadata) is copied verbatim, except
 * general.file_type, which is set (or added) for the target. The output is written to
 * "OUT.part" and renamed to OUT when complete, so a failure never leaves a truncated OUT (and
 * OUT may be the input file itself). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "gguf/gguf_write.h"
#include "quantize/quantize.h"

#define CHUNK_BYTES ((size_t)16 << 20) /* output bytes encoded per pool run (at least one row) */

typedef struct plan_entry {
    uint32_t type;   /* output type */
    int convert;     /* 1: rows re-encoded, 0: bytes copied */
    uint64_t offset; /* in the output's data section */
    size_t nbytes;
} plan_entry;

typedef struct qjob {
    llm_options *o;
    const gguf_file *in;
    plan_entry *plan;
    llm_pool *pool;
    gguf_source src;
    FILE *f;
    char *tmp_path;
    uint8_t *chunk;
    size_t chunk_cap;
    uint64_t total_bytes, done_bytes; /* input tensor bytes, for progress */
    llm_err err;
} qjob;

static void qlog(llm_options *o, llm_log_level level, const char *fmt, ...) LLM_PRINTF(3, 4);
static void qlog(llm_options *o, llm_log_level level, const char *fmt, ...) {
    if (!o || !o->log) return;
    char msg[LLM_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->log(o->log_ud, level, msg);
}

static const char *type_name(uint32_t t) {
    const llm_dtype_info *ti = llm_dtype_get(t);
    return ti ? ti->name : "?";
}

static int64_t tensor_rows(const gguf_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* ---- the rows of one chunk, spread over the pool ---- */
typedef struct rows_task {
    const uint8_t *src;    /* first input row of the chunk */
    size_t src_row_bytes;
    uint32_t src_type;
    uint8_t *dst;          /* first output row of the chunk */
    size_t dst_row_bytes;
    uint32_t dst_type;
    int64_t cols, rows;
    llm_pool *pool;
    int failed[64];        /* per thread: scratch allocation failed */
} rows_task;

static void rows_worker(void *arg, int ith, int nth) {
    rows_task *t = arg;
    const int64_t r0 = t->rows * ith / nth, r1 = t->rows * (ith + 1) / nth;
    if (r0 >= r1) return;
    float *row = llm_pool_scratch(t->pool, ith, (size_t)t->cols);
    if (!row) {
        t->failed[ith % 64] = 1;
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        llm_dequantize_row(t->src_type, t->src + (size_t)r * t->src_row_bytes, row, t->cols);
        llm_quantize_row(t->dst_type, row, t->dst + (size_t)r * t->dst_row_bytes, t->cols);
    }
}

static int report(qjob *j) {
    llm_options *o = j->o;
    if (!o || !o->progress) return 1;
    const float p = j->total_bytes ? (float)((double)j->done_bytes / (double)j->total_bytes) : 1.0f;
    return o->progress(o->progress_ud, p < 1.0f ? p : 1.0f);
}

static llm_status aborted(qjob *j) {
    return llm_err_set(&j->err, LLM_ERR_ABORTED, "quantization aborted by the progress callback");
}

static llm_status convert_tensor(qjob *j, gguf_writer *w, const gguf_tensor *t, const plan_entry *pe) {
    const int64_t rows = tensor_rows(t), cols = t->ne[0];
    rows_task task;
    memset(&task, 0, sizeof task);
    task.src_type = t->type;
    task.src_row_bytes = llm_dtype_row_bytes(t->type, cols);
    task.dst_type = pe->type;
    task.dst_row_bytes = llm_dtype_row_bytes(pe->type, cols);
    task.cols = cols;
    task.pool = j->pool;
    int64_t chunk_rows = (int64_t)(CHUNK_BYTES / task.dst_row_bytes);
    if (chunk_rows < 1) chunk_rows = 1;
    if (chunk_rows > rows) chunk_rows = rows;
    const size_t need = (size_t)chunk_rows * task.dst_row_bytes;
    if (need > j->chunk_cap) {
        uint8_t *p = realloc(j->chunk, need);
        if (!p) return llm_err_set(&j->err, LLM_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes)", need);
        j->chunk = p;
        j->chunk_cap = need;
    }
    for (int64_t r = 0; r < rows; r += chunk_rows) {
        const int64_t n = rows - r < chunk_rows ? rows - r : chunk_rows;
        task.src = (const uint8_t *)t->data + (size_t)r * task.src_row_bytes;
        task.dst = j->chunk;
        task.rows = n;
        llm_pool_run(j->pool, rows_worker, &task);
        for (int i = 0; i < 64; i++)
            if (task.failed[i]) return llm_err_set(&j->err, LLM_ERR_OUT_OF_MEMORY, "out of memory (row buffers)");
        if (gguf_w_bytes(w, j->chunk, (size_t)n * task.dst_row_bytes) != LLM_OK) return w->st;
        j->done_bytes += (uint64_t)n * task.src_row_bytes;
        if (!report(j)) return aborted(j);
    }
    return LLM_OK;
}

/* ---- the plan ---- */
static llm_status make_plan(qjob *j, const llm_quant_target *target, uint64_t alignment) {
    const gguf_file *in = j->in;
    int64_t n_layer = 0;
    gguf_str arch = {"", 0};
    if (gguf_get_str(in, "general.architecture", &arch) == LLM_OK && arch.len < 200) {
        char key[256];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        if (gguf_get_int(in, key, &n_layer) != LLM_OK) n_layer = 0;
    }
    const int tied = gguf_find_tensor(in, "output.weight") == NULL;
    j->plan = calloc(in->n_tensors ? in->n_tensors : 1, sizeof *j->plan);
    if (!j->plan) return llm_err_set(&j->err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    uint64_t off = 0;
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor *t = &in->tensors[i];
        plan_entry *pe = &j->plan[i];
        const llm_dtype_info *ti = llm_dtype_get(t->type);
        pe->type = t->type;
        pe->nbytes = t->nbytes;
        if (t->n_dims >= 2 && ti && ti->computable && t->ne[0] > 0) {
            const uint32_t want = llm_quant_choose(target, t->name, n_layer, tied);
            const uint32_t got = llm_quant_fit(want, t->ne[0]);
            if (got != want)
                qlog(j->o, LLM_LOG_WARN, "%s: row length %" PRId64 " is not a multiple of the %s block size (%u): using %s",
                     t->name, t->ne[0], type_name(want), llm_dtype_get(want)->block_size, type_name(got));
            pe->type = got;
            pe->convert = 1;
            pe->nbytes = llm_dtype_row_bytes(got, t->ne[0]) * (size_t)tensor_rows(t);
        } else if (t->n_dims >= 2) {
            qlog(j->o, LLM_LOG_WARN, "%s: type %s cannot be converted: copied as it is", t->name, type_name(t->type));
        }
        j->total_bytes += t->nbytes;
        pe->offset = off;
        off = gguf_align_up(off + pe->nbytes, alignment);
    }
    return LLM_OK;
}

static llm_status write_file(qjob *j, const llm_quant_target *target) {
    const gguf_file *in = j->in;
    const uint64_t alignment = in->alignment ? in->alignment : 32;
    llm_status st = make_plan(j, target, alignment);
    if (st != LLM_OK) return st;

    gguf_writer w;
    gguf_w_init(&w, j->f, j->tmp_path, &j->err);
    const int has_ftype = gguf_find_kv(in, "general.file_type") != NULL;
    gguf_w_header(&w, in->n_tensors, in->n_kv + (has_ftype ? 0 : 1));
    for (uint64_t i = 0; i < in->n_kv && w.st == LLM_OK; i++) {
        if (strcmp(in->kv[i].key_z, "general.file_type") == 0)
            gguf_w_kv_u32(&w, "general.file_type", target->file_type);
        else
            gguf_w_kv_copy(&w, in, &in->kv[i]);
    }
    if (!has_ftype) gguf_w_kv_u32(&w, "general.file_type", target->file_type);
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor *t = &in->tensors[i];
        gguf_w_tensor_info(&w, t->name, t->n_dims, t->ne, j->plan[i].type, j->plan[i].offset);
    }
    if (gguf_w_pad(&w, alignment) != LLM_OK) return w.st;
    const uint64_t data_start = w.pos;
    if (!report(j)) return aborted(j);

    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor *t = &in->tensors[i];
        const plan_entry *pe = &j->plan[i];
        if (w.pos - data_start != pe->offset)
            return llm_err_set(&j->err, LLM_ERR_INTERNAL, "%s: data offset mismatch", t->name);
        if (pe->convert) {
            if ((st = convert_tensor(j, &w, t, pe)) != LLM_OK) return st;
        } else {
            if (gguf_w_bytes(&w, t->data, t->nbytes) != LLM_OK) return w.st;
            j->done_bytes += t->nbytes;
            if (!report(j)) return aborted(j);
        }
        if (gguf_w_pad(&w, alignment) != LLM_OK) return w.st;
    }
    return LLM_OK;
}

static llm_status fail(llm_options *o, llm_status code, const char *msg) {
    if (o) llm_fail(&o->h, code, "%s", msg);
    qlog(o, LLM_LOG_ERROR, "%s", msg);
    return code;
}

llm_status llm_quantize(const char *in_path, const char *out_path, const char *type, llm_options *o) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    if (o) llm_err_clear(&o->h.err);
    if (!in_path || !out_path || !type) return fail(o, LLM_ERR_INVALID_ARGUMENT, "in_path, out_path and type are required");
    const llm_quant_target *target = llm_quant_target_find(type);
    if (!target) {
        char msg[LLM_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "unknown quantization type '%.64s' (valid: %s)", type, llm_quant_target_names());
        return fail(o, LLM_ERR_INVALID_ARGUMENT, msg);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    qjob j;
    memset(&j, 0, sizeof j);
    j.o = o;
    llm_err_clear(&j.err);
    gguf_file *in = NULL;
    llm_status st = gguf_source_open_file(in_path, (int)llm_options_value(o, LLM_OPT_USE_MMAP), &j.src, &j.err);
    if (st == LLM_OK) st = gguf_parse(j.src.data, j.src.size, &in, &j.err);
    j.in = in;
    if (st == LLM_OK) {
        int n_threads = (int)llm_options_value(o, LLM_OPT_THREADS);
        if (n_threads <= 0) n_threads = llm_online_cores();
        if (n_threads > 64) n_threads = 64;
        if (!(j.pool = llm_pool_new(n_threads)))
            st = llm_err_set(&j.err, LLM_ERR_OUT_OF_MEMORY, "cannot start %d worker threads", n_threads);
    }
    if (st == LLM_OK) {
        const size_t n = strlen(out_path);
        if (!(j.tmp_path = malloc(n + 6))) st = llm_err_set(&j.err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            memcpy(j.tmp_path, out_path, n);
            memcpy(j.tmp_path + n, ".part", 6);
        }
    }
    if (st == LLM_OK && !(j.f = fopen(j.tmp_path, "wb")))
        st = llm_err_set(&j.err, LLM_ERR_IO, "cannot create %s: %s", j.tmp_path, strerror(errno));
    if (st == LLM_OK) st = write_file(&j, target);
    if (j.f) {
        if (fclose(j.f) != 0 && st == LLM_OK)
            st = llm_err_set(&j.err, LLM_ERR_IO, "cannot write %s: %s", j.tmp_path, strerror(errno));
        if (st == LLM_OK && rename(j.tmp_path, out_path) != 0)
            st = llm_err_set(&j.err, LLM_ERR_IO, "cannot rename %s to %s: %s", j.tmp_path, out_path, strerror(errno));
        if (st != LLM_OK) remove(j.tmp_path);
    }
    uint64_t in_bytes = 0, out_bytes = 0;
    int n_converted = 0;
    if (st == LLM_OK) {
        for (uint64_t i = 0; i < in->n_tensors; i++) {
            in_bytes += in->tensors[i].nbytes;
            out_bytes += j.plan[i].nbytes;
            n_converted += j.plan[i].convert;
        }
    }
    llm_pool_free(j.pool);
    free(j.chunk);
    free(j.plan);
    free(j.tmp_path);
    gguf_free(in);
    gguf_source_close(&j.src);
    if (st != LLM_OK) return fail(o, st, j.err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    qlog(o, LLM_LOG_INFO, "quantized %s to %s (%s): %d matrices converted, tensor data %.1f MiB -> %.1f MiB, %.1f s",
         in_path, out_path, target->name, n_converted, (double)in_bytes / 1048576.0, (double)out_bytes / 1048576.0,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return LLM_OK;
}
