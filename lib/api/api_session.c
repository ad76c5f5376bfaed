/* Sessions: feeding input, generating (step and streaming), stop strings, logits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "memory/memory.h"
#include "runtime/textout.h"

static int valid(const llm_session *s) { return s && s->h.magic == LLM_MAGIC_SESSION; }

/* The position and capacity of the session's cache, on either backend (see internal.h). */
static int32_t sess_n_past(const llm_session *s) { return s->dev ? s->dev_n_past : llm_kv_n_past(s->kv); }
static int32_t sess_n_ctx(const llm_session *s) { return s->dev ? s->ctx->n_ctx : llm_kv_n_ctx(s->kv); }

static void apply_sampling(llm_sampling_params *sp, llm_option key, double v) {
    switch (key) {
    case LLM_OPT_TEMPERATURE: sp->temperature = (float)v; break;
    case LLM_OPT_TOP_K: sp->top_k = (int32_t)v; break;
    case LLM_OPT_TOP_P: sp->top_p = (float)v; break;
    case LLM_OPT_MIN_P: sp->min_p = (float)v; break;
    case LLM_OPT_REPEAT_PENALTY: sp->repeat_penalty = (float)v; break;
    case LLM_OPT_FREQUENCY_PENALTY: sp->frequency_penalty = (float)v; break;
    case LLM_OPT_PRESENCE_PENALTY: sp->presence_penalty = (float)v; break;
    case LLM_OPT_PENALTY_LAST_N: sp->penalty_last_n = (int32_t)v; break;
    case LLM_OPT_SEED: sp->seed = (uint64_t)v; break;
    default: break;
    }
}

static const llm_option k_session_keys[] = {
    LLM_OPT_TEMPERATURE, LLM_OPT_TOP_K, LLM_OPT_TOP_P, LLM_OPT_MIN_P, LLM_OPT_REPEAT_PENALTY,
    LLM_OPT_FREQUENCY_PENALTY, LLM_OPT_PRESENCE_PENALTY, LLM_OPT_PENALTY_LAST_N, LLM_OPT_SEED,
    LLM_OPT_MAX_TOKENS, LLM_OPT_ALL_LOGITS, LLM_OPT_TOP_LOGPROBS, LLM_OPT_CONTEXT_SHIFT, LLM_OPT_SHIFT_KEEP,
};

static void apply_option(llm_session *s, llm_option key, double v) {
    if (key == LLM_OPT_MAX_TOKENS) s->max_tokens = (int32_t)v;
    else if (key == LLM_OPT_ALL_LOGITS) s->all_logits = v != 0;
    else if (key == LLM_OPT_TOP_LOGPROBS) s->top_logprobs = (int32_t)v;
    else if (key == LLM_OPT_CONTEXT_SHIFT) s->shift_mode = (int)v;
    else if (key == LLM_OPT_SHIFT_KEEP) s->shift_keep = (int32_t)v;
    else apply_sampling(&s->sp, key, v);
}

static void session_destroy(llm_session *s) {
    llm_mem_session_release(s);
    llm_kv_free(s->kv);
    if (s->dev) s->ctx->dev_api->session_free(s->dev);
    free(s->dev_tokens);
    llm_sampler_free(s->sampler);
    free(s->logits);
    free(s->logits_next);
    free(s->history);
    llm_buf_free(&s->held);
    llm_buf_free(&s->out);
    llm_session_clear_stops(s);
    llm_chat_conv_free(&s->conv);
    llm_buf_free(&s->chat_text);
    llm_buf_free(&s->chat_next);
    llm_buf_free(&s->chat_reply);
    llm_constrain_free(s);
    s->h.magic = 0;
    free(s);
}

llm_status llm_session_new(llm_context *ctx, const llm_options *o, llm_session **out) {
    if (!ctx || ctx->h.magic != LLM_MAGIC_CONTEXT) return LLM_ERR_INVALID_ARGUMENT;
    if (!out) return llm_fail(&ctx->h, LLM_ERR_INVALID_ARGUMENT, "session out-parameter is NULL");
    *out = NULL;
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return llm_fail(&ctx->h, LLM_ERR_INVALID_ARGUMENT, "invalid options handle");
    if (ctx->n_sessions >= ctx->max_sessions)
        return llm_fail(&ctx->h, LLM_ERR_LIMIT, "the context already hosts its maximum of %d sessions",
                        (int)ctx->max_sessions);
    llm_session *s = calloc(1, sizeof *s);
    if (!s) return llm_fail(&ctx->h, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating a session");
    s->h.magic = LLM_MAGIC_SESSION;
    s->ctx = ctx;
    s->model = ctx->model;
    s->n_vocab = llm_arch_hparams(ctx->model->arch)->n_vocab;
    s->pending_token = -1;
    s->reuse_base = -1;
    s->chat_text_valid = 1; /* empty text, empty cache */
    s->chat_reply_start = INT32_MAX;
    llm_tmpl_limits_from_options(o, &s->tmpl_limits);
    for (size_t i = 0; i < sizeof k_session_keys / sizeof k_session_keys[0]; i++)
        apply_option(s, k_session_keys[i], llm_options_value(o, k_session_keys[i]));
    llm_err err;
    llm_err_clear(&err);
    llm_status st;
    if ((st = llm_mem_session_admit(s, o, &err)) != LLM_OK) { /* LLM_OPT_MEMORY_LIMIT (lib/memory) */
        llm_fail(&ctx->h, st, "%s", err.msg);
        session_destroy(s);
        return st;
    }
    if (ctx->dev_api) {
        char msg[LLM_ERRMSG_MAX] = "";
        const int r = ctx->dev_api->session_new(ctx->dev_model, ctx->n_ctx, &s->dev, msg, sizeof msg);
        msg[sizeof msg - 1] = 0;
        st = r == 0 ? LLM_OK : (r > 0 && r <= LLM_ERR_INTERNAL ? (llm_status)r : LLM_ERR_INTERNAL);
        if (st != LLM_OK) {
            s->dev = NULL; /* whatever the plugin wrote there is not a session */
            llm_err_set(&err, st, "%s session: %s", ctx->dev_api->name, msg[0] ? msg : "cannot create");
        }
    } else {
        st = llm_kv_new_typed(ctx->model->arch, ctx->n_ctx, ctx->kv_type, &ctx->kv_dom, &s->kv, &err);
    }
    if (st == LLM_OK) {
        s->sampler = llm_sampler_new(s->n_vocab);
        s->history = malloc((size_t)ctx->n_ctx * sizeof *s->history);
        s->logits = malloc((size_t)s->n_vocab * sizeof *s->logits);
        s->logit_cap_rows = 1;
        if (!s->sampler || !s->history || !s->logits)
            st = llm_err_set(&err, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating a session of %d tokens",
                             (int)ctx->n_ctx);
    }
    if (st != LLM_OK) {
        llm_fail(&ctx->h, st, "%s", err.msg);
        session_destroy(s);
        return st;
    }
    llm_sampler_reset(s->sampler, &s->sp);
    ctx->n_sessions++;
    *out = s;
    return LLM_OK;
}

void llm_session_free(llm_session *s) {
    if (!valid(s)) return;
    s->ctx->n_sessions--;
    session_destroy(s);
}

/* A computation begun by llm_session_step_timed and not finished yet: evaluating the chat reply
 * header (with the pending token, if any) or the pending token. */
enum { JOB_NONE = 0, JOB_REPLY = 1, JOB_PENDING = 2 };

/* Discards the computation in flight, if any: the KV cache (n_past) never moved, the tokens it
 * evaluated are still pending (or the reply header still waits), and the logits are untouched
 * (it wrote into logits_next). */
/* A failed or abandoned evaluation leaves the cache as before it began: the prefix positions
 * attached for it go too. */
static void unreuse(llm_session *s) {
    if (s->reuse_base >= 0 && s->kv) llm_kv_truncate(s->kv, s->reuse_base);
    s->reuse_base = -1;
}

static void abandon(llm_session *s) {
    if (s->job != JOB_NONE) unreuse(s);
    if (s->job == JOB_NONE) return;
    if (s->dev) s->dev_in_flight = 0;
    else llm_forward_cancel(s->kv);
    s->job = JOB_NONE;
}

static void reset_generation(llm_session *s) {
    s->n_generated = 0;
    s->finished = 0;
    llm_buf_clear(&s->held);
}

/* After new input (a feed, a chat message, the reply header, a reset): the next generation is a
 * new text, so a grammar starts over. (A step after a finished generation without new input
 * only resets the counters: it continues the same text.) */
static void new_generation(llm_session *s) {
    reset_generation(s);
    llm_constrain_restart(s);
}

llm_status llm_session_reset(llm_session *s) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    abandon(s);
    if (s->dev) s->dev_n_past = 0;
    else llm_kv_truncate(s->kv, 0);
    s->n_logit_rows = 0;
    s->pending_token = -1;
    new_generation(s);
    llm_buf_clear(&s->out);
    llm_sampler_reset(s->sampler, &s->sp);
    s->n_evaluated = 0;
    s->sampling_ns = 0;
    llm_chat_conv_clear(&s->conv); /* the messages go; the template variables stay */
    llm_buf_clear(&s->chat_text);
    llm_buf_clear(&s->chat_reply);
    s->chat_text_valid = 1;
    s->chat_reply_start = INT32_MAX;
    s->chat_need_reply = s->chat_in_reply = 0;
    s->chat_system_end = 0;
    s->chat_shifted = 0;
    s->n_shifts = 0;
    s->n_reused = 0;
    s->reuse_base = -1;
    llm_err_clear(&s->h.err);
    return LLM_OK;
}

