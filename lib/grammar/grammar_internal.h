/* The compiled form of a GBNF grammar, shared by the parser (gbnf_parse.c, which builds it), the
 * matcher (matcher.c) and the mask walk (token_trie.c). Not part of any API.
 *
 * Every group, repetition and multi-element literal that a repetition applies to has become a
 * helper rule, so a grammar is a plain list of rules, each a list of alternatives, each a
 * sequence of elements ended by an END element:
 *   CHAR1 c    one code point c (literals)
 *   CLASS k    a code point in class k (sorted, disjoint, inclusive ranges; negated classes and
 *              `.` are stored as their positive complement, so matching never looks at a flag)
 *   REF r      rule r
 *   END        end of the alternative
 * A position in the grammar is an index into elems. */
#ifndef LLM_GRAMMAR_INTERNAL_H
#define LLM_GRAMMAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"

/* Bound on the compiled size (elements; rules and classes each count too): an untrusted grammar
 * such as nested {m,n} repetitions must not make the compiled form explode. */
#define LLM_GRAMMAR_MAX_ELEMENTS (1u << 21)

enum { LLM_GE_END = 0, LLM_GE_CHAR1 = 1, LLM_GE_CLASS = 2, LLM_GE_REF = 3 };
#define LLM_GE_KIND(e) ((e) & 3u)
#define LLM_GE_ARG(e) ((e) >> 2)
#define LLM_GE_MAKE(kind, arg) (((uint32_t)(arg) << 2) | (uint32_t)(kind))

#define LLM_MAX_CP 0x10FFFFu

typedef struct llm_grange {
    uint32_t lo, hi; /* inclusive */
} llm_grange;

struct llm_grammar {
    uint32_t *elems;       /* [n_elems] every alternative's elements, each ended by END */
    uint32_t n_elems;
    uint32_t *alt_start;   /* [n_alts] index in elems where each alternative starts */
    uint32_t *rule_alts;   /* [n_rules + 1] rule r's alternatives: alt_start[rule_alts[r] ..
                            * rule_alts[r + 1]) */
    uint32_t n_rules;
    uint32_t root;         /* the start rule */
    llm_grange *ranges;    /* every class's ranges */
    uint32_t *class_ranges;/* [n_classes + 1] class k: ranges[class_ranges[k] .. class_ranges[k + 1]) */
    uint32_t n_classes;
};

