/* Long conversations and shared prompt prefixes for CPU sessions: the context shift that makes
 * room when a session's context is full (LLM_OPT_CONTEXT_SHIFT), and the use of the context's
 * prefix cache (lib/prefix) when a prompt is fed. */
#include <string.h>

#include "api/internal.h"

int llm_session_shifts(const llm_session *s) { return s->shift_mode != LLM_SHIFT_NONE && !s->dev && s->kv; }

/* The tokens a shift keeps by default: the conversation's system prompt when chatting, else the
 * first token when it is the BOS (the model saw every text after one). */
static int32_t default_keep(const llm_session *s) {
    if (s->chat_system_end > 0) return s->chat_system_end;
    const int32_t bos = llm_tokenizer_bos(s->model->tok);
    return llm_kv_n_past(s->kv) > 0 && bos >= 0 && s->history[0] == bos ? 1 : 0;
}

int32_t llm_session_shift_keep(const llm_session *s) { return s->shift_keep >= 0 ? s->shift_keep : default_keep(s); }

llm_status llm_session_make_room(llm_session *s, int32_t n_need) {
    const int32_t n_past = llm_kv_n_past(s->kv), n_ctx = llm_kv_n_ctx(s->kv);
    int32_t n_keep = llm_session_shift_keep(s);
    if (n_keep > n_past) n_keep = n_past;
    /* like llama.cpp: half of what follows the kept tokens goes, or more when the new tokens need it */
    const int32_t n_left = n_past - n_keep;
    int32_t n_discard = n_left / 2;
    const int32_t n_min = n_past + n_need - n_ctx; /* the least that makes room */
    /* sliding-window layers look back `window` positions: keep that many recent tokens when the
     * context allows (more frequent, smaller shifts) */
    const int32_t window = llm_arch_hparams(s->model->arch)->sliding_window;
    if (window > 0 && n_left - n_discard < window && n_left - window >= n_min && n_left - window >= 1)
        n_discard = n_left - window;
    if (n_discard < n_min) n_discard = n_min;
    if (n_discard < 1 || n_discard > n_left)
        return llm_fail(&s->h, LLM_ERR_CONTEXT_FULL,
                        "context shift: %d tokens do not fit after keeping %d of the context's %d (LLM_OPT_SHIFT_KEEP)",
                        (int)n_need, (int)n_keep, (int)n_ctx);
    llm_err err;
    llm_err_clear(&err);
    llm_status st;
    const int32_t n_moved = n_past - n_keep - n_discard;
    if (s->shift_mode == LLM_SHIFT_RECOMPUTE) {
        /* the kept tokens evaluated again after the first n_keep: exactly a session fed only them */
        llm_kv_truncate(s->kv, n_keep);
        memmove(s->history + n_keep, s->history + n_keep + n_discard, (size_t)n_moved * sizeof *s->history);
        st = n_moved > 0 ? llm_forward(s->model->arch, s->kv, s->history + n_keep, n_moved, NULL, 0, s->ctx->pool,
                                       s->abort_fn, s->abort_ud, &err)
                         : LLM_OK;
        if (st != LLM_OK) {
            /* the cache holds the first n_keep tokens: a consistent, shorter session */
            s->n_logit_rows = 0;
            s->chat_text_valid = 0;
            return llm_fail(&s->h, st, "context shift: %s", err.msg);
        }
        s->n_evaluated += n_moved;
    } else {
        st = llm_kv_shift(s->model->arch, s->kv, n_keep, n_discard, &err);
        if (st != LLM_OK) return llm_fail(&s->h, st, "context shift: %s", err.msg);
        memmove(s->history + n_keep, s->history + n_keep + n_discard, (size_t)n_moved * sizeof *s->history);
    }
    s->n_shifts++;
    /* the conversation: its text is no longer the cache's, but what follows it still is new */
    s->chat_shifted = 1;
    if (s->chat_reply_start != INT32_MAX)
        s->chat_reply_start = s->chat_reply_start - n_discard > n_keep ? s->chat_reply_start - n_discard : n_keep;
    if (s->chat_system_end > n_keep) s->chat_system_end = 0;
    return LLM_OK;
}

int32_t llm_session_reuse_prefix(llm_session *s, const int32_t *tokens, int32_t n) {
    llm_prefix_cache *pc = s->ctx->prefixes;
    const int32_t n_past = llm_kv_n_past(s->kv), per = llm_kv_page_positions();
    if (!pc || n < 2 || n > llm_kv_n_ctx(s->kv) - n_past) return 0;
    /* the whole sequence: the cached tokens, then the new ones (their history entries are
     * written now; entries past n_past mean nothing until n_past covers them) */
    memcpy(s->history + n_past, tokens, (size_t)n * sizeof *tokens);
    int32_t m = 0, n_pages = 0;
    llm_kv_page *const *pages = NULL;
    llm_prefix_cache_lookup(pc, s->history, n_past + n - 1, &m, &pages, &n_pages);
    if (m <= n_past) return 0;
    /* whole pages are shared; the rows of a last partial page are copied into the session's own */
    const int32_t full = m / per;
    llm_kv_pages_attach(s->kv, pages, full);
    if (m % per) {
        llm_err err;
        llm_err_clear(&err);
        if (full >= n_pages || llm_kv_page_copy_rows(s->kv, full, pages[full], m % per, &err) != LLM_OK) {
            m = full * per; /* out of memory for the copy: the whole pages only */
            if (m <= n_past) {
                llm_kv_truncate(s->kv, n_past);
                return 0;
            }
        }
    }
    llm_kv_set_n_past(s->kv, m);
    return m - n_past;
}

void llm_session_share_prefix(llm_session *s) {
    if (!s->ctx->prefixes) return;
    llm_err err;
    llm_err_clear(&err);
    /* out of memory only means the prefix is not kept */
    (void)llm_prefix_cache_insert(s->ctx->prefixes, s->kv, s->history, llm_kv_n_past(s->kv), &err);
}