static llm_status set_checked(llm_session *s, llm_option key, double v, int is_int) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    int allowed = 0;
    for (size_t i = 0; i < sizeof k_session_keys / sizeof k_session_keys[0]; i++) allowed |= k_session_keys[i] == key;
    if (!allowed) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "option %d cannot be set on a session", (int)key);
    /* the options object's validation, so that bounds live in one place */
    llm_err err;
    llm_status st = llm_option_check(key, v, is_int, &err);
    if (st != LLM_OK) return llm_fail(&s->h, st, "%s", err.msg);
    apply_option(s, key, v);
    if (key == LLM_OPT_SEED) llm_sampler_reset(s->sampler, &s->sp);
    return LLM_OK;
}

llm_status llm_session_set_int(llm_session *s, llm_option key, int64_t value) {
    return set_checked(s, key, (double)value, 1);
}
llm_status llm_session_set_float(llm_session *s, llm_option key, double value) {
    return set_checked(s, key, value, 0);
}

void llm_session_set_abort(llm_session *s, llm_abort_fn fn, void *user_data) {
    if (!valid(s)) return;
    s->abort_fn = fn;
    s->abort_ud = user_data;
}

llm_status llm_session_add_stop(llm_session *s, const char *stop) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!stop || !*stop) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "stop string is NULL or empty");
    char **grown = realloc(s->stops, (s->n_stops + 1) * sizeof *grown);
    if (!grown) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    s->stops = grown;
    if (!(s->stops[s->n_stops] = llm_memdup_str(stop, strlen(stop))))
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    s->n_stops++;
    return LLM_OK;
}

void llm_session_clear_stops(llm_session *s) {
    if (!s || (s->h.magic != LLM_MAGIC_SESSION && s->h.magic != 0)) return;
    for (size_t i = 0; i < s->n_stops; i++) free(s->stops[i]);
    free(s->stops);
    s->stops = NULL;
    s->n_stops = 0;
}

int32_t llm_session_n_past(const llm_session *s) { return valid(s) ? sess_n_past(s) : 0; }

/* Makes logits_next hold rows rows. */
static llm_status reserve_next(llm_session *s, int32_t rows) {
    if (rows > s->next_cap_rows) {
        float *grown = realloc(s->logits_next, (size_t)rows * (size_t)s->n_vocab * sizeof *grown);
        if (!grown) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory for %d rows of logits", (int)rows);
        s->logits_next = grown;
        s->next_cap_rows = rows;
    }
    return LLM_OK;
}

/* Starts evaluating tokens (n >= 1): checks them, records them in the history (entries past
 * n_past mean nothing until n_past covers them) and begins the forward pass into logits_next. */
