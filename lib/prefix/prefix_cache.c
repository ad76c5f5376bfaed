/* The context's shared prompt prefixes (prefix_cache.h). Entries are few (each holds at least a
 * page of a long prompt), so lookups compare the tokens with every entry: O(entries x prompt). */
#include <stdlib.h>
#include <string.h>

#include "prefix/prefix_cache.h"

typedef struct prefix_entry {
    int32_t *tokens;      /* n_pages * page positions */
    int32_t n_tokens;
    llm_kv_page **pages;
    int32_t n_pages;
    uint64_t bytes;
    uint64_t last_use;
} prefix_entry;

struct llm_prefix_cache {
    prefix_entry *e;
    int32_t n, cap;
    uint64_t limit, bytes, clock;
};

llm_prefix_cache *llm_prefix_cache_new(uint64_t limit_bytes) {
    llm_prefix_cache *pc = calloc(1, sizeof *pc);
    if (pc) pc->limit = limit_bytes;
    return pc;
}

static void drop(llm_prefix_cache *pc, int32_t i) {
    prefix_entry *e = &pc->e[i];
    llm_kv_pages_release(e->pages, e->n_pages);
    free(e->tokens);
    pc->bytes -= e->bytes;
    pc->e[i] = pc->e[--pc->n];
}

void llm_prefix_cache_clear(llm_prefix_cache *pc) {
    while (pc && pc->n > 0) drop(pc, pc->n - 1);
}

void llm_prefix_cache_free(llm_prefix_cache *pc) {
    if (!pc) return;
    llm_prefix_cache_clear(pc);
    free(pc->e);
    free(pc);
}

static int32_t common(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

void llm_prefix_cache_lookup(llm_prefix_cache *pc, const int32_t *tokens, int32_t n, int32_t *n_match,
                             llm_kv_page *const **pages, int32_t *n_pages) {
    *n_match = 0;
    *pages = NULL;
    *n_pages = 0;
    int32_t best = -1, best_n = 0;
    for (int32_t i = 0; pc && i < pc->n; i++) {
        const int32_t c = common(pc->e[i].tokens, pc->e[i].n_tokens, tokens, n);
        if (c > best_n) {
            best = i;
            best_n = c;
        }
    }
    if (best < 0) return;
    pc->e[best].last_use = ++pc->clock;
    *n_match = best_n;
    *pages = pc->e[best].pages;
    *n_pages = pc->e[best].n_pages;
}

llm_status llm_prefix_cache_insert(llm_prefix_cache *pc, llm_kv_state *kv, const int32_t *tokens, int32_t n_tokens,
                                   llm_err *err) {
    if (!pc || !kv) return LLM_OK;
    const int32_t per = llm_kv_page_positions();
    if (n_tokens > llm_kv_n_past(kv)) n_tokens = llm_kv_n_past(kv);
    const int32_t n_pages = n_tokens / per;
    if (n_pages < 1) return LLM_OK;
    const int32_t n = n_pages * per;
    const uint64_t bytes = (uint64_t)n_pages * llm_kv_page_bytes(kv);
    if (bytes > pc->limit) return LLM_OK;
    for (int32_t i = 0; i < pc->n; i++)
        if (common(pc->e[i].tokens, pc->e[i].n_tokens, tokens, n) == n) { /* already covered */
            pc->e[i].last_use = ++pc->clock;
            return LLM_OK;
        }
    /* entries the new one covers go first, then the least recently used until it fits */
    for (int32_t i = pc->n - 1; i >= 0; i--)
        if (common(pc->e[i].tokens, pc->e[i].n_tokens, tokens, n) == pc->e[i].n_tokens) drop(pc, i);
    while (pc->n > 0 && pc->bytes + bytes > pc->limit) {
        int32_t lru = 0;
        for (int32_t i = 1; i < pc->n; i++)
            if (pc->e[i].last_use < pc->e[lru].last_use) lru = i;
        drop(pc, lru);
    }
    if (pc->n == pc->cap) {
        const int32_t cap = pc->cap ? pc->cap * 2 : 8;
        prefix_entry *grown = realloc(pc->e, (size_t)cap * sizeof *grown);
        if (!grown) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        pc->e = grown;
        pc->cap = cap;
    }
    prefix_entry e = {0};
    e.tokens = malloc((size_t)n * sizeof *e.tokens);
    if (!e.tokens) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(e.tokens, tokens, (size_t)n * sizeof *tokens);
    llm_status st = llm_kv_pages_ref(kv, n_pages, &e.pages, err);
    if (st) {
        free(e.tokens);
        return st;
    }
    e.n_tokens = n;
    e.n_pages = n_pages;
    e.bytes = bytes;
    e.last_use = ++pc->clock;
    pc->e[pc->n++] = e;
    pc->bytes += bytes;
    return LLM_OK;
}
