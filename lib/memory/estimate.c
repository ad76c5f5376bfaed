/* The memory estimate: see memory.h for what is counted and where each figure comes from. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/x16.h"
#include "memory/memory.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

#define MIB (1024.0 * 1024.0)
#define PER_THREAD 65536u  /* a worker's stack pages and malloc arena */
#define PER_LAYER 512u     /* the bound layer (struct llm_layer) */
/* Rows of a mapped token embedding that reading tokens brings back (distinct tokens of a
 * context: independent of the context size, so that the model's bytes are too) */
#define EMBD_ROWS 1024u
#define ESTIMATE_V1_SIZE 80u /* sizeof(llm_memory_estimate) of the first header with it */

static uint64_t round_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }
static uint64_t pow2_at_least(uint64_t n, uint64_t from) {
    uint64_t c = from;
    while (c < n) c <<= 1;
    return c;
}
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

void llm_mem_plan_from_options(const llm_options *o, int32_t n_ctx_train, llm_mem_plan *p) {
    memset(p, 0, sizeof *p);
    p->mapped = (int)llm_options_value(o, LLM_OPT_USE_MMAP) != 0;
    p->repack = (int)llm_options_value(o, LLM_OPT_REPACK) != 0;
    llm_err e;
    (void)llm_cpu_isa_chosen(&p->isa, &e); /* an invalid LLM_CPU_ISA: the best path, as the load does */
    p->precision = (int)llm_options_value(o, LLM_OPT_PRECISION);
    llm_context_sizes(o, n_ctx_train, &p->n_ctx, &p->n_threads);
    p->kv_type = (int)llm_options_value(o, LLM_OPT_KV_TYPE);
}

/* ---- the weights --------------------------------------------------------------------------- */

/* Whether a tensor is one of the matrices the forward pass multiplies (repack candidates):
 * blk.N.{attn_q,attn_k,attn_v,attn_qkv,attn_output,ffn_gate,ffn_up,ffn_down}.weight and the
 * output head. */
static int is_layer_matrix(const char *name) {
    static const char *const k[] = {"attn_q.weight",      "attn_k.weight",   "attn_v.weight",
                                    "attn_qkv.weight",    "attn_output.weight", "ffn_gate.weight",
                                    "ffn_up.weight",      "ffn_down.weight"};
    if (strncmp(name, "blk.", 4) != 0) return 0;
    const char *dot = strchr(name + 4, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(dot + 1, k[i]) == 0) return 1;
    return 0;
}

/* Bytes of the x16 copy of a matrix as repack.c lays it out (each view 64-byte aligned); 0 when
 * the path has no 16-row kernel for its type. Fused matrices are repacked view by view. */
static uint64_t x16_copy_bytes(const gguf_tensor *t, const llm_hparams *hp, const llm_cpu_kernels *k) {
    if (!llm_cpu_fast_dot16(k, t->type)) return 0;
    int64_t views[3] = {t->ne[1], 0, 0};
    const char *dot = strchr(t->name + 4, '.');
    if (dot && strcmp(dot + 1, "attn_qkv.weight") == 0 && hp->n_head > 0) {
        views[0] = (int64_t)hp->n_head * hp->head_dim_k;
        views[1] = (int64_t)hp->n_head_kv * hp->head_dim_k;
        views[2] = (int64_t)hp->n_head_kv * hp->head_dim_v;
        if (views[0] + views[1] + views[2] != t->ne[1]) views[0] = t->ne[1], views[1] = views[2] = 0;
    } else if (dot && strcmp(dot + 1, "ffn_up.weight") == 0 && hp->n_ff > 0 && t->ne[1] == 2 * (int64_t)hp->n_ff) {
        views[0] = views[1] = hp->n_ff;
    }
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        if (views[i] <= 0) continue;
        const size_t b = llm_x16_bytes(t->type, views[i], t->ne[0]);
        if (!b) return 0;
        total += round_up(b, 64);
    }
    return total;
}

/* ---- the tokenizer and the header ------------------------------------------------------------ */

/* lib/tokenizer/vocab.c: texts and pieces (two arenas), 4 offset/length arrays, scores, types,
 * the text -> id map (2x the vocabulary, a power of two, 8-byte slots), the BPE merge table
 * (16-byte slots), the trie of special tokens (16-byte nodes); the parser's index of the string
 * arrays (gguf_str per entry) is counted with the header. */