static llm_status eval_begin(llm_session *s, const int32_t *tokens, size_t n) {
    abandon(s);
    int32_t n_past = sess_n_past(s), n_ctx = sess_n_ctx(s);
    if (n > (size_t)(n_ctx - n_past) && n <= (size_t)n_ctx && llm_session_shifts(s)) {
        llm_status sst = llm_session_make_room(s, (int32_t)n);
        if (sst != LLM_OK) return sst;
        n_past = sess_n_past(s);
    }
    if (n > (size_t)(n_ctx - n_past))
        return llm_fail(&s->h, LLM_ERR_CONTEXT_FULL, "%zu tokens do not fit: %d of the context's %d are in use",
                        n, (int)n_past, (int)n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->n_vocab)
            return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "token %d at index %zu is outside the vocabulary [0, %d)",
                            (int)tokens[i], i, (int)s->n_vocab);
    /* a prompt that starts like one the context keeps: those positions are attached, not computed */
    s->n_reused = 0;
    if (!s->dev && !s->all_logits && n >= 2) {
        const int32_t r = llm_session_reuse_prefix(s, tokens, (int32_t)n);
        s->n_reused = r;
        if (r > 0) s->reuse_base = n_past;
        tokens += r;
        n -= (size_t)r;
        n_past = sess_n_past(s);
    }
    int32_t rows = s->all_logits ? (int32_t)n : 1;
    llm_status rst = reserve_next(s, rows);
    if (rst != LLM_OK) return rst;
    if (s->dev) {
        /* the device pass runs whole in eval_advance; keep the tokens and the rows to return */
        if ((int32_t)n * 2 > s->dev_tokens_cap) {
            int32_t *grown = realloc(s->dev_tokens, n * 2 * sizeof *grown);
            if (!grown) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory copying %zu tokens", n);
            s->dev_tokens = grown;
            s->dev_tokens_cap = (int32_t)n * 2;
        }
        memcpy(s->dev_tokens, tokens, n * sizeof *tokens);
        s->dev_n_tokens = (int32_t)n;
        s->dev_in_flight = 1;
    } else {
        llm_err err;
        llm_err_clear(&err);
        llm_status st = llm_forward_begin(s->model->arch, s->kv, tokens, (int32_t)n, s->logits_next, s->all_logits,
                                          s->ctx->pool, &err);
        if (st != LLM_OK) {
            unreuse(s);
            return llm_fail(&s->h, st, "%s", err.msg);
        }
    }
    memcpy(s->history + n_past, tokens, n * sizeof *tokens);
    s->job_rows = rows;
    s->job_tokens = (int32_t)n;
    return LLM_OK;
}

/* Runs the evaluation begun by eval_begin until done or, with deadline_ns > 0, until the next
 * unit would end past the deadline. When done the new logits replace the previous ones. */
/* The device pass: the whole forward in one call (one unit of llm_session_step_timed: a device
 * pass takes milliseconds, and cutting it would cost a host sync per cut). The logits rows
 * asked for are the last position, or every position with LLM_OPT_ALL_LOGITS. */
static llm_status dev_advance(llm_session *s, int *done) {
    *done = 0;
    if (!s->dev_in_flight) return llm_fail(&s->h, LLM_ERR_STATE, "no computation in flight");
    s->dev_in_flight = 0;
    const int32_t n = s->dev_n_tokens;
    int32_t *rows = s->dev_tokens + n, n_out = s->all_logits ? n : 1;
    for (int32_t i = 0; i < n_out; i++) rows[i] = s->all_logits ? i : n - 1;
    char msg[LLM_ERRMSG_MAX] = "";
    const llm_plugin_api *api = s->ctx->dev_api;
    int st = api->session_forward(s->dev, s->dev_tokens, n, s->dev_n_past, rows, n_out, s->logits_next, s->abort_fn,
                                  s->abort_ud, msg, sizeof msg);
    msg[sizeof msg - 1] = 0;
    if (st == LLM_ERR_ABORTED) return llm_fail(&s->h, LLM_ERR_ABORTED, "forward pass aborted");
    if (st != LLM_OK)
        return llm_fail(&s->h, st > 0 && st <= LLM_ERR_INTERNAL ? (llm_status)st : LLM_ERR_INTERNAL, "%s: %s",
                        api->name, msg[0] ? msg : "forward pass failed");
    s->dev_n_past += n; /* only now: a failed pass leaves the cache as it was */
    *done = 1;
    return LLM_OK;
}

/* The evaluation is complete: its logits (in logits_next) replace the previous ones. */
static void eval_complete(llm_session *s) {
    float *t = s->logits;
    int32_t cap = s->logit_cap_rows;
    s->logits = s->logits_next;
    s->logit_cap_rows = s->next_cap_rows;
    s->logits_next = t;
    s->next_cap_rows = cap;
    s->n_logit_rows = s->job_rows;
    s->n_evaluated += s->job_tokens;
    s->reuse_base = -1;
    if (s->job_tokens >= 2 && !s->dev) llm_session_share_prefix(s); /* a prompt: others may start like it */
}

static llm_status eval_advance(llm_session *s, int64_t deadline_ns, int *done) {
    llm_status st;
    if (s->dev) {
        if ((st = dev_advance(s, done)) != LLM_OK) return st;
    } else {
        llm_err err;
        llm_err_clear(&err);
        st = llm_forward_advance(s->model->arch, s->kv, s->ctx->pool, deadline_ns, s->abort_fn, s->abort_ud, done,
                                 &err);
        if (st != LLM_OK) {
            unreuse(s);
            return llm_fail(&s->h, st, "%s", err.msg);
        }
    }
    if (*done) eval_complete(s);
    return LLM_OK;
}

/* Begins evaluating tokens after the sampled-but-unevaluated token, if any (an end-of-generation
 * token is dropped instead: it is not part of the text the user saw). *started = 0 when there is
 * nothing to evaluate: the feed is then complete (no pending token any more). */
static llm_status feed_begin(llm_session *s, const int32_t *tokens, size_t n, int *started) {
    int32_t pending = s->pending_token;
    int keep = pending >= 0 && !llm_tokenizer_is_eog(s->model->tok, pending);
    llm_status st = LLM_OK;
    *started = 0;
    if (keep) {
        int32_t *all = malloc((n + 1) * sizeof *all);
        if (!all) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        all[0] = pending;
        if (n) memcpy(all + 1, tokens, n * sizeof *tokens);
        st = eval_begin(s, all, n + 1); /* the tokens are copied: all can go */
        free(all);
        *started = st == LLM_OK;
    } else if (n) {
        st = eval_begin(s, tokens, n);
        *started = st == LLM_OK;
    } else {
        abandon(s);
        s->pending_token = -1;
    }
    return st;
}

/* Feeds tokens after the pending token (feed_begin), to completion. */
static llm_status feed_after_pending(llm_session *s, const int32_t *tokens, size_t n) {
    int started = 0, done = 0;
    llm_status st = feed_begin(s, tokens, n, &started);
    if (st == LLM_OK && started) st = eval_advance(s, 0, &done);
    if (st == LLM_OK) s->pending_token = -1;
    return st;
}

static llm_status feed_text(llm_session *s, const char *text, size_t len, int flags) {
    abandon(s);
    int add_bos = (flags & LLM_FEED_ADD_BOS) && sess_n_past(s) == 0 && s->pending_token < 0;
    int32_t *ids = NULL;
    size_t n = 0;
    llm_err err;
    llm_err_clear(&err);
    llm_status st = llm_tokenizer_encode(s->model->tok, text, len, add_bos, (flags & LLM_FEED_SPECIAL) != 0, &ids,
                                         &n, &err);
    if (st != LLM_OK) return llm_fail(&s->h, st, "%s", err.msg);
    st = feed_after_pending(s, ids, n);
    free(ids);
    if (st == LLM_OK) new_generation(s);
    return st;
}

