/* The prompt prefixes a context keeps so that its sessions share them: token sequences with the
 * KV cache pages that hold them (lib/model/kv_cache.c). A session whose prompt starts like a kept
 * prefix attaches those pages instead of evaluating the tokens again; the pages are shared, not
 * copied, until someone writes into them. Entries are evicted least recently used first when
 * their pages exceed the byte limit. Not thread-safe: a context and its sessions are used by one
 * thread at a time. */
#ifndef LLM_PREFIX_CACHE_H
#define LLM_PREFIX_CACHE_H

#include <stdint.h>

#include "model/model.h"
#include "util/common.h"

typedef struct llm_prefix_cache llm_prefix_cache;

/* limit_bytes: most bytes of pages the entries may hold (counted per entry). NULL when out of
 * memory. */
llm_prefix_cache *llm_prefix_cache_new(uint64_t limit_bytes);
void llm_prefix_cache_free(llm_prefix_cache *pc);
void llm_prefix_cache_clear(llm_prefix_cache *pc);

/* The kept prefix sharing the most leading tokens with tokens[0, n): *n_match of them (0: none)
 * and its pages (*pages, *n_pages: they cover positions [0, *n_pages * page positions), at
 * least *n_match). The entry counts as used now. */
void llm_prefix_cache_lookup(llm_prefix_cache *pc, const int32_t *tokens, int32_t n, int32_t *n_match,
                             llm_kv_page *const **pages, int32_t *n_pages);

/* Keeps the whole pages of kv's first n_tokens positions (tokens[i] at position i) as a
 * prefix, sharing them with kv. Nothing happens when they fill no page, when a kept entry already
 * covers them, or when they alone exceed the limit; kept entries that are prefixes of the new one
 * are dropped (it covers them). */
llm_status llm_prefix_cache_insert(llm_prefix_cache *pc, llm_kv_state *kv, const int32_t *tokens, int32_t n_tokens,
                                   llm_err *err);

#endif
