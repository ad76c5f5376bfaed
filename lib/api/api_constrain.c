/* Constrained output on sessions: grammars (lib/grammar), JSON Schema (lib/schema), logit bias,
 * and the log-probabilities recorded with each sampled token. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "schema/json_schema.h"

static int valid(const llm_session *s) { return s && s->h.magic == LLM_MAGIC_SESSION; }

/* ---- the vocabulary's prefix tree ---------------------------------------------------------- */

/* One lock for every model's lazy tree: it is taken once per llm_session_set_grammar, and a
 * tree is built once per model. */
static pthread_mutex_t g_trie_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *output_piece(void *ud, int32_t id, size_t *len) {
    /* the bytes a token adds to the generated text (control tokens add none) */
    return llm_tokenizer_piece((const llm_tokenizer *)ud, id, 0, len);
}

llm_status llm_model_trie(const llm_model *m, const llm_token_trie **trie, const int32_t **eog_ids, int32_t *n_eog,
                          llm_err *err) {
    llm_model *mm = (llm_model *)m; /* the tree is a cache: the model's contents do not change */
    pthread_mutex_lock(&g_trie_lock);
    llm_status st = LLM_OK;
    const int32_t n = llm_tokenizer_n_vocab(m->tok);
    if (!mm->eog_ids) {
        int32_t count = 0;
        for (int32_t t = 0; t < n; t++) count += llm_tokenizer_is_eog(m->tok, t) != 0;
        mm->eog_ids = malloc((size_t)(count ? count : 1) * sizeof *mm->eog_ids);
        if (!mm->eog_ids) {
            st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            mm->n_eog = 0;
            for (int32_t t = 0; t < n; t++)
                if (llm_tokenizer_is_eog(m->tok, t)) mm->eog_ids[mm->n_eog++] = t;
        }
    }
    if (st == LLM_OK && !mm->trie) st = llm_token_trie_build(n, output_piece, (void *)m->tok, &mm->trie, err);
    *trie = mm->trie;
    if (eog_ids) *eog_ids = mm->eog_ids;
    if (n_eog) *n_eog = mm->n_eog;
    pthread_mutex_unlock(&g_trie_lock);
    return st;
}

/* ---- grammars ------------------------------------------------------------------------------ */

/* g was parsed from src[0..len) with root rule root (kept for saved sessions). */
static llm_status install_grammar(llm_session *s, llm_grammar *g, const char *src, size_t len, const char *root) {
    llm_err err;
    llm_err_clear(&err);
    const llm_token_trie *trie;
    llm_gmatcher *gm = NULL;
    char *src_copy = llm_memdup_str(src, len), *root_copy = llm_memdup_str(root, strlen(root));
    llm_status st = src_copy && root_copy ? llm_model_trie(s->model, &trie, NULL, NULL, &err)
                                          : llm_err_set(&err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == LLM_OK) st = llm_gmatcher_new(g, &gm, &err);
    if (st != LLM_OK) {
        llm_grammar_free(g);
        free(src_copy);
        free(root_copy);
        return llm_fail(&s->h, st, "%s", err.msg);
    }
    llm_gmatcher_free(s->gm);
    llm_grammar_free(s->grammar);
    free(s->grammar_src);
    free(s->grammar_root);
    s->grammar = g;
    s->gm = gm;
    s->grammar_src = src_copy;
    s->grammar_root = root_copy;
    s->gm_n = 0;
    return LLM_OK;
}

static void clear_grammar(llm_session *s) {
    llm_gmatcher_free(s->gm);
    llm_grammar_free(s->grammar);
    free(s->grammar_src);
    free(s->grammar_root);
    s->gm = NULL;
    s->grammar = NULL;
    s->grammar_src = s->grammar_root = NULL;
    s->gm_n = 0;
}

llm_status llm_session_set_grammar(llm_session *s, const char *gbnf, const char *root) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!gbnf || !gbnf[0]) {
        clear_grammar(s);
        return LLM_OK;
    }
    llm_err err;
    llm_err_clear(&err);
    llm_grammar *g = NULL;
    llm_status st = llm_grammar_parse(gbnf, strlen(gbnf), root, &g, &err);
    if (st != LLM_OK) return llm_fail(&s->h, st, "grammar: %s", err.msg);
    return install_grammar(s, g, gbnf, strlen(gbnf), root ? root : "root");
}