llm_status llm_session_feed_text(llm_session *s, const char *text, ptrdiff_t len, int flags) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!text) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "text is NULL");
    s->chat_text_valid = 0; /* the cache now holds text outside the conversation */
    return feed_text(s, text, len < 0 ? strlen(text) : (size_t)len, flags);
}

llm_status llm_session_feed_tokens(llm_session *s, const int32_t *tokens, size_t n_tokens) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!tokens && n_tokens) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "tokens is NULL");
    abandon(s);
    s->chat_text_valid = 0;
    llm_status st = feed_after_pending(s, tokens, n_tokens);
    if (st == LLM_OK) new_generation(s);
    return st;
}

llm_status llm_session_logits(llm_session *s, int32_t index, const float **logits, int32_t *n_vocab) {
    if (!valid(s) || !logits) return LLM_ERR_INVALID_ARGUMENT;
    if (s->n_logit_rows == 0) return llm_fail(&s->h, LLM_ERR_STATE, "no logits: nothing has been fed yet");
    if (index < 0) index = s->n_logit_rows - 1;
    if (index >= s->n_logit_rows)
        return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "logits row %d requested, %d available%s", (int)index,
                        (int)s->n_logit_rows, s->all_logits ? "" : " (set LLM_OPT_ALL_LOGITS for every position)");
    *logits = s->logits + (size_t)index * (size_t)s->n_vocab;
    if (n_vocab) *n_vocab = s->n_vocab;
    return LLM_OK;
}

/* Moves the releasable part of the held text to s->out. At the end of a generation everything
 * is released (an unfinished UTF-8 sequence becomes U+FFFD). */
static llm_status release(llm_session *s, int final) {
    size_t n = s->held.len;
    if (!final) {
        size_t hold = llm_stops_holdback(s->stops, s->n_stops, s->held.data, s->held.len);
        n = llm_utf8_complete_prefix(s->held.data, s->held.len - hold);
    }
    const size_t before = s->out.len;
    if (n && llm_utf8_append_valid(&s->out, s->held.data, n)) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    /* what the caller sees of a chat reply becomes the assistant's message */
    if (s->chat_in_reply && s->out.len > before &&
        llm_buf_append(&s->chat_reply, s->out.data + before, s->out.len - before))
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    llm_buf_consume(&s->held, n);
    return LLM_OK;
}

static llm_status finish(llm_session *s, llm_finish why, llm_finish *finish_out) {
    s->finished = 1;
    if (finish_out) *finish_out = why;
    return release(s, 1);
}

/* Begins feeding the assistant's generation prompt (a chat message waits for a reply). */
static llm_status chat_sync_begin(llm_session *s, int add_generation_prompt, int *started);
static llm_status reply_begin(llm_session *s) {
    int started = 0;
    llm_status st = chat_sync_begin(s, 1, &started);
    if (st == LLM_OK) s->job = started ? JOB_REPLY : JOB_NONE;
    return st;
}

/* The rendering whose evaluation began with chat_sync_begin is in the cache. */
static void chat_sync_done(llm_session *s) {
    llm_buf t = s->chat_text;
    s->chat_text = s->chat_next;
    s->chat_next = t;
    llm_buf_clear(&s->chat_next);
    s->chat_text_valid = 1;
}

/* The reply header is in the cache: the assistant's turn is open. */
static void reply_done(llm_session *s) {
    chat_sync_done(s);
    s->chat_reply_start = sess_n_past(s);
    s->pending_token = -1;
    new_generation(s);
    s->chat_need_reply = 0;
    s->chat_in_reply = 1;
}

/* llm_session_step, llm_session_step_timed and llm_session_step_batch run a step in three
 * phases, so that a batch can evaluate its sessions' pending tokens together between the first
 * and the last: step_prepare (outputs cleared; the chat reply header evaluated, on the session's
 * own; the pending token dropped or checked), the pending token's evaluation (step_eval alone,
 * or eval_batch), step_sample (sampling, stop strings, the text out). Each phase says what comes
 * next: */
enum {
    STEP_ERROR = 0, /* return the status without text */
    STEP_OUT,       /* the step ends here (not ready, or finished): return the status and the text */
    STEP_EVAL,      /* the pending token must be evaluated (job JOB_PENDING: already begun) */
    STEP_SAMPLE     /* the logits are there: sample */
};

static int step_prepare(llm_session *s, int64_t deadline, llm_finish *finish_out, int *computed, llm_status *st) {
    llm_buf_clear(&s->out);
    if (s->finished) reset_generation(s);
    *st = LLM_OK;
    int done = 0;
    if (s->job == JOB_NONE && s->chat_need_reply) {
        if ((*st = reply_begin(s)) != LLM_OK) return STEP_ERROR;
        if (s->job == JOB_NONE) reply_done(s);
    }
    if (s->job == JOB_REPLY) {
        *computed = 1;
        if ((*st = eval_advance(s, deadline, &done)) != LLM_OK) {
            s->job = JOB_NONE;
            s->chat_text_valid = 0; /* the header is not in the cache */
            return STEP_ERROR;
        }
        if (!done) return STEP_OUT;
        s->job = JOB_NONE;
        reply_done(s);
    }
    if (s->job == JOB_NONE && s->pending_token >= 0) {
        if (llm_tokenizer_is_eog(s->model->tok, s->pending_token)) {
            s->pending_token = -1;
        } else if (sess_n_past(s) >= sess_n_ctx(s) && !llm_session_shifts(s)) {
            *st = finish(s, LLM_FINISH_CONTEXT, finish_out);
            return STEP_OUT;
        } else if (sess_n_past(s) >= sess_n_ctx(s)) {
            if ((*st = llm_session_make_room(s, 1)) != LLM_OK) return STEP_ERROR;
            return STEP_EVAL;
        } else {
            return STEP_EVAL;
        }
    }
    return s->job == JOB_PENDING ? STEP_EVAL : STEP_SAMPLE;
}

/* The pending token's evaluation ended with *st (alone or in a batch): an abort finishes the
 * generation (the cache is as before the step), an error ends the step. */
static int step_evaluated(llm_session *s, llm_status *st, llm_finish *finish_out) {
    s->job = JOB_NONE;
    if (*st == LLM_ERR_ABORTED) {
        *st = finish(s, LLM_FINISH_ABORTED, finish_out);
        return STEP_OUT;
    }
    if (*st != LLM_OK) return STEP_ERROR;
    s->pending_token = -1;
    return STEP_SAMPLE;
}

/* Evaluates the pending token on the session's own, resuming a computation begun by an earlier
 * timed step. */
