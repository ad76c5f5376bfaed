/* Tokenizer and chat-rendering calls on a model. They only read the model, so they are safe to
 * call from any number of threads; failures are reported through the status alone. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static int valid(const llm_model *m) { return m && m->h.magic == LLM_MAGIC_MODEL; }

int32_t llm_token_bos(const llm_model *m) { return valid(m) ? llm_tokenizer_bos(m->tok) : -1; }
int32_t llm_token_eos(const llm_model *m) { return valid(m) ? llm_tokenizer_eos(m->tok) : -1; }
int llm_token_is_eog(const llm_model *m, int32_t token) {
    return valid(m) ? llm_tokenizer_is_eog(m->tok, token) : 0;
}

llm_status llm_tokenize(const llm_model *m, const char *text, ptrdiff_t len, int flags, int32_t *tokens,
                        size_t capacity, size_t *n_tokens) {
    if (!valid(m) || (!text && len != 0) || (!tokens && capacity)) return LLM_ERR_INVALID_ARGUMENT;
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    int32_t *ids = NULL;
    size_t count = 0;
    llm_status st = llm_tokenizer_encode(m->tok, text ? text : "", n, (flags & LLM_TOKENIZE_ADD_BOS) != 0,
                                         (flags & LLM_TOKENIZE_SPECIAL) != 0, &ids, &count, NULL);
    if (st != LLM_OK) return st;
    if (n_tokens) *n_tokens = count;
    if (count > capacity) st = LLM_ERR_BUFFER_TOO_SMALL;
    else if (count) memcpy(tokens, ids, count * sizeof *ids);
    free(ids);
    return st;
}

llm_status llm_token_to_piece(const llm_model *m, int32_t token, int flags, char *buffer, size_t capacity,
                              size_t *needed) {
    if (!valid(m)) return LLM_ERR_INVALID_ARGUMENT;
    size_t n = 0;
    const char *p = llm_tokenizer_piece(m->tok, token, (flags & LLM_DETOKENIZE_SPECIAL) != 0, &n);
    if (!p) return LLM_ERR_INVALID_ARGUMENT;
    return llm_copy_out(p, n, buffer, capacity, needed);
}

llm_status llm_detokenize(const llm_model *m, const int32_t *tokens, size_t n_tokens, int flags, char *buffer,
                          size_t capacity, size_t *needed) {
    if (!valid(m) || (!tokens && n_tokens)) return LLM_ERR_INVALID_ARGUMENT;
    char *text = NULL;
    size_t len = 0;
    llm_status st = llm_tokenizer_decode(m->tok, tokens, n_tokens, (flags & LLM_DETOKENIZE_SPECIAL) != 0, &text,
                                         &len, NULL);
    if (st != LLM_OK) return st;
    st = llm_copy_out(text, len, buffer, capacity, needed);
    free(text);
    return st;
}
