/* Saved sessions: llm_session_save / load (include/llm.h). The byte format is lib/state/state_io.h;
 * this file walks the session. Everything the next steps depend on is written; what belongs to the
 * context (its size, KV type, precision, threads) is checked or recorded, not restored. Loading
 * parses and checks the whole state into temporaries before it touches the session. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "runtime/textout.h"
#include "state/state_io.h"

#define STATE_VERSION 1u

/* section tags (four characters, little-endian) */
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SEC_MODEL TAG('M', 'O', 'D', 'L')
#define SEC_CONTEXT TAG('C', 'T', 'X', 'T')
#define SEC_TOKENS TAG('T', 'O', 'K', 'S')
#define SEC_SESSION TAG('S', 'E', 'S', 'S')
#define SEC_LOGITS TAG('L', 'O', 'G', 'T')
#define SEC_TEXT TAG('T', 'E', 'X', 'T')
#define SEC_STOPS TAG('S', 'T', 'O', 'P')
#define SEC_BIAS TAG('B', 'I', 'A', 'S')
#define SEC_GRAMMAR TAG('G', 'R', 'A', 'M')
#define SEC_KV TAG('K', 'V', 'C', 'A')

#define JOB_NONE_ 0 /* api_session.c's JOB_NONE: no computation in flight */

static int valid(const llm_session *s) { return s && s->h.magic == LLM_MAGIC_SESSION; }

/* The model's identity: its file's size, header (metadata and tensor layout) and the first and
 * last bytes of every tensor's data, so that two files with the same shapes and metadata but other
 * weights differ. */
static uint64_t model_fingerprint(const llm_model *m) {
    const gguf_file *f = m->gguf;
    uint64_t h = LLM_FNV64_INIT;
    const uint64_t size = m->source.size;
    h = llm_fnv64(h, &size, sizeof size);
    size_t head = f->data_offset < m->source.size ? (size_t)f->data_offset : m->source.size;
    h = llm_fnv64(h, m->source.data, head);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const size_t n = t->nbytes < 64 ? t->nbytes : 64;
        if (!t->data || n == 0) continue;
        h = llm_fnv64(h, t->data, n);
        h = llm_fnv64(h, (const uint8_t *)t->data + t->nbytes - n, n);
    }
    return h;
}

static void write_hparams(llm_swriter *w, const llm_hparams *hp) {
    llm_sw_i32(w, (int32_t)hp->arch);
    llm_sw_i32(w, hp->n_vocab);
    llm_sw_i32(w, hp->n_embd);
    llm_sw_i32(w, hp->n_layer);
    llm_sw_i32(w, hp->n_head);
    llm_sw_i32(w, hp->n_head_kv);
    llm_sw_i32(w, hp->head_dim_k);
    llm_sw_i32(w, hp->head_dim_v);
    llm_sw_i32(w, hp->n_ff);
}

static void write_buf(llm_swriter *w, const llm_buf *b) { llm_sw_blob(w, b->data, b->len); }

/* The positions a state holds: the cache's, less those a computation in flight took from the
 * context's prefix cache (abandoning it gives them back, and a loaded session has nothing in
 * flight). */
static int32_t saved_n_past(const llm_session *s) {
    const int32_t n = llm_kv_n_past(s->kv);
    return s->reuse_base >= 0 && s->reuse_base < n ? s->reuse_base : n;
}

