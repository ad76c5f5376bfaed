/* The vocabulary's byte prefix tree, and whole-vocabulary masks walked over it.
 *
 * The tree is stored in preorder (pieces sorted bytewise), each node with its depth and the
 * index just past its subtree, so the mask walk is one forward pass over an array: a node's
 * position is its byte's transition from the position of its parent (kept by depth), and a
 * rejected node skips its whole subtree. The transitions are the matcher's cached rows, so a
 * walk through positions seen before costs one array read per node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_internal.h"

typedef struct trie_node {
    uint32_t skip;  /* the index just past this node's subtree */
    int32_t token;  /* a token whose piece ends here (more: dup_next), n_tokens for none: the walk
                     * then sets the spare bit past the mask's end instead of branching */
    uint32_t info;  /* byte | depth << 8 (depth 1 for a piece's first byte) | TRIE_DUP: more
                     * tokens have this piece (dup_next, read only then: a random access) */
} trie_node;

struct llm_token_trie {
    int32_t n_tokens;
    uint32_t n_nodes;
    trie_node *nodes;
    int32_t *dup_next; /* [n_tokens] the next token with the same piece, -1 for none */
    uint32_t max_depth;
    uint64_t id; /* a hash of the contents (never 0), naming the vocabulary in the mask slots */
};

#define TRIE_DUP 0x80000000u
#define TRIE_MAX_DEPTH 0x7FFFFFu

typedef struct piece_ref {
    uint64_t key; /* the first 8 bytes, big-endian, zero-padded: most comparisons end here */
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} piece_ref;

static int cmp_piece(const void *a, const void *b) {
    const piece_ref *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    const uint32_t n = x->len < y->len ? x->len : y->len;
    const int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1; /* a prefix first: preorder */
    return x->id < y->id ? -1 : x->id > y->id;
}

void llm_token_trie_free(llm_token_trie *t) {
    if (!t) return;
    free(t->nodes);
    free(t->dup_next);
    free(t);
}

int32_t llm_token_trie_n_tokens(const llm_token_trie *t) { return t ? t->n_tokens : 0; }

llm_status llm_token_trie_build(int32_t n_tokens, llm_token_piece_fn piece, void *ud, llm_token_trie **out,
                                llm_err *err) {
    if (out) *out = NULL;
    if (!piece || !out || n_tokens < 0)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "token trie: NULL argument or negative token count");
    llm_token_trie *t = calloc(1, sizeof *t);
    piece_ref *refs = malloc(((size_t)n_tokens + 1) * sizeof *refs);
    uint8_t *bytes = NULL;
    uint32_t *path = NULL;
    size_t n_refs = 0, total = 0, cap = 0;
    llm_status st = LLM_OK;
    if (!t || !refs) goto oom;
    t->n_tokens = n_tokens;
    t->dup_next = malloc(((size_t)n_tokens + 1) * sizeof *t->dup_next);
    if (!t->dup_next) goto oom;
    /* copy the pieces: the callback's pointers need not outlive the next call */
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n_tokens;
    for (int32_t id = 0; id < n_tokens; id++) {
        size_t len = 0;
        const char *p = piece(ud, id, &len);
        t->dup_next[id] = -1;
        if (!p || len == 0) continue;
        if (len > TRIE_MAX_DEPTH || total + len > UINT32_MAX / 4) {
            st = llm_err_set(err, LLM_ERR_LIMIT, "token trie: the vocabulary's pieces are too large");
            goto fail;
        }
        if (total + len > cap) {
            size_t c = cap ? cap * 2 : 1 << 16;
            while (c < total + len) c *= 2;
            uint8_t *nb = realloc(bytes, c);
            if (!nb) goto oom;
            bytes = nb;
            cap = c;
        }
        memcpy(bytes + total, p, len);
        refs[n_refs].p = (const uint8_t *)(uintptr_t)total; /* an offset until the copying is done */
        refs[n_refs].len = (uint32_t)len;
        refs[n_refs].id = id;
        n_refs++;
        h = (h ^ (uint64_t)id) * 1099511628211ull;
        h = (h ^ (uint64_t)len) * 1099511628211ull;
        for (size_t k = 0; k < len; k++) h = (h ^ (uint8_t)p[k]) * 1099511628211ull;
        total += len;
    }
    t->id = h ? h : 1;
    for (size_t k = 0; k < n_refs; k++) {
        refs[k].p = bytes + (uintptr_t)refs[k].p;
        uint64_t key = 0;
        for (uint32_t j = 0; j < 8; j++) key = key << 8 | (j < refs[k].len ? refs[k].p[j] : 0);
        refs[k].key = key;
    }
    qsort(refs, n_refs, sizeof *refs, cmp_piece);

    /* preorder nodes: a piece adds the nodes past its common prefix with the previous piece */
    t->nodes = malloc((total ? total : 1) * sizeof *t->nodes);
    uint32_t max_len = 0;
    for (size_t k = 0; k < n_refs; k++)
        if (refs[k].len > max_len) max_len = refs[k].len;
    path = malloc(((size_t)max_len + 1) * sizeof *path);
    if (!t->nodes || !path) goto oom;
    uint32_t n = 0, depth = 0; /* path[0 .. depth): the nodes of the previous piece */
    for (size_t k = 0; k < n_refs; k++) {
        const piece_ref *r = &refs[k];
        uint32_t lcp = 0;
        if (k > 0) {
            const piece_ref *q = &refs[k - 1];
            while (lcp < r->len && lcp < q->len && r->p[lcp] == q->p[lcp]) lcp++;
        }
        for (uint32_t d = lcp; d < depth; d++) t->nodes[path[d]].skip = n; /* subtrees closed */
        for (uint32_t d = lcp; d < r->len; d++) {
            t->nodes[n].skip = 0;
            t->nodes[n].token = n_tokens;
            t->nodes[n].info = r->p[d] | (d + 1) << 8;
            path[d] = n++;
        }
        depth = r->len;
        trie_node *end = &t->nodes[path[r->len - 1]];
        if (end->token == n_tokens) {
            end->token = r->id;
        } else { /* the same piece as an earlier token: chained (ids ascending) */
            int32_t x = end->token;
            while (t->dup_next[x] >= 0) x = t->dup_next[x];
            t->dup_next[x] = r->id;
            end->info |= TRIE_DUP;
        }
    }
    for (uint32_t d = 0; d < depth; d++) t->nodes[path[d]].skip = n;
    t->n_nodes = n;
    t->max_depth = max_len;
    free(refs);
    free(bytes);
    free(path);
    *out = t;
    return LLM_OK;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "token trie: out of memory");