static uint64_t tokenizer_bytes(const gguf_file *f) {
    const gguf_value *toks = NULL, *types = NULL, *merges = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) != LLM_OK || toks->v.arr.elem_type != GGUF_STRING) return 0;
    const uint64_t nv = toks->v.arr.count;
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &types) != LLM_OK || types->v.arr.count != nv) types = NULL;
    uint64_t text = 0, special = 0, n_special = 0;
    for (uint64_t i = 0; i < nv; i++) {
        gguf_str s;
        if (gguf_arr_str(toks, i, &s) != LLM_OK) continue;
        text += s.len;
        int64_t ty = LLM_TOKTYPE_NORMAL;
        if (types && gguf_arr_int(types, i, &ty) != LLM_OK) ty = LLM_TOKTYPE_NORMAL;
        if (ty == LLM_TOKTYPE_CONTROL || ty == LLM_TOKTYPE_USER_DEFINED || ty == LLM_TOKTYPE_UNKNOWN) {
            special += s.len;
            n_special++;
        }
    }
    uint64_t b = 2 * (text + 1) + nv * (4 * 4 + 4 + 1) + pow2_at_least(2 * nv, 16) * 8;
    /* trie nodes: at most one per byte; special tokens share prefixes ("<unused12>"): about 2 new
     * nodes each in Gemma's 6414 */
    if (special) b += pow2_at_least(min_u64(special, 4 * n_special), 1024) * 16;
    if (gguf_get_arr(f, "tokenizer.ggml.merges", &merges) == LLM_OK)
        b += pow2_at_least(2 * merges->v.arr.count + 1, 16) * 16;
    return b;
}

/* The parsed header: the key/value and tensor tables, their names, the index of string arrays;
 * the metadata bytes themselves (resident in either mode: parsed from the mapping, or read). */
static uint64_t header_bytes(const gguf_file *f) {
    uint64_t b = f->data_offset + f->n_kv * sizeof(gguf_kv) + f->n_tensors * sizeof(gguf_tensor);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        b += f->kv[i].key.len + 1;
        const gguf_value *v = &f->kv[i].val;
        if (v->type == GGUF_ARRAY && v->v.arr.elem_type == GGUF_STRING) b += v->v.arr.count * sizeof(gguf_str);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) b += strlen(f->tensors[i].name) + 1;
    return b;
}

/* The chat template: its parse tree and the interpreter's tables (or a built-in template's). */
static uint64_t template_bytes(const gguf_file *f) {
    gguf_str s = {"", 0};
    (void)gguf_get_str(f, "tokenizer.chat_template", &s);
    return 65536 + 32 * s.len;
}

/* ---- per context, per session ---------------------------------------------------------------- */

uint64_t llm_mem_context_bytes(const llm_hparams *hp, const llm_mem_plan *p) {
    const uint64_t nth = (uint64_t)(p->n_threads > 0 ? p->n_threads : 1);
    uint64_t b = 4096 + nth * PER_THREAD;
    if (hp->n_layer <= 0) return b;
    const uint64_t n = (uint64_t)(p->n_ctx < LLM_FORWARD_CHUNK ? p->n_ctx : LLM_FORWARD_CHUNK);
    const int64_t cols[3] = {hp->n_embd, hp->n_ff, (int64_t)hp->n_head * hp->head_dim_v};
    /* kernels/cpu/matmul.c: the FAST products quantize the chunk's activations into the pool's
     * shared buffer (with VNNI, also their packed copy); per thread, the int8 GEMM's unpacked tile
     * of 16 rows, or the EXACT (and non-VNNI prefill) path's f32 tile of up to 128 rows for BLIS.
     * Buffers grow with 25% headroom (kernels/cpu/pool.c). */
    const int vnni = (p->isa == LLM_ISA_AVX512 || p->isa == LLM_ISA_AMX) && llm_cpu_has_avx512_vnni();
    const int fast = p->precision == LLM_PRECISION_FAST && p->isa != LLM_ISA_SCALAR;
    uint64_t shared = 0, per_thread = 0;
    for (int i = 0; i < 3; i++) {
        const int64_t c = cols[i];
        if (c <= 0) continue;
        if (fast && c % 32 == 0) {
            const int64_t nbp = (c / 32 + 15) / 16 * 16;
            uint64_t s = round_up(llm_qx_bytes(LLM_QX_32, c, (int64_t)n), 64) + round_up(2 * n * sizeof(llm_qx), 64);
            if (vnni) s += round_up(llm_qx_pack32_bytes(nbp), 64) * n;
            shared = max_u64(shared, s);
            per_thread = max_u64(per_thread, (uint64_t)(16 * nbp * 40 + c * 2));
        }
        if (!fast || !vnni) {
            int64_t tile = (1 << 20) / c;
            tile = tile < 16 ? 16 : tile > 128 ? 128 : tile;
            per_thread = max_u64(per_thread, (uint64_t)(tile * c) * 4);
        }
    }
    return b + (shared + nth * per_thread) / 4 * 5;
}

