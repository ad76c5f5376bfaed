/* TEMPORARY (removed when lib/grammar and lib/schema land): weak stand-ins so that the library
 * links while those parts are written; the real definitions override them. */
#include "api/internal.h"
#include "schema/json_schema.h"

#define WEAK __attribute__((weak))
WEAK llm_status llm_grammar_parse(const char *t, size_t l, const char *r, llm_grammar **o, llm_err *e) {
    (void)t, (void)l, (void)r;
    *o = NULL;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "grammars are not built yet");
}
WEAK void llm_grammar_free(llm_grammar *g) { (void)g; }
WEAK llm_status llm_token_trie_build(int32_t n, llm_token_piece_fn p, void *u, llm_token_trie **o, llm_err *e) {
    (void)n, (void)p, (void)u;
    *o = NULL;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "grammars are not built yet");
}
WEAK void llm_token_trie_free(llm_token_trie *t) { (void)t; }
WEAK int32_t llm_token_trie_n_tokens(const llm_token_trie *t) { (void)t; return 0; }
WEAK llm_status llm_gmatcher_new(const llm_grammar *g, llm_gmatcher **o, llm_err *e) {
    (void)g;
    *o = NULL;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "grammars are not built yet");
}
WEAK void llm_gmatcher_free(llm_gmatcher *m) { (void)m; }
WEAK void llm_gmatcher_reset(llm_gmatcher *m) { (void)m; }
WEAK int llm_gmatcher_allows(llm_gmatcher *m, const char *b, size_t n, llm_err *e) { (void)m, (void)b, (void)n, (void)e; return 0; }
WEAK llm_status llm_gmatcher_accept(llm_gmatcher *m, const char *b, size_t n, llm_err *e) {
    (void)m, (void)b, (void)n;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "grammars are not built yet");
}
WEAK int llm_gmatcher_can_end(const llm_gmatcher *m) { (void)m; return 1; }
WEAK int llm_gmatcher_must_end(llm_gmatcher *m) { (void)m; return 1; }
WEAK llm_status llm_gmatcher_fill_mask(llm_gmatcher *m, const llm_token_trie *t, uint8_t *a, llm_err *e) {
    (void)m, (void)t, (void)a;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "grammars are not built yet");
}
WEAK llm_status llm_schema_to_gbnf(const char *j, size_t l, llm_buf *o, llm_err *e) {
    (void)j, (void)l, (void)o;
    return llm_err_set(e, LLM_ERR_UNSUPPORTED, "JSON Schema is not built yet");
}
WEAK llm_status llm_json_schema_to_grammar(const char *s, llm_options *o, char *b, size_t c, size_t *n) {
    (void)s, (void)o, (void)b, (void)c, (void)n;
    return LLM_ERR_UNSUPPORTED;
}