/* Writes the state (counting only when w->counting). */
static llm_status write_state(llm_session *s, llm_swriter *w, llm_err *err) {
    const llm_model *m = s->model;
    const llm_hparams *hp = llm_arch_hparams(m->arch);
    const int32_t n_past = saved_n_past(s);
    size_t mark;

    llm_sw_header(w, STATE_VERSION);

    mark = llm_sw_begin(w, SEC_MODEL);
    llm_sw_u64(w, w->counting ? 0 : model_fingerprint(m));
    write_hparams(w, hp);
    llm_sw_blob(w, m->arch_name, m->arch_name ? strlen(m->arch_name) : 0);
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_CONTEXT);
    llm_sw_i32(w, llm_kv_elem_type(s->kv));
    llm_sw_i32(w, n_past);
    llm_sw_i32(w, llm_kv_n_ctx(s->kv));      /* recorded, not required */
    llm_sw_i32(w, (int32_t)s->ctx->precision); /* recorded, not required */
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_TOKENS);
    llm_sw_u64(w, (uint64_t)n_past);
    for (int32_t i = 0; i < n_past; i++) llm_sw_i32(w, s->history[i]);
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_SESSION);
    llm_sw_f32(w, s->sp.temperature);
    llm_sw_i32(w, s->sp.top_k);
    llm_sw_f32(w, s->sp.top_p);
    llm_sw_f32(w, s->sp.min_p);
    llm_sw_f32(w, s->sp.repeat_penalty);
    llm_sw_f32(w, s->sp.frequency_penalty);
    llm_sw_f32(w, s->sp.presence_penalty);
    llm_sw_i32(w, s->sp.penalty_last_n);
    llm_sw_u64(w, s->sp.seed);
    llm_sampler_state ss;
    llm_sampler_get_state(s->sampler, &ss);
    for (int i = 0; i < 4; i++) llm_sw_u64(w, ss.rng[i]);
    llm_sw_i32(w, ss.lazy_failures);
    llm_sw_i32(w, ss.lazy_skip);
    llm_sw_i32(w, s->max_tokens);
    llm_sw_i32(w, s->all_logits);
    llm_sw_i32(w, s->top_logprobs);
    llm_sw_i32(w, s->pending_token);
    llm_sw_i32(w, s->n_generated);
    llm_sw_i32(w, s->finished);
    llm_sw_i64(w, s->n_evaluated);
    llm_sw_i64(w, s->sampling_ns);
    llm_sw_i64(w, s->sample_ns);
    llm_sw_i32(w, s->lp_valid);
    llm_sw_f32(w, s->lp_chosen);
    llm_sw_i32(w, s->lp_n);
    for (int32_t i = 0; i < s->lp_n; i++) {
        llm_sw_i32(w, s->lp_tok[i]);
        llm_sw_f32(w, s->lp_val[i]);
    }
    llm_sw_i32(w, s->chat_text_valid);
    llm_sw_i32(w, s->chat_need_reply);
    llm_sw_i32(w, s->chat_in_reply);
    llm_sw_i32(w, s->chat_reply_start);
    llm_sw_u64(w, s->tmpl_limits.max_steps);
    llm_sw_u64(w, s->tmpl_limits.max_depth);
    llm_sw_u64(w, s->tmpl_limits.max_output);
    llm_sw_u64(w, s->tmpl_limits.max_memory);
    llm_sw_i32(w, s->shift_mode);
    llm_sw_i32(w, s->shift_keep);
    llm_sw_i32(w, s->chat_system_end);
    llm_sw_i32(w, s->chat_shifted);
    llm_sw_i32(w, s->n_shifts);
    llm_sw_i32(w, s->n_reused);
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_LOGITS);
    llm_sw_u64(w, (uint64_t)s->n_logit_rows);
    llm_sw_u64(w, (uint64_t)s->n_vocab);
    const size_t n_logits = (size_t)s->n_logit_rows * (size_t)s->n_vocab;
    for (size_t i = 0; i < n_logits; i++) llm_sw_f32(w, s->logits[i]);
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_TEXT);
    write_buf(w, &s->held);
    write_buf(w, &s->out);
    write_buf(w, &s->chat_text);
    write_buf(w, &s->chat_reply);
    write_buf(w, &s->conv.messages);
    llm_sw_u64(w, s->conv.n_messages);
    write_buf(w, &s->conv.vars);
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_STOPS);
    llm_sw_u64(w, s->n_stops);
    for (size_t i = 0; i < s->n_stops; i++) llm_sw_blob(w, s->stops[i], strlen(s->stops[i]));
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_BIAS);
    llm_sw_u64(w, s->n_bias);
    for (size_t i = 0; i < s->n_bias; i++) {
        llm_sw_i32(w, s->bias_tok[i]);
        llm_sw_f32(w, s->bias_val[i]);
    }
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_GRAMMAR);
    llm_sw_i32(w, s->grammar != NULL);
    if (s->grammar) {
        llm_sw_blob(w, s->grammar_src, strlen(s->grammar_src));
        llm_sw_blob(w, s->grammar_root, strlen(s->grammar_root));
        llm_sw_u64(w, s->gm_n);
        for (size_t i = 0; i < s->gm_n; i++) llm_sw_i32(w, s->gm_tok[i]);
    }
    llm_sw_end(w, mark);

    mark = llm_sw_begin(w, SEC_KV);
    const size_t rk = llm_kv_row_bytes(s->kv, 0), rv = llm_kv_row_bytes(s->kv, 1);
    llm_sw_i32(w, hp->n_layer);
    llm_sw_u64(w, rk);
    llm_sw_u64(w, rv);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        for (int is_v = 0; is_v < 2; is_v++) {
            const size_t nb = (size_t)n_past * (is_v ? rv : rk);
            uint8_t *dst = llm_sw_reserve(w, nb);
            if (dst && n_past > 0) {
                llm_status st = llm_kv_read_rows(s->kv, il, is_v, 0, n_past, dst, err);
                if (st != LLM_OK) return st;
            }
        }
    }
    llm_sw_end(w, mark);

    llm_sw_finish(w);
    return LLM_OK;
}

static llm_status check_saveable(llm_session *s) {
    if (s->dev || !s->kv)
        return llm_fail(&s->h, LLM_ERR_UNSUPPORTED,
                        "saved sessions: only sessions of CPU contexts can be saved or loaded");
    if (s->grammar && (!s->grammar_src || !s->grammar_root))
        return llm_fail(&s->h, LLM_ERR_INTERNAL, "saved sessions: the grammar's source is unknown");
    return LLM_OK;
}