static int step_eval(llm_session *s, int64_t deadline, llm_finish *finish_out, int *computed, llm_status *st) {
    if (s->job == JOB_NONE) {
        if ((*st = eval_begin(s, &s->pending_token, 1)) != LLM_OK) return STEP_ERROR;
        s->job = JOB_PENDING;
    }
    *computed = 1;
    int done = 0;
    *st = eval_advance(s, deadline, &done);
    if (*st == LLM_OK && !done) return STEP_OUT;
    return step_evaluated(s, st, finish_out);
}

static int step_sample(llm_session *s, int computed, int64_t deadline, int32_t *token, llm_finish *finish_out,
                       llm_status *st) {
    *st = LLM_OK;
    if (s->n_logit_rows == 0) {
        *st = llm_fail(&s->h, LLM_ERR_STATE, "nothing has been fed: feed a prompt first");
        return STEP_ERROR;
    }
    if (s->max_tokens > 0 && s->n_generated >= s->max_tokens) {
        *st = finish(s, LLM_FINISH_LENGTH, finish_out);
        return STEP_OUT;
    }
    /* sampling would overrun the budget after the forward pass: it opens the next call */
    if (computed && deadline > 0 && llm_now_ns() + s->sample_ns > deadline) return STEP_OUT;

    int32_t n_past = sess_n_past(s);
    int32_t look = s->sp.penalty_last_n < n_past ? s->sp.penalty_last_n : n_past;
    const float *row = s->logits + (size_t)(s->n_logit_rows - 1) * (size_t)s->n_vocab;
    const int64_t t0 = llm_now_ns();
    int32_t tok;
    int must_end;
    *st = llm_constrain_sample(s, row, s->history + n_past - look, (size_t)look, &tok, &must_end);
    s->sample_ns = llm_now_ns() - t0;
    s->sampling_ns += s->sample_ns;
    if (*st != LLM_OK) return STEP_ERROR;
    if (tok < 0) { /* the grammar allows no token here */
        *st = finish(s, LLM_FINISH_GRAMMAR, finish_out);
        return STEP_OUT;
    }
    s->n_generated++;
    s->pending_token = tok;
    if (token) *token = tok;

    if (llm_tokenizer_is_eog(s->model->tok, tok)) {
        *st = finish(s, LLM_FINISH_EOG, finish_out);
        return STEP_OUT;
    }
    if (s->chat_in_reply && s->chat_text_valid) {
        /* the sampled token's text as the template would write it: the cache's text (with the
         * pending token) stays known, so the next chat message feeds only what follows */
        size_t slen = 0;
        const char *sp = llm_tokenizer_piece(s->model->tok, tok, 1, &slen);
        if (sp && slen && llm_buf_append(&s->chat_text, sp, slen)) s->chat_text_valid = 0;
    }
    size_t plen = 0;
    const char *piece = llm_tokenizer_piece(s->model->tok, tok, 0, &plen);
    if (piece && plen && llm_buf_append(&s->held, piece, plen)) {
        *st = llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return STEP_ERROR;
    }
    size_t pos;
    if (llm_stops_find(s->stops, s->n_stops, s->held.data, s->held.len, &pos)) {
        s->held.len = pos; /* the stop string and what follows it are not output */
        *st = finish(s, LLM_FINISH_STOP, finish_out);
    } else if (must_end) { /* the grammar's string is complete: as at an end-of-generation token */
        *st = finish(s, LLM_FINISH_EOG, finish_out);
    } else if (s->max_tokens > 0 && s->n_generated >= s->max_tokens) {
        *st = finish(s, LLM_FINISH_LENGTH, finish_out);
    } else if (sess_n_past(s) >= sess_n_ctx(s) && !llm_session_shifts(s)) {
        *st = finish(s, LLM_FINISH_CONTEXT, finish_out); /* the token cannot be evaluated any more */
    } else {
        *st = release(s, 0);
    }
    return STEP_OUT;
}

/* llm_session_step and llm_session_step_timed. With budget_us > 0 the forward pass runs in
 * units until the next would end past the budget (at least one unit per call) and the call
 * returns "not ready" (token -1, LLM_FINISH_NONE, no text) while the token is not sampled yet;
 * the next call resumes. budget_us = 0 runs to the end: the same units in the same order, so
 * the logits, tokens and text are the same for every budget. */
static llm_status step_impl(llm_session *s, int64_t budget_us, int32_t *token, const char **text, size_t *len,
                            llm_finish *finish_out) {
    if (token) *token = -1;
    if (text) *text = "";
    if (len) *len = 0;
    if (finish_out) *finish_out = LLM_FINISH_NONE;
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (budget_us < 0) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "negative time budget");
    const int64_t max_us = INT64_MAX / 4000; /* keeps the deadline far from overflowing */
    const int64_t deadline = budget_us > 0 ? llm_now_ns() + (budget_us < max_us ? budget_us : max_us) * 1000 : 0;
    llm_status st;
    int computed = 0;
    int next = step_prepare(s, deadline, finish_out, &computed, &st);
    if (next == STEP_EVAL) next = step_eval(s, deadline, finish_out, &computed, &st);
    if (next == STEP_SAMPLE) next = step_sample(s, computed, deadline, token, finish_out, &st);
    if (next == STEP_ERROR) return st;
    if (text) *text = s->out.data ? s->out.data : "";
    if (len) *len = s->out.len;
    return st;
}

llm_status llm_session_step(llm_session *s, int32_t *token, const char **text, size_t *len, llm_finish *finish_out) {
    return step_impl(s, 0, token, text, len, finish_out);
}

llm_status llm_session_step_timed(llm_session *s, int64_t budget_us, int32_t *token, const char **text, size_t *len,
                                  llm_finish *finish_out) {
    return step_impl(s, budget_us, token, text, len, finish_out);
}

/* ---- batched decode ------------------------------------------------------------------------ */

/* The abort function handed to a plugin's batched pass: polls every session of the batch and
 * marks those whose abort function fires (the pass then fails as a whole, and eval_batch_dev
 * runs it again without them: on a device the batch cannot shed a session between layers). */
typedef struct dev_abort {
    llm_session **ss;
    const int32_t *live;
    int32_t n_live;
    unsigned char *fired;
} dev_abort;

static int dev_abort_poll(void *p) {
    dev_abort *a = p;
    int any = 0;
    for (int32_t j = 0; j < a->n_live; j++) {
        llm_session *s = a->ss[a->live[j]];
        if (!a->fired[j] && s->abort_fn && s->abort_fn(s->abort_ud)) a->fired[j] = 1;
        any |= a->fired[j];
    }
    return any;
}