void llm_mem_session_bytes(const llm_hparams *hp, const llm_mem_plan *p, llm_memory_estimate *e) {
    e->kv_bytes_per_token = 0;
    e->kv_bytes_per_session = 0;
    e->scratch_bytes = 0;
    if (hp->n_layer <= 0) return;
    const uint64_t n_ctx = (uint64_t)(p->n_ctx > 0 ? p->n_ctx : 1);
    const uint64_t nv = (uint64_t)hp->n_vocab;
    e->kv_bytes_per_token = llm_kv_bytes_per_token(hp, p->kv_type);
    e->kv_bytes_per_session = e->kv_bytes_per_token * round_up(n_ctx, LLM_KV_PAGE);
    /* activations of one chunk; the logits and the row being computed; the sampler (penalised
     * logits, candidates, the lazy walk's list: lib/runtime/sampling.c; its zeroed per-token
     * counts are touched only at the tokens of the penalty window); the token history and the
     * forward pass's copy of a feed's tokens */
    e->scratch_bytes = (uint64_t)llm_forward_scratch_floats(hp, (int32_t)min_u64(n_ctx, LLM_FORWARD_CHUNK)) * 4 + 2 * nv * 4 + nv * (4 + 8) + 1024 * 8 +
                       2 * n_ctx * 4 + 4096;
}

/* ---- the whole estimate ---------------------------------------------------------------------- */

llm_status llm_mem_estimate_file(const gguf_file *f, const llm_mem_plan *p, llm_memory_estimate *e,
                                 llm_hparams *hp_out, llm_err *err) {
    const uint64_t size = e->size;
    memset(e, 0, sizeof *e);
    e->size = size;
    llm_hparams hp;
    memset(&hp, 0, sizeof hp);
    llm_status st = LLM_OK;
    if (f->n_tensors > 0) {
        gguf_str s = {"", 0};
        char arch[64];
        if (gguf_get_str(f, "general.architecture", &s) != LLM_OK) {
            st = llm_err_set(err, LLM_ERR_FORMAT, "missing metadata key 'general.architecture'");
        } else {
            const size_t n = s.len < sizeof arch - 1 ? (size_t)s.len : sizeof arch - 1;
            memcpy(arch, s.ptr, n);
            arch[n] = '\0';
            st = llm_read_common_hparams(f, arch, 1e-5f, &hp, err);
        }
        const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
        if (st == LLM_OK && !te) st = llm_err_set(err, LLM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
        if (st == LLM_OK) hp.n_vocab = (int32_t)te->ne[1];
        if (st != LLM_OK) memset(&hp, 0, sizeof hp);
    }
    const llm_cpu_kernels *k = llm_cpu_kernels_for(p->isa);
    const int tied = gguf_find_tensor(f, "output.weight") == NULL;
    const int exact = p->precision == LLM_PRECISION_EXACT;
    uint64_t vectors = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const uint64_t nb = t->nbytes;
        e->weights_bytes += nb;
        const int is_vector = t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
        if (is_vector) { /* an owned f32 copy (llm_bind_vector); its pages were read once */
            vectors += round_up((uint64_t)t->ne[0] * 4 + 16, 16);
            e->weights_resident += nb;
            continue;
        }
        const int is_embd = strcmp(t->name, "token_embd.weight") == 0;
        const int is_head = strcmp(t->name, "output.weight") == 0 || (is_embd && tied);
        uint64_t copy = 0;
        if (p->repack && hp.n_layer > 0 && (is_head || is_layer_matrix(t->name))) copy = x16_copy_bytes(t, &hp, k);
        e->repacked_bytes += copy;
        if (!p->mapped) {
            e->weights_resident += nb;
        } else if (copy && !exact) {
            /* released after the copy; a tied embedding's rows come back one per token read */
            if (is_embd && hp.n_vocab > 0) e->weights_resident += min_u64(nb, nb / (uint64_t)hp.n_vocab * EMBD_ROWS);
        } else if (is_embd && !is_head && hp.n_vocab > 0) {
            e->weights_resident += min_u64(nb, nb / (uint64_t)hp.n_vocab * EMBD_ROWS); /* rows read per token */
        } else {
            e->weights_resident += nb; /* read by every forward pass */
        }
    }
    e->model_overhead_bytes = vectors + header_bytes(f) + tokenizer_bytes(f) + template_bytes(f) +
                              (uint64_t)hp.n_layer * PER_LAYER + 4096;
    if (hp.n_layer > 0) {
        e->context_bytes = llm_mem_context_bytes(&hp, p);
        llm_mem_session_bytes(&hp, p, e);
    }
    e->total_bytes = e->weights_resident + e->repacked_bytes + e->model_overhead_bytes + e->context_bytes +
                     e->kv_bytes_per_session + e->scratch_bytes;
    if (hp_out) *hp_out = hp;
    return st;
}