llm_status llm_session_save(llm_session *s, void *buffer, size_t capacity, size_t *needed) {
    if (needed) *needed = 0;
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!needed) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "needed is NULL");
    if (!buffer && capacity) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "buffer is NULL");
    llm_status st = check_saveable(s);
    if (st != LLM_OK) return st;
    llm_err err;
    llm_err_clear(&err);
    llm_swriter count = {0};
    count.counting = 1;
    if ((st = write_state(s, &count, &err)) != LLM_OK) return llm_fail(&s->h, st, "%s", err.msg);
    *needed = count.len;
    if (capacity < count.len)
        return llm_fail(&s->h, LLM_ERR_BUFFER_TOO_SMALL, "the state needs %zu bytes, the buffer has %zu", count.len,
                        capacity);
    llm_swriter w = {0};
    w.data = buffer;
    w.cap = capacity;
    w.fixed = 1;
    st = write_state(s, &w, &err);
    if (st != LLM_OK) return llm_fail(&s->h, st, "%s", err.msg);
    if (w.oom || w.len != count.len)
        return llm_fail(&s->h, LLM_ERR_INTERNAL, "saved sessions: the state's size changed");
    return LLM_OK;
}

llm_status llm_session_save_file(llm_session *s, const char *path) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!path) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "path is NULL");
    llm_status st = check_saveable(s);
    if (st != LLM_OK) return st;
    llm_err err;
    llm_err_clear(&err);
    llm_swriter w = {0};
    st = write_state(s, &w, &err);
    if (st != LLM_OK) {
        llm_sw_free(&w);
        return llm_fail(&s->h, st, "%s", err.msg);
    }
    if (w.oom) {
        llm_sw_free(&w);
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory for the session's state");
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        llm_sw_free(&w);
        return llm_fail(&s->h, LLM_ERR_IO, "cannot create %s", path);
    }
    const int ok = fwrite(w.data, 1, w.len, f) == w.len;
    const int closed = fclose(f) == 0;
    llm_sw_free(&w);
    if (!ok || !closed) return llm_fail(&s->h, LLM_ERR_IO, "cannot write %s", path);
    return LLM_OK;
}

/* ---- loading -------------------------------------------------------------------------------- */

/* What a state holds, parsed and checked; the session takes it over in commit(). */
typedef struct parsed {
    int32_t n_past;
    int32_t *history;
    llm_sampling_params sp;
    llm_sampler_state ss;
    int32_t max_tokens, all_logits, top_logprobs, pending_token, n_generated, finished;
    int64_t n_evaluated, sampling_ns, sample_ns;
    int32_t lp_valid, lp_n;
    float lp_chosen;
    int32_t lp_tok[20];
    float lp_val[20];
    int32_t chat_text_valid, chat_need_reply, chat_in_reply, chat_reply_start;
    llm_tmpl_limits limits;
    int32_t shift_mode, shift_keep, chat_system_end, chat_shifted, n_shifts, n_reused;
    int32_t n_logit_rows;
    float *logits;
    llm_buf held, out, chat_text, chat_reply, messages, vars;
    size_t n_messages;
    char **stops;
    size_t n_stops;
    int32_t *bias_tok;
    float *bias_val;
    size_t n_bias;
    llm_grammar *grammar;
    llm_gmatcher *gm;
    char *grammar_src, *grammar_root;
    int32_t *gm_tok;
    size_t gm_n;
    const uint8_t *kv; /* the KV section's rows, n_layer x (K, V) x n_past rows */
    size_t row_k, row_v;
} parsed;

static void parsed_free(parsed *p) {
    free(p->history);
    free(p->logits);
    llm_buf_free(&p->held);
    llm_buf_free(&p->out);
    llm_buf_free(&p->chat_text);
    llm_buf_free(&p->chat_reply);
    llm_buf_free(&p->messages);
    llm_buf_free(&p->vars);
    for (size_t i = 0; i < p->n_stops; i++) free(p->stops[i]);
    free(p->stops);
    free(p->bias_tok);
    free(p->bias_val);
    llm_gmatcher_free(p->gm);
    llm_grammar_free(p->grammar);
    free(p->grammar_src);
    free(p->grammar_root);
    free(p->gm_tok);
}

/* A failed load: the status and the message, on the session. */
#define BAD(code, ...) return llm_fail(&s->h, code, "saved session: " __VA_ARGS__)
#define MALFORMED(what) BAD(LLM_ERR_FORMAT, "malformed state (%s)", what)

static int read_buf(llm_sreader *r, llm_buf *b) {
    size_t n = 0;
    const uint8_t *d = llm_sr_blob(r, SIZE_MAX, &n);
    if (r->bad) return -1;
    return n ? llm_buf_append(b, (const char *)d, n) : 0;
}

/* Checks a sampling or session option's value the way llm_session_set_* does. */
static int option_ok(llm_option key, double v, int is_int) { return llm_option_check(key, v, is_int, NULL) == LLM_OK; }