fail:
    free(refs);
    free(bytes);
    free(path);
    llm_token_trie_free(t);
    return st;
}

/* ---- masks -------------------------------------------------------------------------------- */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* spread8[v]: bit k of v in byte k (little-endian order: memcpy gives the bytes in token order) */
#define SP1(v)                                                                                              \
    ((uint64_t)((v) & 1) | (uint64_t)(((v) >> 1) & 1) << 8 | (uint64_t)(((v) >> 2) & 1) << 16 |              \
     (uint64_t)(((v) >> 3) & 1) << 24 | (uint64_t)(((v) >> 4) & 1) << 32 | (uint64_t)(((v) >> 5) & 1) << 40 | \
     (uint64_t)(((v) >> 6) & 1) << 48 | (uint64_t)(((v) >> 7) & 1) << 56)
#define SP4(v) SP1(v), SP1((v) + 1), SP1((v) + 2), SP1((v) + 3)
#define SP16(v) SP4(v), SP4((v) + 4), SP4((v) + 8), SP4((v) + 12)
#define SP64(v) SP16(v), SP16((v) + 16), SP16((v) + 32), SP16((v) + 48)
static const uint64_t spread8[256] = {SP64(0), SP64(64), SP64(128), SP64(192)};
#endif

/* Expands a bitset into one byte per token, eight at a time. */
static void bits_to_bytes(const uint64_t *bits, size_t n, uint8_t *out) {
    size_t t = 0;
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (size_t w = 0; t + 64 <= n; w++, t += 64) {
        const uint64_t v = bits[w];
        for (int k = 0; k < 8; k++) memcpy(out + t + 8 * (size_t)k, &spread8[(v >> (8 * k)) & 0xFF], 8);
    }
#endif
    for (; t < n; t++) out[t] = (uint8_t)((bits[t / 64] >> (t % 64)) & 1u);
}

static llm_gmask_slot *find_slot(llm_gmatcher *m, uint64_t trie_id, uint32_t pos) {
    for (int k = 0; k < LLM_GM_MASK_SLOTS; k++)
        if (m->masks[k].trie_id == trie_id && m->masks[k].pos == pos) return &m->masks[k];
    return NULL;
}

