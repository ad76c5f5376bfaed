/* GBNF grammars: parsing (gbnf_parse.c), matching text against them incrementally (matcher.c),
 * and the per-vocabulary token prefix tree that whole-vocabulary masks walk (token_trie.c).
 *
 * The sampler (lib/runtime, lib/api/api_session.c) asks "does this token keep the output a
 * prefix of the language?" for candidate tokens in logit order, so the common question must be
 * cheap: the matcher interns its states (sets of grammar stacks) and caches transitions, so a
 * token check in a state seen before is a few table lookups per byte. */
#ifndef LLM_GRAMMAR_H
#define LLM_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

/* Bounds on what an untrusted grammar may cost (exceeding one: LLM_ERR_LIMIT). */
#define LLM_GRAMMAR_MAX_TEXT (4u << 20)      /* bytes of GBNF text */
#define LLM_GRAMMAR_MAX_NESTING 256          /* nesting of groups in one rule */
#define LLM_GRAMMAR_MAX_REPEAT 10000         /* m and n of {m,n} */

/* ---- compiled grammar: immutable, shareable between threads --------------------------------- */
typedef struct llm_grammar llm_grammar;

/* Parses GBNF text (len bytes; NUL-terminated when len is (size_t)-1) with start rule root (NULL:
 * "root"). Errors: LLM_ERR_FORMAT "line L, column C: what" (1-based, columns in code points;
 * also for an undefined rule (at its first reference), a rule defined twice, a missing root rule
 * (line 1, column 1), invalid UTF-8, and left recursion: a rule that can reach itself before
 * consuming a character, including an unbounded repetition of an item that can match the empty
 * string such as ("a"?)*), LLM_ERR_LIMIT (the bounds above, or a compiled form of more than
 * LLM_GRAMMAR_MAX_ELEMENTS of grammar_internal.h), LLM_ERR_OUT_OF_MEMORY. The syntax is
 * llama.cpp's; token references (<...>) are not supported. */
llm_status llm_grammar_parse(const char *text, size_t len, const char *root, llm_grammar **out, llm_err *err);
void llm_grammar_free(llm_grammar *g); /* accepts NULL */

/* ---- token prefix tree of a vocabulary: immutable, shared by all sessions of a model -------- */
typedef struct llm_token_trie llm_token_trie;

/* piece(ud, id, &len) returns the raw bytes token id adds to the output (NULL or len 0: the token
 * adds no text, e.g. a control token; such tokens are left out of the tree). */
typedef const char *(*llm_token_piece_fn)(void *ud, int32_t id, size_t *len);
llm_status llm_token_trie_build(int32_t n_tokens, llm_token_piece_fn piece, void *ud, llm_token_trie **out,
                                llm_err *err);
void llm_token_trie_free(llm_token_trie *t); /* accepts NULL */
int32_t llm_token_trie_n_tokens(const llm_token_trie *t);

/* ---- matcher: a position in the language and its caches; one per session ------------------ */
typedef struct llm_gmatcher llm_gmatcher;

llm_status llm_gmatcher_new(const llm_grammar *g, llm_gmatcher **out, llm_err *err);
void llm_gmatcher_free(llm_gmatcher *m); /* accepts NULL */
/* Back to the start of the language (the empty output). Keeps the caches. */
void llm_gmatcher_reset(llm_gmatcher *m);
/* The matcher's caches are bounded (tens of MiB at most): past their bounds they are emptied and
 * the position carries over. A single step that would cost more than the bounds (a position with
 * more than 65536 stacks, a step doing too much work) is LLM_ERR_LIMIT in the call that needs it;
 * the position is then unchanged. */
/* 1 when the output so far followed by bytes[0..n) is a prefix of some string of the language
 * (the bytes may end inside a UTF-8 sequence; n == 0 is allowed iff the position is alive),
 * 0 when not, -1 when a bound was reached (err set: LLM_ERR_LIMIT / LLM_ERR_OUT_OF_MEMORY).
 * Does not move the position. */
int llm_gmatcher_allows(llm_gmatcher *m, const char *bytes, size_t n, llm_err *err);
/* Moves the position past bytes[0..n); they must be allowed (else LLM_ERR_INVALID_ARGUMENT and
 * the position is unchanged). */
llm_status llm_gmatcher_accept(llm_gmatcher *m, const char *bytes, size_t n, llm_err *err);
/* 1 when the output so far is a whole string of the language (no unfinished UTF-8 sequence): an
 * end-of-generation token is allowed. */
int llm_gmatcher_can_end(const llm_gmatcher *m);
/* 1 when no character can follow the output so far (only the end is left). */
int llm_gmatcher_must_end(llm_gmatcher *m);
/* allowed[t] = 1 for every token t of the tree whose bytes llm_gmatcher_allows, 0 for the others
 * (tokens outside the tree: 0). allowed has llm_token_trie_n_tokens(trie) entries. Returns
 * LLM_OK or the bound/memory error. Masks of recent states are cached (bounded memory). */
llm_status llm_gmatcher_fill_mask(llm_gmatcher *m, const llm_token_trie *trie, uint8_t *allowed, llm_err *err);

#endif