/* The device side of eval_batch: the plugin's batched pass. */
static void eval_batch_dev(llm_context *ctx, llm_session **ss, int32_t n, llm_status *st) {
    const llm_plugin_api *api = ctx->dev_api;
    llm_plugin_session **ps = malloc((size_t)n * sizeof *ps);
    float **outs = malloc((size_t)n * sizeof *outs);
    int32_t *ints = malloc((size_t)n * 3 * sizeof *ints);
    unsigned char *fired = malloc((size_t)n);
    if (!ps || !outs || !ints || !fired) {
        for (int32_t i = 0; i < n; i++) st[i] = llm_fail(&ss[i]->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    int32_t *toks = ints, *pos = ints + n, *live = ints + 2 * n, n_live = n;
    for (int32_t i = 0; i < n; i++) live[i] = i;
    while (n_live > 0) {
        for (int32_t j = 0; j < n_live; j++) {
            llm_session *s = ss[live[j]];
            ps[j] = s->dev;
            toks[j] = s->pending_token;
            pos[j] = s->dev_n_past;
            outs[j] = s->logits_next;
            fired[j] = 0;
        }
        dev_abort ab = {ss, live, n_live, fired};
        char msg[LLM_ERRMSG_MAX] = "";
        int r = api->session_forward_batch(ps, toks, pos, n_live, outs, dev_abort_poll, &ab, msg, sizeof msg);
        msg[sizeof msg - 1] = 0;
        int any_fired = 0;
        for (int32_t j = 0; j < n_live; j++) any_fired |= fired[j];
        if (r == LLM_OK) {
            for (int32_t j = 0; j < n_live; j++) {
                llm_session *s = ss[live[j]];
                s->dev_n_past += 1; /* only now: a failed pass leaves every cache as it was */
                eval_complete(s);
                st[live[j]] = LLM_OK;
            }
            break;
        }
        if (r == LLM_ERR_ABORTED && any_fired) {
            int32_t k = 0;
            for (int32_t j = 0; j < n_live; j++) {
                if (fired[j]) st[live[j]] = llm_fail(&ss[live[j]]->h, LLM_ERR_ABORTED, "forward pass aborted");
                else live[k++] = live[j];
            }
            n_live = k;
            continue;
        }
        const llm_status code = r > 0 && r <= LLM_ERR_INTERNAL ? (llm_status)r : LLM_ERR_INTERNAL;
        for (int32_t j = 0; j < n_live; j++)
            st[live[j]] = llm_fail(&ss[live[j]]->h, code, "%s: %s", api->name, msg[0] ? msg : "batched forward pass failed");
        break;
    }
done:
    free(ps);
    free(outs);
    free(ints);
    free(fired);
}

/* What eval_begin does before a pass, for a pending token evaluated in a batch. */
static llm_status batch_member_begin(llm_session *s) {
    llm_status st = reserve_next(s, 1);
    if (st != LLM_OK) return st;
    s->history[sess_n_past(s)] = s->pending_token;
    s->job_rows = 1;
    s->job_tokens = 1;
    return LLM_OK;
}

/* The CPU side of eval_batch: one batched forward pass (lib/model/forward.c). */
static void eval_batch_cpu(llm_context *ctx, llm_session **ss, int32_t n, llm_status *st) {
    llm_batch_item *items = malloc((size_t)n * sizeof *items);
    if (!items) {
        for (int32_t i = 0; i < n; i++) st[i] = llm_fail(&ss[i]->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return;
    }
    for (int32_t i = 0; i < n; i++)
        items[i] = (llm_batch_item){ss[i]->kv, ss[i]->pending_token, ss[i]->logits_next, ss[i]->abort_fn,
                                    ss[i]->abort_ud, LLM_OK};
    llm_err err;
    llm_err_clear(&err);
    const llm_status r = llm_forward_batch(ctx->model->arch, items, n, &ctx->batch_scratch, ctx->pool, &err);
    for (int32_t i = 0; i < n; i++) {
        if (r != LLM_OK) st[i] = llm_fail(&ss[i]->h, r, "%s", err.msg);
        else if (items[i].status == LLM_ERR_ABORTED) st[i] = llm_fail(&ss[i]->h, LLM_ERR_ABORTED, "forward pass aborted");
        else if ((st[i] = items[i].status) == LLM_OK) eval_complete(ss[i]);
    }
    free(items);
}

/* Evaluates the pending tokens of n sessions of ctx (each prepared by batch_member_begin, with
 * n_past < n_ctx and no computation in flight) together: the CPU's batched forward pass or the
 * plugin's session_forward_batch; a plugin without it gets one session_forward per session.
 * st[i]: LLM_OK (new logits in place, n_past moved), LLM_ERR_ABORTED (nothing moved) or an error
 * (recorded on the session). */
static void eval_batch(llm_context *ctx, llm_session **ss, int32_t n, llm_status *st) {
    const llm_plugin_api *api = ctx->dev_api;
    if (!api) {
        eval_batch_cpu(ctx, ss, n, st);
    } else if (LLM_PLUGIN_API_HAS(api, session_forward_batch) && api->session_forward_batch) {
        eval_batch_dev(ctx, ss, n, st);
    } else {
        for (int32_t i = 0; i < n; i++) {
            int done = 0;
            st[i] = eval_begin(ss[i], &ss[i]->pending_token, 1);
            if (st[i] == LLM_OK) st[i] = eval_advance(ss[i], 0, &done);
        }
    }
}

/* The error of a batch whose arguments are wrong: every status is LLM_ERR_INVALID_ARGUMENT and
 * the message goes to the context of the first valid session (no session is touched). */
static llm_status batch_invalid(llm_session *const *sessions, size_t n, llm_status *statuses, const char *msg) {
    for (size_t i = 0; statuses && i < n; i++) statuses[i] = LLM_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; sessions && i < n; i++)
        if (valid(sessions[i])) return llm_fail(&sessions[i]->ctx->h, LLM_ERR_INVALID_ARGUMENT, "%s", msg);
    return LLM_ERR_INVALID_ARGUMENT;
}

llm_status llm_session_step_batch(llm_session *const *sessions, size_t n, int32_t *tokens, const char **texts,
                                  size_t *lens, llm_finish *finishes, llm_status *statuses) {
    for (size_t i = 0; i < n; i++) {
        if (tokens) tokens[i] = -1;
        if (texts) texts[i] = "";
        if (lens) lens[i] = 0;
        if (finishes) finishes[i] = LLM_FINISH_NONE;
        if (statuses) statuses[i] = LLM_OK;
    }
    if (!sessions || n == 0) return batch_invalid(sessions, n, statuses, "");
    /* every check before any session is touched */
    char msg[LLM_ERRMSG_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!valid(sessions[i])) {
            snprintf(msg, sizeof msg, "llm_session_step_batch: sessions[%zu] is not a session", i);
            return batch_invalid(sessions, n, statuses, msg);
        }
        if (sessions[i]->ctx != sessions[0]->ctx) {
            snprintf(msg, sizeof msg, "llm_session_step_batch: sessions[0] and [%zu] belong to different contexts", i);
            return batch_invalid(sessions, n, statuses, msg);
        }
    }
    llm_context *ctx = sessions[0]->ctx;
    /* distinct sessions of one context are at most its session count (which bounds the scan) */
    if (n > (size_t)ctx->n_sessions) {
        snprintf(msg, sizeof msg, "llm_session_step_batch: %zu sessions given, their context has %d: some repeat", n,
                 (int)ctx->n_sessions);
        return batch_invalid(sessions, n, statuses, msg);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (sessions[i] == sessions[j]) {
                snprintf(msg, sizeof msg, "llm_session_step_batch: sessions[%zu] and [%zu] are the same session", j, i);
                return batch_invalid(sessions, n, statuses, msg);
            }
    /* per session: what comes next, its status, its finish; the batch's members and statuses */
    int *next = malloc(n * sizeof *next);
    llm_status *st = malloc(n * sizeof *st), *mst = malloc(n * sizeof *mst);
    llm_finish *fin = malloc(n * sizeof *fin);
    llm_session **members = malloc(n * sizeof *members);
    int32_t *which = malloc(n * sizeof *which);
    llm_status ret = LLM_OK;
    if (!next || !st || !mst || !fin || !members || !which) {
        ret = llm_fail(&ctx->h, LLM_ERR_OUT_OF_MEMORY, "out of memory for a batch of %zu sessions", n);
        for (size_t i = 0; statuses && i < n; i++) statuses[i] = ret;
        goto done;
    }
    /* first phase, each on its own: reply headers, resumed timed computations */
    int32_t n_members = 0;
    for (size_t i = 0; i < n; i++) {
        llm_session *s = sessions[i];
        int computed = 0;
        fin[i] = LLM_FINISH_NONE;
        next[i] = step_prepare(s, 0, &fin[i], &computed, &st[i]);
        if (next[i] == STEP_EVAL && s->job == JOB_PENDING) next[i] = step_eval(s, 0, &fin[i], &computed, &st[i]);
        if (next[i] == STEP_EVAL && (st[i] = batch_member_begin(s)) != LLM_OK) next[i] = STEP_ERROR;
        if (next[i] == STEP_EVAL) {
            members[n_members] = s;
            which[n_members++] = (int32_t)i;
        }
    }
    /* the pending tokens together */
    if (n_members > 0) eval_batch(ctx, members, n_members, mst);
    for (int32_t j = 0; j < n_members; j++) {
        const size_t i = (size_t)which[j];
        st[i] = mst[j];
        next[i] = step_evaluated(sessions[i], &st[i], &fin[i]);
    }
    /* last phase: sampling */
    for (size_t i = 0; i < n; i++) {
        llm_session *s = sessions[i];
        if (next[i] == STEP_SAMPLE) next[i] = step_sample(s, 1, 0, tokens ? &tokens[i] : NULL, &fin[i], &st[i]);
        if (next[i] != STEP_ERROR) {
            if (texts) texts[i] = s->out.data ? s->out.data : "";
            if (lens) lens[i] = s->out.len;
        }
        if (finishes) finishes[i] = fin[i];
        if (statuses) statuses[i] = st[i];
        if (st[i] != LLM_OK && ret == LLM_OK) ret = st[i];
    }
done:
    free(next);
    free(st);
    free(mst);
    free(fin);
    free(members);
    free(which);
    return ret;
}

llm_status llm_session_generate(llm_session *s, llm_text_fn fn, void *user_data, llm_finish *finish_out) {
    if (finish_out) *finish_out = LLM_FINISH_NONE;
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    for (;;) {
        int32_t tok;
        const char *text;
        size_t len;
        llm_finish why;
        llm_status st = llm_session_step(s, &tok, &text, &len, &why);
        if (st != LLM_OK) return st;
        if (len && fn && fn(user_data, text, len, tok) != 0) why = LLM_FINISH_ABORTED;
        if (why != LLM_FINISH_NONE) {
            s->finished = 1;
            if (finish_out) *finish_out = why;
            return LLM_OK;
        }
    }
}


/* ---- chat ---------------------------------------------------------------------------------- */

/* Whether a rendering needs the BOS token in front: the tokenizer asks for one and the template
 * did not write it itself. */
static int chat_wants_bos(const llm_session *s, const char *text, size_t len) {
    const llm_tokenizer *tok = s->model->tok;
    const int32_t bos = llm_tokenizer_bos(tok);
    if (!llm_tokenizer_add_bos(tok) || bos < 0) return 0;
    size_t blen = 0;
    const char *b = llm_tokenizer_piece(tok, bos, 1, &blen);
    return !(b && blen && len >= blen && memcmp(text, b, blen) == 0);
}

/* Cuts the cache back to n_keep tokens (their logits are gone with the rest). */
static void chat_truncate(llm_session *s, int32_t n_keep) {
    if (n_keep >= sess_n_past(s)) return;
    if (s->dev) s->dev_n_past = n_keep;
    else llm_kv_truncate(s->kv, n_keep);
    s->n_logit_rows = 0;
}

/* Renders the conversation and begins evaluating what the cache lacks of it (chat_sync_done
 * records the rendering once it is in). The whole rendering is tokenized, as the model saw such
 * text in training, and the cache is kept as far as its tokens agree with that:
 *   - all of them agree (the usual case: the new message follows what is cached): only the rest is
 *     fed;
 *   - they part inside the last generated reply, whose text the rendering repeats (the model may
 *     generate other tokens for a text than the tokenizer gives): the cache stands for that text,
 *     so the text after it is tokenized and fed on its own, after the pending token;
 *   - else (the template rendered an earlier part differently once a later message came, a stop
 *     string cut the reply, text was fed outside the conversation) the cache is cut back to where
 *     the tokens part, and the rest fed.
 * *started as feed_begin. */
static llm_status chat_sync_begin(llm_session *s, int add_generation_prompt, int *started) {
    *started = 0;
    llm_buf r = {0};
    char msg[LLM_ERRMSG_MAX] = "";
    llm_chat_tokens tk;
    llm_model_chat_tokens(s->model, &tk);
    llm_status st = llm_chat_conv_render(&s->conv, s->model->chat_tmpl, &tk, &s->tmpl_limits, add_generation_prompt,
                                         &r, msg, sizeof msg);
    if (st != LLM_OK) {
        llm_buf_free(&r);
        return llm_fail(&s->h, st, "chat template: %s", msg);
    }
    const char *text = r.data ? r.data : "";
    const size_t len = r.len, have = s->chat_text.len;
    int32_t *ids = NULL, *rest = NULL;
    size_t n = 0, n_rest = 0, keep = 0;
    llm_err err;
    llm_err_clear(&err);
    st = llm_tokenizer_encode(s->model->tok, text, len, chat_wants_bos(s, text, len), 1, &ids, &n, &err);
    const int32_t n_past = sess_n_past(s);
    while (st == LLM_OK && keep < n && keep < (size_t)n_past && ids[keep] == s->history[keep]) keep++;
    const int follows = s->chat_text_valid && have <= len && (have == 0 || memcmp(text, s->chat_text.data, have) == 0);
    /* after a context shift the cache holds only part of chat_text: what follows it is fed */
    const int in_reply = follows && ((keep < (size_t)n_past && (int32_t)keep >= s->chat_reply_start) || s->chat_shifted);
    if (st == LLM_OK && in_reply) {
        st = llm_tokenizer_encode(s->model->tok, text + have, len - have, 0, 1, &rest, &n_rest, &err);
        if (st == LLM_OK) st = feed_begin(s, rest, n_rest, started);
        else st = llm_fail(&s->h, st, "%s", err.msg);
    } else if (st == LLM_OK) {
        abandon(s);
        s->pending_token = -1; /* it is in the rendering again, or gone */
        if (keep == n && keep > 0) keep--; /* evaluate the last token again: fresh logits */
        const int32_t n_ctx = sess_n_ctx(s);
        size_t from = keep; /* the rendering's tokens fed from here */
        if (llm_session_shifts(s) && n > (size_t)n_ctx) {
            /* the rendering does not fit: as a shift would, keep its first tokens and its latest part */
            int32_t head = llm_session_shift_keep(s);
            if (head > (int32_t)keep) head = (int32_t)keep;
            chat_truncate(s, head);
            s->chat_text_valid = 0; /* until the rest is in */
            s->chat_reply_start = INT32_MAX;
            s->chat_shifted = 1;
            s->n_shifts++;
            from = n - (size_t)(n_ctx - head) / 2;
        } else if ((int32_t)keep < n_past) {
            chat_truncate(s, (int32_t)keep);
            s->chat_text_valid = 0; /* until the rest is in */
            s->chat_reply_start = INT32_MAX;
            s->chat_shifted = 0; /* the rendering is fed again from keep */
            if (s->chat_system_end > (int32_t)keep) s->chat_system_end = 0;
        }
        st = feed_begin(s, ids + from, n - from, started);
    } else {
        st = llm_fail(&s->h, st, "%s", err.msg);
    }
    free(ids);
    free(rest);
    llm_buf_free(&s->chat_next);
    if (st == LLM_OK) s->chat_next = r; /* chat_sync_done makes it chat_text */
    else llm_buf_free(&r);
    return st;
}

/* Adds a message (JSON object text, or role and content) to the conversation and brings the cache
 * up to date with it; a reply generated since the last message is recorded first. On failure the
 * conversation is as before. */
static llm_status chat_add(llm_session *s, const char *json, const char *role, const char *content) {
    abandon(s);
    if (!s->model->chat_tmpl)
        return llm_fail(&s->h, LLM_ERR_UNSUPPORTED, "the model has no chat template and no built-in format fits it");
    const size_t mark_len = s->conv.messages.len, mark_n = s->conv.n_messages;
    int r = 0;
    if (s->chat_in_reply)
        r |= llm_chat_conv_add_text(&s->conv, "assistant", s->chat_reply.data ? s->chat_reply.data : "",
                                    s->chat_reply.len);
    if (json) r |= llm_chat_conv_add_json(&s->conv, json, strlen(json));
    else r |= llm_chat_conv_add_text(&s->conv, role, content, strlen(content));
    if (r) {
        llm_chat_conv_truncate(&s->conv, mark_len, mark_n);
        return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int started = 0, done = 0;
    llm_status st = chat_sync_begin(s, 0, &started);
    if (st == LLM_OK && started) st = eval_advance(s, 0, &done);
    if (st != LLM_OK) {
        s->chat_text_valid = 0; /* the cache may hold part of the rendering */
        llm_chat_conv_truncate(&s->conv, mark_len, mark_n);
        return st;
    }
    chat_sync_done(s);
    /* what a context shift keeps by default: a conversation's system prompt with the first message
     * after it (templates that have no system turn fold the one into the other) */
    if (s->conv.n_messages == 1) s->chat_system_end = strcmp(role ? role : "", "system") == 0 ? -1 : 0;
    else if (s->conv.n_messages == 2 && s->chat_system_end == -1) s->chat_system_end = sess_n_past(s);
    s->pending_token = -1;
    new_generation(s);
    s->chat_in_reply = 0;
    llm_buf_clear(&s->chat_reply);
    s->chat_need_reply = strcmp(role, "assistant") != 0; /* an assistant turn is finished */
    return LLM_OK;
}

llm_status llm_session_chat(llm_session *s, const char *role, const char *content) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!role || !content) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "role and content are required");
    if (!llm_utf8_is_valid(content, strlen(content)) || !llm_utf8_is_valid(role, strlen(role)))
        return llm_fail(&s->h, LLM_ERR_INVALID_UTF8, "chat message is not valid UTF-8");
    return chat_add(s, NULL, role, content);
}