static llm_status parse_state(llm_session *s, const void *data, size_t size, parsed *p) {
    const llm_model *m = s->model;
    const llm_hparams *hp = llm_arch_hparams(m->arch);
    uint32_t version = 0;
    llm_sreader r, sec;
    if (llm_state_open(data, size, &version, &r) != 0) {
        if (size < 4 || memcmp(data, LLM_STATE_MAGIC, 4) != 0)
            BAD(LLM_ERR_FORMAT, "not a saved session (no LLMS header)");
        BAD(LLM_ERR_FORMAT, "the state is truncated or corrupted (its length or checksum does not match)");
    }
    if (version > STATE_VERSION)
        BAD(LLM_ERR_UNSUPPORTED, "format version %u is newer than this library's (%u)", (unsigned)version,
            (unsigned)STATE_VERSION);
    if (version == 0) MALFORMED("version 0");

    /* the model */
    if (llm_sr_section(&r, SEC_MODEL, &sec)) MALFORMED("model section");
    const uint64_t fp = llm_sr_u64(&sec);
    int32_t saved_hp[9];
    for (int i = 0; i < 9; i++) saved_hp[i] = llm_sr_i32(&sec);
    size_t an = 0;
    const uint8_t *arch = llm_sr_blob(&sec, 256, &an);
    if (sec.bad) MALFORMED("model section");
    const int32_t own_hp[9] = {(int32_t)hp->arch, hp->n_vocab,     hp->n_embd,     hp->n_layer, hp->n_head,
                               hp->n_head_kv,     hp->head_dim_k, hp->head_dim_v, hp->n_ff};
    if (memcmp(own_hp, saved_hp, sizeof own_hp) != 0)
        BAD(LLM_ERR_INVALID_ARGUMENT, "the state belongs to another model (%.*s, %d layers, vocabulary of %d; this "
            "one: %s, %d layers, vocabulary of %d)", (int)an, arch ? (const char *)arch : "", (int)saved_hp[3],
            (int)saved_hp[1], m->arch_name ? m->arch_name : "", (int)hp->n_layer, (int)hp->n_vocab);
    if (fp != model_fingerprint(m))
        BAD(LLM_ERR_INVALID_ARGUMENT, "the state belongs to another model file (same architecture and shapes, "
            "other contents)");

    /* the context */
    if (llm_sr_section(&r, SEC_CONTEXT, &sec)) MALFORMED("context section");
    const int32_t kv_type = llm_sr_i32(&sec), n_past = llm_sr_i32(&sec);
    (void)llm_sr_i32(&sec); /* the saving context's size */
    (void)llm_sr_i32(&sec); /* its precision */
    if (sec.bad || n_past < 0) MALFORMED("context section");
    if (kv_type != llm_kv_elem_type(s->kv))
        BAD(LLM_ERR_INVALID_ARGUMENT, "the state's KV cache has type %d, this context's %d (LLM_OPT_KV_TYPE)",
            (int)kv_type, llm_kv_elem_type(s->kv));
    if (n_past > llm_kv_n_ctx(s->kv))
        BAD(LLM_ERR_INVALID_ARGUMENT, "the state holds %d tokens, this context only %d (LLM_OPT_CONTEXT_SIZE)",
            (int)n_past, (int)llm_kv_n_ctx(s->kv));
    p->n_past = n_past;

    /* tokens */
    if (llm_sr_section(&r, SEC_TOKENS, &sec)) MALFORMED("tokens section");
    if (llm_sr_count(&sec, (uint64_t)n_past, 4) != (uint64_t)n_past || sec.bad) MALFORMED("token count");
    p->history = malloc(((size_t)n_past + 1) * sizeof *p->history);
    if (!p->history) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < n_past; i++) {
        p->history[i] = llm_sr_i32(&sec);
        if (p->history[i] < 0 || p->history[i] >= hp->n_vocab) MALFORMED("token outside the vocabulary");
    }
    if (sec.bad) MALFORMED("tokens section");

    /* session scalars */
    if (llm_sr_section(&r, SEC_SESSION, &sec)) MALFORMED("session section");
    p->sp.temperature = llm_sr_f32(&sec);
    p->sp.top_k = llm_sr_i32(&sec);
    p->sp.top_p = llm_sr_f32(&sec);
    p->sp.min_p = llm_sr_f32(&sec);
    p->sp.repeat_penalty = llm_sr_f32(&sec);
    p->sp.frequency_penalty = llm_sr_f32(&sec);
    p->sp.presence_penalty = llm_sr_f32(&sec);
    p->sp.penalty_last_n = llm_sr_i32(&sec);
    p->sp.seed = llm_sr_u64(&sec);
    for (int i = 0; i < 4; i++) p->ss.rng[i] = llm_sr_u64(&sec);
    p->ss.lazy_failures = llm_sr_i32(&sec);
    p->ss.lazy_skip = llm_sr_i32(&sec);
    p->max_tokens = llm_sr_i32(&sec);
    p->all_logits = llm_sr_i32(&sec);
    p->top_logprobs = llm_sr_i32(&sec);
    p->pending_token = llm_sr_i32(&sec);
    p->n_generated = llm_sr_i32(&sec);
    p->finished = llm_sr_i32(&sec);
    p->n_evaluated = llm_sr_i64(&sec);
    p->sampling_ns = llm_sr_i64(&sec);
    p->sample_ns = llm_sr_i64(&sec);
    p->lp_valid = llm_sr_i32(&sec);
    p->lp_chosen = llm_sr_f32(&sec);
    p->lp_n = llm_sr_i32(&sec);
    if (sec.bad || p->lp_n < 0 || p->lp_n > 20) MALFORMED("session section");
    for (int32_t i = 0; i < p->lp_n; i++) {
        p->lp_tok[i] = llm_sr_i32(&sec);
        p->lp_val[i] = llm_sr_f32(&sec);
        if (p->lp_tok[i] < 0 || p->lp_tok[i] >= hp->n_vocab) MALFORMED("log-probability token");
    }
    p->chat_text_valid = llm_sr_i32(&sec);
    p->chat_need_reply = llm_sr_i32(&sec);
    p->chat_in_reply = llm_sr_i32(&sec);
    p->chat_reply_start = llm_sr_i32(&sec);
    p->limits.max_steps = (size_t)llm_sr_u64(&sec);
    p->limits.max_depth = (size_t)llm_sr_u64(&sec);
    p->limits.max_output = (size_t)llm_sr_u64(&sec);
    p->limits.max_memory = (size_t)llm_sr_u64(&sec);
    p->shift_mode = llm_sr_i32(&sec);
    p->shift_keep = llm_sr_i32(&sec);
    p->chat_system_end = llm_sr_i32(&sec);
    p->chat_shifted = llm_sr_i32(&sec);
    p->n_shifts = llm_sr_i32(&sec);
    p->n_reused = llm_sr_i32(&sec);
    if (sec.bad || sec.left != 0) MALFORMED("session section");
    if (!option_ok(LLM_OPT_CONTEXT_SHIFT, p->shift_mode, 1) || !option_ok(LLM_OPT_SHIFT_KEEP, p->shift_keep, 1) ||
        p->chat_system_end < -1 || p->chat_system_end > n_past || (p->chat_shifted != 0 && p->chat_shifted != 1) ||
        p->n_shifts < 0 || p->n_reused < 0)
        MALFORMED("a context shift value is out of range");
    const int flags_ok = (p->all_logits | p->finished | p->lp_valid | p->chat_text_valid | p->chat_need_reply |
                          p->chat_in_reply) >= 0 &&
                         (p->all_logits | p->finished | p->lp_valid | p->chat_text_valid | p->chat_need_reply |
                          p->chat_in_reply) <= 1;
    if (!flags_ok || p->pending_token < -1 || p->pending_token >= hp->n_vocab || p->n_generated < 0 ||
        p->n_evaluated < 0 || p->sampling_ns < 0 || p->sample_ns < 0 ||
        (p->chat_reply_start != INT32_MAX && (p->chat_reply_start < 0 || p->chat_reply_start > n_past)) ||
        !option_ok(LLM_OPT_TEMPERATURE, p->sp.temperature, 0) || !option_ok(LLM_OPT_TOP_K, p->sp.top_k, 1) ||
        !option_ok(LLM_OPT_TOP_P, p->sp.top_p, 0) || !option_ok(LLM_OPT_MIN_P, p->sp.min_p, 0) ||
        !option_ok(LLM_OPT_REPEAT_PENALTY, p->sp.repeat_penalty, 0) ||
        !option_ok(LLM_OPT_FREQUENCY_PENALTY, p->sp.frequency_penalty, 0) ||
        !option_ok(LLM_OPT_PRESENCE_PENALTY, p->sp.presence_penalty, 0) ||
        !option_ok(LLM_OPT_PENALTY_LAST_N, p->sp.penalty_last_n, 1) ||
        !option_ok(LLM_OPT_MAX_TOKENS, p->max_tokens, 1) || !option_ok(LLM_OPT_TOP_LOGPROBS, p->top_logprobs, 1) ||
        !option_ok(LLM_OPT_TEMPLATE_MAX_STEPS, (double)p->limits.max_steps, 1) ||
        !option_ok(LLM_OPT_TEMPLATE_MAX_DEPTH, (double)p->limits.max_depth, 1) ||
        !option_ok(LLM_OPT_TEMPLATE_MAX_OUTPUT, (double)p->limits.max_output, 1) ||
        !option_ok(LLM_OPT_TEMPLATE_MAX_MEMORY, (double)p->limits.max_memory, 1))
        MALFORMED("a session value is out of range");
    {
        llm_sampler *probe = llm_sampler_new(1);
        if (!probe) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
        const int ok = llm_sampler_set_state(probe, &p->ss) == 0;
        llm_sampler_free(probe);
        if (!ok) MALFORMED("sampler state");
    }

    /* logits of the last feed */
    if (llm_sr_section(&r, SEC_LOGITS, &sec)) MALFORMED("logits section");
    const uint64_t rows = llm_sr_count(&sec, (uint64_t)llm_kv_n_ctx(s->kv), 0);
    const uint64_t nv = llm_sr_u64(&sec);
    if (sec.bad || nv != (uint64_t)hp->n_vocab || rows > sec.left / 4 / (uint64_t)hp->n_vocab)
        MALFORMED("logits section");
    p->n_logit_rows = (int32_t)rows;
    const size_t n_logits = (size_t)rows * (size_t)hp->n_vocab;
    p->logits = malloc((n_logits ? n_logits : (size_t)hp->n_vocab) * sizeof *p->logits);
    if (!p->logits) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory for %llu rows of logits", (unsigned long long)rows);
    const uint8_t *lb = llm_sr_bytes(&sec, n_logits * 4);
    if (sec.bad || sec.left != 0) MALFORMED("logits section");
    for (size_t i = 0; i < n_logits; i++) {
        uint32_t u = (uint32_t)lb[4 * i] | (uint32_t)lb[4 * i + 1] << 8 | (uint32_t)lb[4 * i + 2] << 16 |
                     (uint32_t)lb[4 * i + 3] << 24;
        memcpy(&p->logits[i], &u, 4);
    }

    /* texts */
    if (llm_sr_section(&r, SEC_TEXT, &sec)) MALFORMED("text section");
    if (read_buf(&sec, &p->held) || read_buf(&sec, &p->out) || read_buf(&sec, &p->chat_text) ||
        read_buf(&sec, &p->chat_reply) || read_buf(&sec, &p->messages)) {
        if (sec.bad) MALFORMED("text section");
        BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    p->n_messages = (size_t)llm_sr_u64(&sec);
    if (read_buf(&sec, &p->vars)) {
        if (sec.bad) MALFORMED("text section");
        BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (sec.bad || sec.left != 0 || (p->n_messages == 0) != (p->messages.len == 0) ||
        p->n_messages > p->messages.len)
        MALFORMED("text section");
    /* a reply is only waited for or generated after a message, with a chat template */
    if ((p->chat_need_reply || p->chat_in_reply) && (p->n_messages == 0 || !m->chat_tmpl))
        MALFORMED("a chat reply without a conversation");
    if (!llm_utf8_is_valid(p->out.data ? p->out.data : "", p->out.len) ||
        !llm_utf8_is_valid(p->chat_reply.data ? p->chat_reply.data : "", p->chat_reply.len))
        MALFORMED("text that is not UTF-8");
    {
        /* the conversation must be what the chat code writes: a JSON array of messages, an object of
         * variables */
        char msg[LLM_ERRMSG_MAX];
        llm_buf j = {0};
        int oom = llm_buf_append(&j, "[", 1) ||
                  (p->messages.len && llm_buf_append(&j, p->messages.data, p->messages.len)) ||
                  llm_buf_append(&j, "]", 1);
        llm_status cst = oom ? LLM_ERR_OUT_OF_MEMORY : llm_chat_check_messages(j.data, j.len, msg, sizeof msg);
        if (cst == LLM_OK && p->vars.len) {
            size_t b = 0, ml = 0;
            llm_buf_clear(&j);
            oom = llm_buf_append(&j, "{", 1) || llm_buf_append(&j, p->vars.data, p->vars.len) ||
                  llm_buf_append(&j, "}", 1);
            cst = oom ? LLM_ERR_OUT_OF_MEMORY : llm_chat_vars_members(j.data, j.len, &b, &ml, msg, sizeof msg);
        }
        llm_buf_free(&j);
        if (cst == LLM_ERR_OUT_OF_MEMORY) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
        if (cst != LLM_OK) MALFORMED("chat conversation");
    }

    /* stop strings */
    if (llm_sr_section(&r, SEC_STOPS, &sec)) MALFORMED("stops section");
    const uint64_t n_stops = llm_sr_count(&sec, SIZE_MAX / sizeof(char *), 8);
    if (sec.bad) MALFORMED("stops section");
    if (n_stops) {
        p->stops = calloc((size_t)n_stops, sizeof *p->stops);
        if (!p->stops) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (uint64_t i = 0; i < n_stops; i++) {
        size_t n = 0;
        const uint8_t *b = llm_sr_blob(&sec, SIZE_MAX, &n);
        if (sec.bad || n == 0 || memchr(b, 0, n)) MALFORMED("stop string");
        if (!(p->stops[p->n_stops] = llm_memdup_str(b, n))) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
        p->n_stops++;
    }
    if (sec.left != 0) MALFORMED("stops section");

    /* logit bias */
    if (llm_sr_section(&r, SEC_BIAS, &sec)) MALFORMED("bias section");
    const uint64_t n_bias = llm_sr_count(&sec, SIZE_MAX / 8, 8);
    if (sec.bad) MALFORMED("bias section");
    if (n_bias) {
        p->bias_tok = malloc((size_t)n_bias * sizeof *p->bias_tok);
        p->bias_val = malloc((size_t)n_bias * sizeof *p->bias_val);
        if (!p->bias_tok || !p->bias_val) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (uint64_t i = 0; i < n_bias; i++) {
        p->bias_tok[i] = llm_sr_i32(&sec);
        p->bias_val[i] = llm_sr_f32(&sec);
        if (p->bias_tok[i] < 0 || p->bias_tok[i] >= hp->n_vocab || isnan(p->bias_val[i])) MALFORMED("logit bias");
    }
    p->n_bias = (size_t)n_bias;
    if (sec.bad || sec.left != 0) MALFORMED("bias section");

    /* grammar: parsed again from its source, and the matcher moved past the tokens it accepted */
    if (llm_sr_section(&r, SEC_GRAMMAR, &sec)) MALFORMED("grammar section");
    const int32_t has_grammar = llm_sr_i32(&sec);
    if (sec.bad || (has_grammar != 0 && has_grammar != 1)) MALFORMED("grammar section");
    if (has_grammar) {
        size_t gn = 0, rn = 0;
        const uint8_t *gb = llm_sr_blob(&sec, LLM_GRAMMAR_MAX_TEXT, &gn);
        const uint8_t *rb = llm_sr_blob(&sec, 4096, &rn);
        const uint64_t n_tok = llm_sr_count(&sec, SIZE_MAX / 4, 4);
        if (sec.bad || rn == 0 || memchr(rb, 0, rn) || memchr(gb, 0, gn)) MALFORMED("grammar section");
        p->grammar_src = llm_memdup_str(gb, gn);
        p->grammar_root = llm_memdup_str(rb, rn);
        p->gm_tok = malloc(((size_t)n_tok + 1) * sizeof *p->gm_tok);
        if (!p->grammar_src || !p->grammar_root || !p->gm_tok) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
        llm_err err;
        llm_err_clear(&err);
        llm_status st = llm_grammar_parse(p->grammar_src, gn, p->grammar_root, &p->grammar, &err);
        if (st == LLM_OK) st = llm_gmatcher_new(p->grammar, &p->gm, &err);
        if (st == LLM_ERR_OUT_OF_MEMORY) BAD(LLM_ERR_OUT_OF_MEMORY, "out of memory");
        if (st != LLM_OK) MALFORMED("its grammar does not compile");
        if (n_tok) {
            const llm_token_trie *trie;
            if ((st = llm_model_trie(m, &trie, NULL, NULL, &err)) != LLM_OK) BAD(st, "%s", err.msg);
        }
        for (uint64_t i = 0; i < n_tok; i++) {
            const int32_t t = llm_sr_i32(&sec);
            if (t < 0 || t >= hp->n_vocab || llm_tokenizer_is_eog(m->tok, t)) MALFORMED("grammar token");
            size_t len = 0;
            const char *piece = llm_tokenizer_piece(m->tok, t, 0, &len);
            if (!piece || !len) MALFORMED("grammar token");
            st = llm_gmatcher_accept(p->gm, piece, len, &err);
            if (st == LLM_ERR_INVALID_ARGUMENT) MALFORMED("its grammar does not allow its output");
            if (st != LLM_OK) BAD(st, "grammar: %s", err.msg);
            p->gm_tok[p->gm_n++] = t;
        }
    }
    if (sec.bad || sec.left != 0) MALFORMED("grammar section");

    /* KV cache rows: checked for size here, copied in commit() */
    if (llm_sr_section(&r, SEC_KV, &sec)) MALFORMED("KV section");
    const int32_t n_layer = llm_sr_i32(&sec);
    const uint64_t rk = llm_sr_u64(&sec), rv = llm_sr_u64(&sec);
    if (sec.bad || n_layer != hp->n_layer || rk != llm_kv_row_bytes(s->kv, 0) || rv != llm_kv_row_bytes(s->kv, 1))
        MALFORMED("KV section");
    const uint64_t per_layer = (uint64_t)n_past * (rk + rv);
    if (per_layer != 0 && sec.left / per_layer != (uint64_t)n_layer) MALFORMED("KV section size");
    if (per_layer == 0 && sec.left != 0) MALFORMED("KV section size");
    if (per_layer != 0 && sec.left % per_layer != 0) MALFORMED("KV section size");
    p->kv = sec.p;
    p->row_k = (size_t)rk;
    p->row_v = (size_t)rv;
    if (r.left != 0) MALFORMED("bytes after the last section");
    return LLM_OK;
}

/* The session takes over what p holds (p's pointers are cleared as they move). The KV rows are
 * written first, into a cache emptied for them: when that fails (out of memory), the session is
 * reset. */
static llm_status commit(llm_session *s, parsed *p) {
    const llm_hparams *hp = llm_arch_hparams(s->model->arch);
    llm_forward_cancel(s->kv);
    s->job = JOB_NONE_;
    llm_kv_truncate(s->kv, 0); /* its pages (some perhaps shared with the context's prefixes) go */
    llm_err err;
    llm_err_clear(&err);
    const uint8_t *kv = p->kv;
    for (int32_t il = 0; il < hp->n_layer && p->n_past > 0; il++) {
        for (int is_v = 0; is_v < 2; is_v++) {
            llm_status st = llm_kv_write_rows(s->kv, il, is_v, 0, p->n_past, kv, &err);
            if (st != LLM_OK) {
                llm_session_reset(s);
                return llm_fail(&s->h, st, "saved session: %s (the session was reset)", err.msg);
            }
            kv += (size_t)p->n_past * (is_v ? p->row_v : p->row_k);
        }
    }
    llm_kv_set_n_past(s->kv, p->n_past);
    memcpy(s->history, p->history, (size_t)p->n_past * sizeof *s->history);

    s->sp = p->sp;
    llm_sampler_set_state(s->sampler, &p->ss);
    s->max_tokens = p->max_tokens;
    s->all_logits = p->all_logits;
    s->top_logprobs = p->top_logprobs;
    s->pending_token = p->pending_token;
    s->n_generated = p->n_generated;
    s->finished = p->finished;
    s->n_evaluated = p->n_evaluated;
    s->sampling_ns = p->sampling_ns;
    s->sample_ns = p->sample_ns;
    s->lp_valid = p->lp_valid;
    s->lp_chosen = p->lp_chosen;
    s->lp_n = p->lp_n;
    memcpy(s->lp_tok, p->lp_tok, sizeof s->lp_tok);
    memcpy(s->lp_val, p->lp_val, sizeof s->lp_val);
    s->chat_text_valid = p->chat_text_valid;
    s->chat_need_reply = p->chat_need_reply;
    s->chat_in_reply = p->chat_in_reply;
    s->chat_reply_start = p->chat_reply_start;
    s->tmpl_limits = p->limits;
    s->shift_mode = p->shift_mode;
    s->shift_keep = p->shift_keep;
    s->chat_system_end = p->chat_system_end;
    s->chat_shifted = p->chat_shifted;
    s->n_shifts = p->n_shifts;
    s->n_reused = p->n_reused;
    s->reuse_base = -1;

    free(s->logits);
    s->logits = p->logits;
    p->logits = NULL;
    s->n_logit_rows = p->n_logit_rows;
    s->logit_cap_rows = p->n_logit_rows > 0 ? p->n_logit_rows : 1;

#define TAKE_BUF(dst, src)    \
    do {                      \
        llm_buf_free(&(dst)); \
        (dst) = (src);        \
        memset(&(src), 0, sizeof(src)); \
    } while (0)
    TAKE_BUF(s->held, p->held);
    TAKE_BUF(s->out, p->out);
    TAKE_BUF(s->chat_text, p->chat_text);
    TAKE_BUF(s->chat_reply, p->chat_reply);
    TAKE_BUF(s->conv.messages, p->messages);
    TAKE_BUF(s->conv.vars, p->vars);
#undef TAKE_BUF
    llm_buf_clear(&s->chat_next);
    s->conv.n_messages = p->n_messages;

    llm_session_clear_stops(s);
    s->stops = p->stops;
    s->n_stops = p->n_stops;
    p->stops = NULL;
    p->n_stops = 0;

    free(s->bias_tok);
    free(s->bias_val);
    s->bias_tok = p->bias_tok;
    s->bias_val = p->bias_val;
    s->n_bias = p->n_bias;
    p->bias_tok = NULL;
    p->bias_val = NULL;

    llm_gmatcher_free(s->gm);
    llm_grammar_free(s->grammar);
    free(s->grammar_src);
    free(s->grammar_root);
    free(s->gm_tok);
    s->grammar = p->grammar;
    s->gm = p->gm;
    s->grammar_src = p->grammar_src;
    s->grammar_root = p->grammar_root;
    s->gm_tok = p->gm_tok;
    s->gm_n = p->gm_n;
    s->gm_cap = p->gm_tok ? p->gm_n + 1 : 0;
    p->grammar = NULL;
    p->gm = NULL;
    p->grammar_src = p->grammar_root = NULL;
    p->gm_tok = NULL;
    llm_err_clear(&s->h.err);
    return LLM_OK;
}

llm_status llm_session_load(llm_session *s, const void *data, size_t size) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!data && size) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "data is NULL");
    llm_status st = check_saveable(s);
    if (st != LLM_OK) return st;
    parsed p;
    memset(&p, 0, sizeof p);
    st = parse_state(s, data ? data : "", size, &p);
    if (st == LLM_OK) st = commit(s, &p);
    parsed_free(&p);
    return st;
}

llm_status llm_session_load_file(llm_session *s, const char *path) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!path) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return llm_fail(&s->h, LLM_ERR_IO, "cannot open %s", path);
    llm_swriter w = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) llm_sw_bytes(&w, chunk, n);
    const int failed = ferror(f);
    fclose(f);
    if (failed) {
        llm_sw_free(&w);
        return llm_fail(&s->h, LLM_ERR_IO, "cannot read %s", path);
    }
    if (w.oom) {
        llm_sw_free(&w);
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    llm_status st = llm_session_load(s, w.data, w.len);
    llm_sw_free(&w);
    return st;
}