/* 1 when element e (CHAR1 or CLASS) matches code point c. */
static inline int llm_gelem_matches(const llm_grammar *g, uint32_t e, uint32_t c) {
    if (LLM_GE_KIND(e) == LLM_GE_CHAR1) return LLM_GE_ARG(e) == c;
    const uint32_t k = LLM_GE_ARG(e);
    uint32_t lo = g->class_ranges[k], hi = g->class_ranges[k + 1];
    while (lo < hi) { /* binary search: classes from negation have many ranges */
        const uint32_t mid = lo + (hi - lo) / 2;
        if (c < g->ranges[mid].lo) hi = mid;
        else if (c > g->ranges[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* 1 when element e (CHAR1 or CLASS) matches some code point in [lo, hi]. */
static inline int llm_gelem_meets(const llm_grammar *g, uint32_t e, uint32_t lo, uint32_t hi) {
    if (LLM_GE_KIND(e) == LLM_GE_CHAR1) return LLM_GE_ARG(e) >= lo && LLM_GE_ARG(e) <= hi;
    const uint32_t k = LLM_GE_ARG(e);
    for (uint32_t i = g->class_ranges[k]; i < g->class_ranges[k + 1]; i++)
        if (g->ranges[i].lo <= hi && g->ranges[i].hi >= lo) return 1;
    return 0;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */
/* The length of the sequence that lead byte b starts (1..4), 0 for a byte that cannot start one
 * (a continuation byte, C0, C1, F5..FF). */
static inline int llm_utf8_seq_len(uint8_t b) {
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0;
    if (b < 0xE0) return 2;
    if (b < 0xF0) return 3;
    if (b < 0xF5) return 4;
    return 0;
}

/* The code points that a valid sequence starting with prefix[0..n) (lead byte plus n - 1
 * continuation bytes, n < the sequence's length, or n == its length) can encode, as [*lo, *hi];
 * 0 when no valid sequence starts so (overlong forms, surrogates, above U+10FFFF). */
static inline int llm_utf8_prefix_range(const uint8_t *prefix, int n, uint32_t *lo, uint32_t *hi) {
    const int len = llm_utf8_seq_len(prefix[0]);
    if (len == 0 || n > len) return 0;
    static const uint8_t lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t v = prefix[0] & lead_mask[len];
    for (int i = 1; i < n; i++) {
        if ((prefix[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (prefix[i] & 0x3Fu);
    }
    const int rest = len - n;
    uint32_t l = v << (6 * rest), h = (v << (6 * rest)) | ((1u << (6 * rest)) - 1u);
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (l < min_cp[len]) l = min_cp[len];
    if (h > LLM_MAX_CP) h = LLM_MAX_CP;
    /* the surrogates D800..DFFF are not scalar values; only the prefixes ED and ED A0..BF reach
     * them, and ED's range D000..DFFF keeps D000..D7FF */
    if (l >= 0xD800 && h <= 0xDFFF) return 0;
    if (l < 0xD800 && h >= 0xD800 && h <= 0xDFFF) h = 0xD7FF;
    if (l > h) return 0;
    *lo = l;
    *hi = h;
    return 1;
}

/* ---- matcher state (matcher.c; token_trie.c walks the transition rows directly) ------------
 * A stack is a hash-consed persistent list of grammar positions (node = position + parent node),
 * its top always a character element (CHAR1 / CLASS) or the empty stack (node 0: the end). A set
 * of stacks is interned into a set id; a matcher position is a set plus an unfinished UTF-8
 * sequence, interned into a position id. Each position owns a row of 256 cached byte
 * transitions: rows[p << 8 | byte] is the next position id (LLM_GM_DEAD: the byte is not allowed;
 * LLM_GM_UNKNOWN: not computed yet), so stepping a known transition is one load. */
#define LLM_GM_DEAD 0u              /* the position of no stack at all */
#define LLM_GM_UNKNOWN UINT32_MAX   /* a row entry not computed yet */
#define LLM_GM_ERROR (UINT32_MAX - 1) /* a bound was reached (the matcher's status says which) */

typedef struct llm_gpos {
    uint32_t set;  /* the stack set */
    uint32_t pend; /* unfinished UTF-8 sequence: bytes in bits 0..23 (first byte lowest), count in
                    * bits 24..31 */
} llm_gpos;

typedef struct llm_gset {
    uint32_t off, n; /* members[off .. off + n): node ids, ascending */
    uint32_t hash;
    uint8_t has_end;   /* the empty stack is a member: the output may end here */
    uint8_t any_char;  /* some member can take a character */
} llm_gset;

/* the matcher's tables, each with a hard bound */
enum { LLM_GM_T_NODES, LLM_GM_T_SETS, LLM_GM_T_MEMBERS, LLM_GM_T_POS, LLM_GM_N_TABLES };

typedef struct llm_gsig {
    uint32_t set, n, hash, result;
    size_t off; /* sig_pool[off .. off + n): the matching members' indices in the set */
} llm_gsig;

#define LLM_GM_MASK_SLOTS 32 /* whole-vocabulary masks kept for recent positions */

typedef struct llm_gmask_slot {
    uint64_t trie_id; /* which vocabulary (0: empty slot) */
    uint32_t pos;     /* which position */
    uint32_t used;    /* last use, for eviction */
    uint64_t *bits;   /* one bit per token */
    size_t n_words;
} llm_gmask_slot;

struct llm_gmatcher {
    const llm_grammar *g;
    /* stack nodes: node_pos[i], node_parent[i]; node 0 is the empty stack */
    uint32_t *node_pos, *node_parent, *stamp;
    uint32_t n_nodes, cap_nodes;
    uint32_t *node_tab; /* open addressing: node id, 0 = empty slot */
    uint32_t node_tab_cap;
    uint32_t cur_stamp;
    /* stack sets */
    uint32_t *members;
    size_t n_members, cap_members;
    llm_gset *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *set_tab; /* set id + 1, 0 = empty slot */
    uint32_t set_tab_cap;
    /* positions and their transition rows */
    llm_gpos *pos;
    uint32_t n_pos, cap_pos;
    uint32_t *pos_tab; /* position id + 1, 0 = empty slot */
    uint32_t pos_tab_cap;
    uint32_t *rows; /* [cap_pos << 8] */
    /* where the output is, and the start */
    uint32_t cur, start;
    /* scratch of the closure */
    uint32_t *work, *result, *match;
    size_t cap_work, cap_result, n_result, cap_match;
    /* steps by the members a code point matches: (set, those members) -> set, so that the many
     * code points a class lets through (every letter of every script inside a JSON string)
     * share one closure; emptied with the stack sets */
    llm_gsig *sigs;
    uint32_t n_sigs, cap_sigs;
    uint32_t *sig_tab; /* sig id + 1, 0 = empty slot */
    uint32_t sig_tab_cap;
    uint32_t *sig_pool; /* the member index lists */
    size_t n_sig_pool, cap_sig_pool;
    /* work left to the current call (stacks visited, members scanned): a grammar whose steps are
     * too costly fails with LLM_ERR_LIMIT instead of taking minutes */
    uint64_t work_left, work_budget; /* work_budget: per call, LLM_GM_WORK_BUDGET (tests lower it) */
    /* the first bound reached inside a computation; retry: it was a table filling up, which
     * emptying the caches cures (not a single step too large) */
    int retry;
    llm_status status;
    char status_msg[160];
    int broken;       /* an emptying failed (out of memory): every call fails until a reset
                       * manages to start over */
    uint32_t flushes; /* how many times the caches were emptied (tests, statistics) */
    size_t limit[LLM_GM_N_TABLES]; /* the tables' hard bounds (tests lower them) */
    size_t floor[LLM_GM_N_TABLES]; /* the tables' sizes right after the last emptying: what the
                                    * current position alone needs */
    /* whole-vocabulary masks of recent positions (token_trie.c) */
    llm_gmask_slot masks[LLM_GM_MASK_SLOTS];
    uint32_t mask_clock;
    uint32_t *walk; /* the trie walk's positions by depth */
    size_t cap_walk;
};

/* The next position after byte b from position p, computing and caching it when needed;
 * LLM_GM_ERROR when a bound was reached (m->status set). */
uint32_t llm_gm_next_slow(llm_gmatcher *m, uint32_t p, uint8_t b);
static inline uint32_t llm_gm_next(llm_gmatcher *m, uint32_t p, uint8_t b) {
    const uint32_t v = m->rows[(size_t)p << 8 | b];
    return v != LLM_GM_UNKNOWN ? v : llm_gm_next_slow(m, p, b);
}

/* How much of the caches to empty before an operation (at a point where no position id is held):
 * -1 nothing; 1 the positions (with their transition rows); 2 also the stack sets; 3 everything.
 * Tables past half their bound count; forced (after a bound was hit): whatever is past half,
 * else everything. */
int llm_gm_flush_level(const llm_gmatcher *m, int forced);
/* Empties the caches to that level and re-interns the current position (position ids change
 * and the mask slots are emptied). Returns LLM_OK or the error in m->status
 * (the matcher is then broken until a reset). */
llm_status llm_gm_flush(llm_gmatcher *m, int level);
#define LLM_GM_WORK_BUDGET ((uint64_t)1 << 25)
/* Starts a public call's work budget. */
static inline void llm_gm_begin(llm_gmatcher *m) {
    m->work_left = m->work_budget;
    m->retry = 0;
}
/* Records m->status into err. */
llm_status llm_gm_report(llm_gmatcher *m, llm_err *err);

#endif