llm_status llm_session_chat_message(llm_session *s, const char *message_json) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!message_json) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "message_json is NULL");
    char msg[LLM_ERRMSG_MAX] = "";
    llm_buf role = {0};
    llm_status st = llm_chat_message_role(message_json, strlen(message_json), &role, msg, sizeof msg);
    if (st == LLM_OK) st = chat_add(s, message_json, role.data ? role.data : "", NULL);
    else llm_fail(&s->h, st, "message_json: %s", msg);
    llm_buf_free(&role);
    return st;
}

llm_status llm_session_chat_vars(llm_session *s, const char *vars_json) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    char msg[LLM_ERRMSG_MAX] = "";
    llm_status st = llm_chat_conv_set_vars(&s->conv, vars_json, msg, sizeof msg);
    if (st != LLM_OK) return llm_fail(&s->h, st, "vars_json: %s", msg);
    return LLM_OK;
}

int64_t llm_session_n_evaluated(const llm_session *s) { return valid(s) ? s->n_evaluated : 0; }
int64_t llm_session_sampling_ns(const llm_session *s) { return valid(s) ? s->sampling_ns : 0; }

int32_t llm_session_n_reused(const llm_session *s) { return valid(s) ? s->n_reused : 0; }
int32_t llm_session_n_shifts(const llm_session *s) { return valid(s) ? s->n_shifts : 0; }