/* The slot to fill for (trie_id, pos): an empty one, else the least recently used. */
static llm_gmask_slot *claim_slot(llm_gmatcher *m, size_t n_words) {
    llm_gmask_slot *best = &m->masks[0];
    for (int k = 0; k < LLM_GM_MASK_SLOTS; k++) {
        if (m->masks[k].trie_id == 0) {
            best = &m->masks[k];
            break;
        }
        if (m->masks[k].used < best->used) best = &m->masks[k];
    }
    if (best->n_words != n_words) {
        uint64_t *b = realloc(best->bits, (n_words ? n_words : 1) * sizeof *b);
        if (!b) return NULL;
        best->bits = b;
        best->n_words = n_words;
    }
    best->trie_id = 0; /* filled in once the walk succeeds */
    return best;
}

/* One walk over the tree from the current position, setting the bits of the allowed tokens (and
 * the spare bit n_tokens); LLM_GM_ERROR when a bound was reached. The loop is the hot path of a
 * whole-vocabulary mask: one load of a cached transition per node. */
static uint32_t walk_trie(llm_gmatcher *m, const llm_token_trie *t, uint64_t *bits) {
    uint32_t *pos = m->walk;
    pos[0] = m->cur;
    const trie_node *nodes = t->nodes;
    const uint32_t *rows = m->rows;
    const uint32_t n = t->n_nodes;
    uint32_t i = 0;
    while (i < n) {
        const trie_node nd = nodes[i];
        const uint32_t d = (nd.info >> 8) & TRIE_MAX_DEPTH, from = pos[d - 1];
        uint32_t p = rows[(size_t)from << 8 | (nd.info & 0xFFu)];
        if (p == LLM_GM_UNKNOWN) {
            p = llm_gm_next_slow(m, from, (uint8_t)nd.info);
            if (p == LLM_GM_ERROR) return p;
            rows = m->rows; /* they may have moved */
        }
        if (p == LLM_GM_DEAD) {
            i = nd.skip;
            continue;
        }
        pos[d] = p;
        const uint32_t tok = (uint32_t)nd.token;
        bits[tok / 64] |= 1ull << (tok % 64);
        if (nd.info & TRIE_DUP)
            for (int32_t x = t->dup_next[tok]; x >= 0; x = t->dup_next[x]) bits[(uint32_t)x / 64] |= 1ull << ((uint32_t)x % 64);
        i++;
    }
    return 0;
}

llm_status llm_gmatcher_fill_mask(llm_gmatcher *m, const llm_token_trie *trie, uint8_t *allowed, llm_err *err) {
    if (!m || !trie || (!allowed && trie->n_tokens > 0))
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar mask: NULL argument");
    const size_t n = (size_t)trie->n_tokens, n_words = (n + 1 + 63) / 64; /* + the spare bit */
    if (m->cap_walk < (size_t)trie->max_depth + 1) {
        uint32_t *w = realloc(m->walk, ((size_t)trie->max_depth + 1) * sizeof *w);
        if (!w) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "grammar mask: out of memory");
        m->walk = w;
        m->cap_walk = (size_t)trie->max_depth + 1;
    }
    if (m->broken)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "grammar: the matcher ran out of memory (reset it)");
    for (int attempt = 0; attempt < 2; attempt++) {
        llm_gm_begin(m);
        if (llm_gm_flush(m, llm_gm_flush_level(m, attempt > 0)) != LLM_OK) return llm_gm_report(m, err);
        llm_gmask_slot *slot = find_slot(m, trie->id, m->cur);
        if (slot) {
            slot->used = ++m->mask_clock;
            bits_to_bytes(slot->bits, n, allowed);
            return LLM_OK;
        }
        slot = claim_slot(m, n_words);
        if (!slot) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "grammar mask: out of memory");
        memset(slot->bits, 0, n_words * sizeof *slot->bits);
        if (walk_trie(m, trie, slot->bits) != LLM_GM_ERROR) {
            slot->trie_id = trie->id;
            slot->pos = m->cur;
            slot->used = ++m->mask_clock;
            bits_to_bytes(slot->bits, n, allowed);
            return LLM_OK;
        }
        if (!m->retry) break;
        m->status = LLM_OK; /* a table filled up on the way: empty them and walk once more */
    }
    if (m->status == LLM_OK) {
        m->status = LLM_ERR_LIMIT;
        snprintf(m->status_msg, sizeof m->status_msg, "grammar: the matcher's bounds were reached");
    }
    return llm_gm_report(m, err);
}