llm_status llm_session_set_json_schema(llm_session *s, const char *schema) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!schema) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "schema is NULL");
    llm_err err;
    llm_err_clear(&err);
    llm_buf text = {0};
    llm_status st = llm_schema_to_gbnf(schema, strlen(schema), &text, &err);
    llm_grammar *g = NULL;
    if (st == LLM_OK) {
        st = llm_grammar_parse(text.data ? text.data : "", text.len, "root", &g, &err);
        if (st != LLM_OK && st != LLM_ERR_LIMIT && st != LLM_ERR_OUT_OF_MEMORY) {
            /* the converter's output always parses: this is a bug of the library */
            char why[LLM_ERRMSG_MAX];
            memcpy(why, err.msg, sizeof why);
            st = llm_err_set(&err, LLM_ERR_INTERNAL, "the schema's grammar does not parse: %s", why);
        }
    }
    if (st != LLM_OK) {
        llm_buf_free(&text);
        return llm_fail(&s->h, st, "JSON schema: %s", err.msg);
    }
    st = install_grammar(s, g, text.data ? text.data : "", text.len, "root");
    llm_buf_free(&text);
    return st;
}

llm_status llm_grammar_validate(const char *gbnf, const char *root, llm_options *o) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    if (!gbnf) {
        if (o) llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "grammar is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    llm_err err;
    llm_err_clear(&err);
    llm_grammar *g = NULL;
    llm_status st = llm_grammar_parse(gbnf, strlen(gbnf), root, &g, &err);
    llm_grammar_free(g);
    if (st != LLM_OK && o) llm_fail(&o->h, st, "grammar: %s", err.msg);
    return st;
}

/* ---- logit bias ---------------------------------------------------------------------------- */

llm_status llm_session_set_logit_bias(llm_session *s, const int32_t *tokens, const float *bias, size_t n) {
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (n && (!tokens || !bias)) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "logit bias arrays are NULL");
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= s->n_vocab)
            return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "logit bias: token %ld is not in the vocabulary (0..%ld)",
                            (long)tokens[i], (long)s->n_vocab - 1);
        if (isnan(bias[i])) return llm_fail(&s->h, LLM_ERR_INVALID_ARGUMENT, "logit bias of token %ld is NaN", (long)tokens[i]);
    }
    int32_t *t = NULL;
    float *b = NULL;
    if (n) {
        t = malloc(n * sizeof *t);
        b = malloc(n * sizeof *b);
        if (!t || !b) {
            free(t);
            free(b);
            return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        }
        memcpy(t, tokens, n * sizeof *t);
        memcpy(b, bias, n * sizeof *b);
    }
    free(s->bias_tok);
    free(s->bias_val);
    s->bias_tok = t;
    s->bias_val = b;
    s->n_bias = n;
    return LLM_OK;
}

/* ---- sampling ------------------------------------------------------------------------------ */

/* The sampler's view of the grammar: the filter callbacks. EOG tokens are allowed where the
 * grammar accepts; tokens without output text (control tokens) never, since they could repeat
 * forever without moving the grammar. */
typedef struct filter_ctx {
    llm_session *s;
    const llm_token_trie *trie;
    const int32_t *eog_ids;
    int32_t n_eog;
    llm_err err;
} filter_ctx;

static int filter_allows(void *ud, int32_t tok) {
    filter_ctx *f = ud;
    const llm_tokenizer *tk = f->s->model->tok;
    if (llm_tokenizer_is_eog(tk, tok)) return llm_gmatcher_can_end(f->s->gm);
    size_t len = 0;
    const char *p = llm_tokenizer_piece(tk, tok, 0, &len);
    if (!p || !len) return 0;
    return llm_gmatcher_allows(f->s->gm, p, len, &f->err);
}

static int filter_mask(void *ud, uint8_t *allowed) {
    filter_ctx *f = ud;
    const int32_t n = f->s->n_vocab, nt = llm_token_trie_n_tokens(f->trie);
    if (nt < n) memset(allowed + nt, 0, (size_t)(n - nt));
    if (llm_gmatcher_fill_mask(f->s->gm, f->trie, allowed, &f->err) != LLM_OK) return -1;
    const uint8_t end = (uint8_t)llm_gmatcher_can_end(f->s->gm);
    for (int32_t i = 0; i < f->n_eog; i++)
        if (f->eog_ids[i] < n) allowed[f->eog_ids[i]] = end;
    return 0;
}