llm_status llm_model_estimate_memory(const char *path, llm_options *o, llm_memory_estimate *estimate) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    llm_handle_header *eh = o ? &o->h : NULL;
    if (o) llm_err_clear(&o->h.err);
    if (!estimate) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "estimate is NULL");
    if (estimate->size < ESTIMATE_V1_SIZE)
        return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "estimate->size is %llu; it must be sizeof(llm_memory_estimate)",
                        (unsigned long long)estimate->size);
    if (!path) return llm_fail(eh, LLM_ERR_INVALID_ARGUMENT, "path is NULL");
    llm_err err;
    llm_err_clear(&err);
    gguf_source src;
    /* mapped whatever the options say: only the header's pages are read */
    llm_status st = gguf_source_open_file(path, 1, &src, &err);
    if (st != LLM_OK) return llm_fail(eh, st, "%s", err.msg);
    gguf_file *f = NULL;
    st = gguf_parse(src.data, src.size, &f, &err);
    if (st == LLM_OK) {
        int64_t train = 0;
        gguf_str arch = {"", 0};
        if (gguf_get_str(f, "general.architecture", &arch) == LLM_OK) {
            char key[96];
            snprintf(key, sizeof key, "%.*s.context_length", (int)(arch.len < 64 ? arch.len : 64), arch.ptr);
            if (gguf_get_int(f, key, &train) != LLM_OK || train < 0 || train > INT32_MAX) train = 0;
        }
        llm_mem_plan p;
        llm_mem_plan_from_options(o, (int32_t)train, &p);
        llm_memory_estimate e;
        e.size = sizeof e;
        st = llm_mem_estimate_file(f, &p, &e, NULL, &err);
        if (st == LLM_OK) {
            const uint64_t caller = estimate->size;
            if (caller > sizeof e) memset((char *)estimate + sizeof e, 0, (size_t)(caller - sizeof e));
            memcpy(estimate, &e, (size_t)min_u64(caller, sizeof e));
            estimate->size = caller;
        }
    }
    gguf_free(f);
    gguf_source_close(&src);
    return st == LLM_OK ? LLM_OK : llm_fail(eh, st, "%s", err.msg);
}

/* ---- the budget ------------------------------------------------------------------------------- */

static double mib(uint64_t b) { return (double)b / MIB; }

/* Reserves add bytes of live objects on m under limit (0: none); *live gets the total before. */
static int reserve(llm_model *m, uint64_t limit, uint64_t add, uint64_t *live) {
    uint64_t cur = atomic_load(&m->mem_live);
    do {
        *live = cur;
        if (limit && (m->mem_bytes + cur + add > limit || add > limit)) return 0;
    } while (!atomic_compare_exchange_weak(&m->mem_live, &cur, cur + add));
    return 1;
}