void llm_constrain_restart(llm_session *s) {
    if (s->gm) llm_gmatcher_reset(s->gm);
    s->gm_n = 0;
    s->lp_valid = 0;
}

llm_status llm_constrain_sample(llm_session *s, const float *row, const int32_t *history, size_t n_history,
                                int32_t *token, int *must_end) {
    *token = -1;
    *must_end = 0;
    s->lp_valid = 0;
    const llm_logit_bias bias = {s->bias_tok, s->bias_val, s->n_bias};
    filter_ctx fc = {s, NULL, NULL, 0, {0}};
    llm_err_clear(&fc.err);
    llm_sample_filter filter = {filter_allows, filter_mask, &fc};
    const llm_sample_filter *f = NULL;
    if (s->gm) {
        /* built when the grammar was set */
        llm_status st = llm_model_trie(s->model, &fc.trie, &fc.eog_ids, &fc.n_eog, &fc.err);
        if (st != LLM_OK) return llm_fail(&s->h, st, "%s", fc.err.msg);
        f = &filter;
    }
    const int32_t tok = llm_sampler_sample_ex(s->sampler, &s->sp, row, history, n_history, s->n_bias ? &bias : NULL, f);
    if (tok == LLM_SAMPLE_FILTER_ERROR)
        return llm_fail(&s->h, fc.err.code ? fc.err.code : LLM_ERR_OUT_OF_MEMORY, "grammar: %s",
                        fc.err.code ? fc.err.msg : "out of memory");
    if (tok < 0) return LLM_OK; /* nothing allowed */
    if (s->top_logprobs >= 0) {
        const int got = llm_sampler_logprobs(s->sampler, row, s->n_bias ? &bias : NULL, f, tok, s->top_logprobs,
                                             &s->lp_chosen, s->lp_tok, s->lp_val);
        if (got < 0)
            return llm_fail(&s->h, fc.err.code ? fc.err.code : LLM_ERR_OUT_OF_MEMORY, "grammar: %s",
                            fc.err.code ? fc.err.msg : "out of memory");
        s->lp_n = got;
        s->lp_valid = 1;
    }
    if (s->gm && !llm_tokenizer_is_eog(s->model->tok, tok)) {
        if (s->gm_n == s->gm_cap) { /* the accepted tokens, for saved sessions */
            const size_t cap = s->gm_cap ? s->gm_cap * 2 : 64;
            int32_t *grown = realloc(s->gm_tok, cap * sizeof *grown);
            if (!grown) return llm_fail(&s->h, LLM_ERR_OUT_OF_MEMORY, "out of memory");
            s->gm_tok = grown;
            s->gm_cap = cap;
        }
        size_t len = 0;
        const char *p = llm_tokenizer_piece(s->model->tok, tok, 0, &len);
        llm_status st = llm_gmatcher_accept(s->gm, p, len, &fc.err);
        if (st != LLM_OK) return llm_fail(&s->h, st, "grammar: %s", fc.err.msg);
        s->gm_tok[s->gm_n++] = tok;
        *must_end = llm_gmatcher_must_end(s->gm);
    }
    *token = tok;
    return LLM_OK;
}

llm_status llm_session_logprobs(llm_session *s, float *logprob, int32_t *top_tokens, float *top_logprobs,
                                size_t capacity, size_t *n_top) {
    if (n_top) *n_top = 0;
    if (!valid(s)) return LLM_ERR_INVALID_ARGUMENT;
    if (!s->lp_valid)
        return llm_fail(&s->h, LLM_ERR_STATE, s->top_logprobs < 0 ? "log-probabilities are off (LLM_OPT_TOP_LOGPROBS)"
                                                                   : "no token has been sampled since the last feed");
    if (logprob) *logprob = s->lp_chosen;
    size_t n = (size_t)s->lp_n < capacity ? (size_t)s->lp_n : capacity;
    for (size_t i = 0; i < n; i++) {
        if (top_tokens) top_tokens[i] = s->lp_tok[i];
        if (top_logprobs) top_logprobs[i] = s->lp_val[i];
    }
    if (n_top) *n_top = (size_t)s->lp_n;
    return LLM_OK;
}

void llm_constrain_free(llm_session *s) {
    clear_grammar(s);
    free(s->gm_tok);
    s->gm_tok = NULL;
    s->gm_cap = 0;
    free(s->bias_tok);
    free(s->bias_val);
    s->bias_tok = NULL;
    s->bias_val = NULL;
    s->n_bias = 0;
}