llm_status llm_mem_model_admit(llm_model *m, const llm_options *o, llm_err *err) {
    int64_t train = 0;
    gguf_str arch = {"", 0};
    if (gguf_get_str(m->gguf, "general.architecture", &arch) == LLM_OK) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.context_length", (int)(arch.len < 64 ? arch.len : 64), arch.ptr);
        if (gguf_get_int(m->gguf, key, &train) != LLM_OK || train < 0 || train > INT32_MAX) train = 0;
    }
    llm_mem_plan p;
    llm_mem_plan_from_options(o, (int32_t)train, &p);
    p.mapped = m->source.is_mapped;
    llm_memory_estimate e;
    e.size = sizeof e;
    llm_err ignored; /* a file whose hyper-parameters do not read fails at llm_arch_load, with its message */
    (void)llm_mem_estimate_file(m->gguf, &p, &e, NULL, &ignored);
    m->mem_bytes = e.weights_resident + e.repacked_bytes + e.model_overhead_bytes;
    atomic_init(&m->mem_live, 0);
    atomic_init(&m->mem_ctx, 0);
    atomic_init(&m->mem_sess, 0);
    const uint64_t limit = (uint64_t)llm_options_value(o, LLM_OPT_MEMORY_LIMIT);
    if (limit && m->mem_bytes > limit)
        return llm_err_set(err, LLM_ERR_LIMIT, "memory limit %.1f MiB exceeded: model %.1f MiB", mib(limit),
                           mib(m->mem_bytes));
    return LLM_OK;
}

llm_status llm_mem_context_admit(llm_context *c, const llm_options *o, llm_err *err) {
    llm_model *m = (llm_model *)c->model; /* the running totals are the model's only mutable part */
    llm_mem_plan p;
    llm_mem_plan_from_options(o, 0, &p);
    p.n_ctx = c->n_ctx;
    p.n_threads = c->n_threads;
    p.isa = c->isa;
    p.precision = c->precision;
    const uint64_t add = llm_mem_context_bytes(llm_arch_hparams(m->arch), &p);
    const uint64_t limit = (uint64_t)llm_options_value(o, LLM_OPT_MEMORY_LIMIT);
    uint64_t live;
    if (!reserve(m, limit, add, &live))
        return llm_err_set(err, LLM_ERR_LIMIT,
                           "memory limit %.1f MiB exceeded: model %.1f MiB + contexts %.1f MiB + sessions %.1f MiB + "
                           "this context %.1f MiB",
                           mib(limit), mib(m->mem_bytes), mib(atomic_load(&m->mem_ctx)), mib(atomic_load(&m->mem_sess)),
                           mib(add));
    atomic_fetch_add(&m->mem_ctx, add);
    c->mem_bytes = add;
    return LLM_OK;
}

void llm_mem_context_release(llm_context *c) {
    if (!c || !c->mem_bytes) return;
    llm_model *m = (llm_model *)c->model;
    atomic_fetch_sub(&m->mem_ctx, c->mem_bytes);
    atomic_fetch_sub(&m->mem_live, c->mem_bytes);
    c->mem_bytes = 0;
}

llm_status llm_mem_session_admit(llm_session *s, const llm_options *o, llm_err *err) {
    const llm_context *c = s->ctx;
    llm_model *m = (llm_model *)c->model;
    llm_mem_plan p;
    memset(&p, 0, sizeof p);
    p.n_ctx = c->n_ctx;
    p.kv_type = c->kv_type;
    llm_memory_estimate e;
    llm_mem_session_bytes(llm_arch_hparams(m->arch), &p, &e);
    /* on a device backend the cache and the activations live on the device */
    const uint64_t nv = (uint64_t)llm_arch_hparams(m->arch)->n_vocab;
    const uint64_t add = c->dev_api ? nv * 24 + (uint64_t)c->n_ctx * 8 : e.kv_bytes_per_session + e.scratch_bytes;
    const uint64_t limit = (uint64_t)llm_options_value(o, LLM_OPT_MEMORY_LIMIT);
    uint64_t live;
    if (!reserve(m, limit, add, &live))
        return llm_err_set(err, LLM_ERR_LIMIT,
                           "memory limit %.1f MiB exceeded: model %.1f MiB + contexts %.1f MiB + sessions %.1f MiB + "
                           "this session %.1f MiB",
                           mib(limit), mib(m->mem_bytes), mib(atomic_load(&m->mem_ctx)), mib(atomic_load(&m->mem_sess)),
                           mib(add));
    atomic_fetch_add(&m->mem_sess, add);
    s->mem_bytes = add;
    return LLM_OK;
}

void llm_mem_session_release(llm_session *s) {
    if (!s || !s->mem_bytes) return;
    llm_model *m = (llm_model *)s->ctx->model;
    atomic_fetch_sub(&m->mem_sess, s->mem_bytes);
    atomic_fetch_sub(&m->mem_live, s->mem_bytes);
    s->mem_bytes = 0;
}
