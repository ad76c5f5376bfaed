/* The incremental matcher: a pushdown recogniser whose position is a set of stacks.
 *
 * Each stack lists the grammar positions still to match, top first; stacks are hash-consed
 * persistent lists (node = position + parent), so the stacks of a set share their tails and a
 * stack is one integer. Rule references are expanded as soon as a stack is made (a closure), so
 * every stack in a set has a character element on top or is empty (the output may end). A call
 * in tail position does not push (its return would only pop), which keeps X* and right
 * recursion flat. Sets of stacks are interned (set ids), and with an unfinished UTF-8 sequence a
 * set makes a position (position ids); each position caches its byte transitions in a row of
 * 256, so checking a token in a position seen before is one array read per byte.
 *
 * Everything grows only up to hard bounds; past the soft bounds (half) the caches are emptied at
 * the start of the next call and the current position is interned again. A single set larger
 * than LLM_GM_MAX_STACKS, or a closure doing more than LLM_GM_MAX_CLOSURE steps, is
 * LLM_ERR_LIMIT: an adversarial grammar can fail, never hang or take all memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_internal.h"

/* default hard bounds of the tables (m->limit; emptied past half) */
static const size_t gm_limits[LLM_GM_N_TABLES] = {
    [LLM_GM_T_NODES] = 1u << 20, [LLM_GM_T_SETS] = 1u << 18, [LLM_GM_T_MEMBERS] = 1u << 22,
    [LLM_GM_T_POS] = 1u << 15, /* each with a row of 256 transitions: 1 KiB */
};
#define LLM_GM_MAX_STACKS (1u << 16)  /* stacks in one set */
#define LLM_GM_MAX_CLOSURE (1u << 20) /* stacks visited by one step */

static uint32_t fail(llm_gmatcher *m, llm_status code, const char *what) {
    if (m->status == LLM_OK) {
        m->status = code;
        snprintf(m->status_msg, sizeof m->status_msg, "%s", what);
    }
    return LLM_GM_ERROR;
}

static uint32_t mix(uint32_t a, uint32_t b) {
    uint64_t x = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

/* Doubles *cap (from at least min) up to max elements of size each; 0 on success. */
static int grow(void **arr, size_t *cap, size_t need, size_t max, size_t size) {
    if (need <= *cap) return 0;
    if (need > max) return -1;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    if (c > max) c = max;
    void *n = realloc(*arr, c * size);
    if (!n) return -2;
    *arr = n;
    *cap = c;
    return 0;
}

static uint32_t grow_fail(llm_gmatcher *m, int rc, const char *what) {
    if (rc == -1 && m->status == LLM_OK) m->retry = 1; /* a table is full: emptying helps */
    return rc == -2 ? fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory") : fail(m, LLM_ERR_LIMIT, what);
}

/* ---- stack nodes -------------------------------------------------------------------------- */
static int node_tab_rebuild(llm_gmatcher *m, uint32_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t id = 1; id < m->n_nodes; id++) {
        uint32_t h = mix(m->node_pos[id], m->node_parent[id]) & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = id;
    }
    free(m->node_tab);
    m->node_tab = t;
    m->node_tab_cap = cap;
    return 0;
}

static uint32_t make_node(llm_gmatcher *m, uint32_t pos, uint32_t parent) {
    uint32_t h = mix(pos, parent) & (m->node_tab_cap - 1);
    for (uint32_t id; (id = m->node_tab[h]) != 0; h = (h + 1) & (m->node_tab_cap - 1))
        if (m->node_pos[id] == pos && m->node_parent[id] == parent) return id;
    const uint32_t id = m->n_nodes;
    if (id >= m->cap_nodes) {
        size_t c1 = m->cap_nodes, c2 = m->cap_nodes, c3 = m->cap_nodes;
        int rc = grow((void **)&m->node_pos, &c1, (size_t)id + 1, m->limit[LLM_GM_T_NODES], sizeof(uint32_t));
        if (!rc) rc = grow((void **)&m->node_parent, &c2, (size_t)id + 1, m->limit[LLM_GM_T_NODES], sizeof(uint32_t));
        if (!rc) rc = grow((void **)&m->stamp, &c3, (size_t)id + 1, m->limit[LLM_GM_T_NODES], sizeof(uint32_t));
        if (rc) return grow_fail(m, rc, "grammar: more stacks than the matcher's bound");
        memset(m->stamp + m->cap_nodes, 0, (c3 - m->cap_nodes) * sizeof(uint32_t));
        m->cap_nodes = (uint32_t)c1;
    }
    m->node_pos[id] = pos;
    m->node_parent[id] = parent;
    m->stamp[id] = 0;
    m->node_tab[h] = id;
    m->n_nodes++;
    if ((size_t)m->n_nodes * 2 > m->node_tab_cap && node_tab_rebuild(m, m->node_tab_cap * 2))
        return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    return id;
}

/* ---- stack sets ----------------------------------------------------------------------------- */
static uint32_t set_hash(const uint32_t *v, size_t n) {
    uint32_t h = 0x811C9DC5u ^ (uint32_t)n;
    for (size_t k = 0; k < n; k++) h = mix(h, v[k]);
    return h;
}

static int set_tab_rebuild(llm_gmatcher *m, uint32_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t id = 0; id < m->n_sets; id++) {
        uint32_t h = m->sets[id].hash & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = id + 1;
    }
    free(m->set_tab);
    m->set_tab = t;
    m->set_tab_cap = cap;
    return 0;
}

/* The id of the set v[0..n) (node ids, ascending). */
static uint32_t intern_set(llm_gmatcher *m, const uint32_t *v, size_t n) {
    const uint32_t hash = set_hash(v, n);
    uint32_t h = hash & (m->set_tab_cap - 1);
    for (uint32_t s; (s = m->set_tab[h]) != 0; h = (h + 1) & (m->set_tab_cap - 1)) {
        const llm_gset *st = &m->sets[s - 1];
        if (st->hash == hash && st->n == n && memcmp(m->members + st->off, v, n * sizeof *v) == 0) return s - 1;
    }
    size_t cap = m->cap_sets;
    int rc = grow((void **)&m->sets, &cap, (size_t)m->n_sets + 1, m->limit[LLM_GM_T_SETS], sizeof *m->sets);
    if (rc) return grow_fail(m, rc, "grammar: more states than the matcher's bound");
    m->cap_sets = (uint32_t)cap;
    rc = grow((void **)&m->members, &m->cap_members, m->n_members + n, m->limit[LLM_GM_T_MEMBERS], sizeof *m->members);
    if (rc) return grow_fail(m, rc, "grammar: more states than the matcher's bound");
    llm_gset *st = &m->sets[m->n_sets];
    st->off = (uint32_t)m->n_members;
    st->n = (uint32_t)n;
    st->hash = hash;
    st->has_end = n > 0 && v[0] == 0;
    st->any_char = 0;
    const llm_grammar *g = m->g;
    for (size_t k = 0; k < n && !st->any_char; k++) {
        if (v[k] == 0) continue;
        const uint32_t e = g->elems[m->node_pos[v[k]]];
        if (LLM_GE_KIND(e) == LLM_GE_CHAR1) st->any_char = 1;
        else if (g->class_ranges[LLM_GE_ARG(e) + 1] > g->class_ranges[LLM_GE_ARG(e)]) st->any_char = 1;
    }
    if (n) memcpy(m->members + m->n_members, v, n * sizeof *v);
    m->n_members += n;
    m->set_tab[h] = ++m->n_sets;
    if ((size_t)m->n_sets * 2 > m->set_tab_cap && set_tab_rebuild(m, m->set_tab_cap * 2))
        return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    return m->n_sets - 1;
}

/* ---- positions ----------------------------------------------------------------------------- */
static int pos_tab_rebuild(llm_gmatcher *m, uint32_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t id = 1; id < m->n_pos; id++) {
        uint32_t h = mix(m->pos[id].set, m->pos[id].pend) & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = id;
    }
    free(m->pos_tab);
    m->pos_tab = t;
    m->pos_tab_cap = cap;
    return 0;
}

/* The id of position (set, pend); the dead position for the empty set. */
static uint32_t intern_pos(llm_gmatcher *m, uint32_t set, uint32_t pend) {
    if (set == LLM_GM_ERROR) return LLM_GM_ERROR;
    if (m->sets[set].n == 0) return LLM_GM_DEAD;
    uint32_t h = mix(set, pend) & (m->pos_tab_cap - 1);
    for (uint32_t id; (id = m->pos_tab[h]) != 0; h = (h + 1) & (m->pos_tab_cap - 1))
        if (m->pos[id].set == set && m->pos[id].pend == pend) return id;
    if (m->n_pos == m->cap_pos) {
        size_t cap = m->cap_pos;
        const int rc = grow((void **)&m->pos, &cap, (size_t)m->n_pos + 1, m->limit[LLM_GM_T_POS], sizeof *m->pos);
        if (rc) return grow_fail(m, rc, "grammar: more positions than the matcher's bound");
        uint32_t *rows = realloc(m->rows, (cap << 8) * sizeof *rows);
        if (!rows) return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
        m->rows = rows;
        m->cap_pos = (uint32_t)cap;
    }
    const uint32_t id = m->n_pos++;
    m->pos[id].set = set;
    m->pos[id].pend = pend;
    uint32_t *row = m->rows + ((size_t)id << 8);
    memset(row, 0xFF, 256 * sizeof *row); /* LLM_GM_UNKNOWN */
    if (pend) /* within a sequence only continuation bytes can follow */
        for (int b = 0; b < 256; b++)
            if ((b & 0xC0) != 0x80) row[b] = LLM_GM_DEAD;
    m->pos_tab[h] = id;
    if ((size_t)m->n_pos * 2 > m->pos_tab_cap && pos_tab_rebuild(m, m->pos_tab_cap * 2))
        return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    return id;
}

/* ---- closure and steps ---------------------------------------------------------------------- */
static int push_work(llm_gmatcher *m, size_t *nw, uint32_t x) {
    if (x == LLM_GM_ERROR) return -1;
    const int rc = grow((void **)&m->work, &m->cap_work, *nw + 1, (size_t)LLM_GM_MAX_CLOSURE * 4, sizeof *m->work);
    if (rc) {
        grow_fail(m, rc, "grammar: a step expands more stacks than the matcher's bound");
        return -1;
    }
    m->work[(*nw)++] = x;
    return 0;
}

/* Adds the stacks that stack y expands to (rule references replaced by their alternatives,
 * finished alternatives popped) to m->result; *steps counts the stacks visited. */
static int expand(llm_gmatcher *m, uint32_t y, uint32_t *steps) {
    const llm_grammar *g = m->g;
    size_t nw = 0;
    if (push_work(m, &nw, y)) return -1;
    while (nw) {
        const uint32_t x = m->work[--nw];
        if (m->stamp[x] == m->cur_stamp) continue;
        m->stamp[x] = m->cur_stamp;
        if (++*steps > LLM_GM_MAX_CLOSURE || m->work_left-- == 0) {
            fail(m, LLM_ERR_LIMIT, "grammar: a step of the grammar costs more than the matcher's bound");
            return -1;
        }
        const uint32_t e = x ? g->elems[m->node_pos[x]] : 0;
        if (x == 0 || LLM_GE_KIND(e) != LLM_GE_REF) { /* a character on top, or the end */
            if (m->n_result >= LLM_GM_MAX_STACKS) {
                fail(m, LLM_ERR_LIMIT, "grammar: a position has more stacks than the matcher's bound (65536)");
                return -1;
            }
            if (m->n_result == m->cap_result) {
                const int rc = grow((void **)&m->result, &m->cap_result, m->n_result + 1, LLM_GM_MAX_STACKS,
                                    sizeof *m->result);
                if (rc) {
                    grow_fail(m, rc, "grammar: out of memory");
                    return -1;
                }
            }
            m->result[m->n_result++] = x;
            continue;
        }
        const uint32_t pos = m->node_pos[x], rule = LLM_GE_ARG(e);
        const uint32_t parent = m->node_parent[x];
        /* the return address, unless the reference ends its alternative (a tail call) */
        const uint32_t tail = LLM_GE_KIND(g->elems[pos + 1]) == LLM_GE_END ? parent : make_node(m, pos + 1, parent);
        if (tail == LLM_GM_ERROR) return -1;
        for (uint32_t a = g->rule_alts[rule]; a < g->rule_alts[rule + 1]; a++) {
            const uint32_t s = g->alt_start[a];
            if (push_work(m, &nw, LLM_GE_KIND(g->elems[s]) == LLM_GE_END ? tail : make_node(m, s, tail))) return -1;
        }
    }
    return 0;
}

static void begin_closure(llm_gmatcher *m) {
    m->n_result = 0;
    if (++m->cur_stamp == 0) { /* wrapped: forget every mark */
        memset(m->stamp, 0, (size_t)m->cap_nodes * sizeof *m->stamp);
        m->cur_stamp = 1;
    }
}

static int cmp_u32(const void *a, const void *b) {
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t finish_closure(llm_gmatcher *m) {
    if (m->n_result < 16) { /* the usual handful: insertion sort */
        for (size_t i = 1; i < m->n_result; i++) {
            const uint32_t v = m->result[i];
            size_t j = i;
            while (j > 0 && m->result[j - 1] > v) {
                m->result[j] = m->result[j - 1];
                j--;
            }
            m->result[j] = v;
        }
    } else {
        qsort(m->result, m->n_result, sizeof *m->result, cmp_u32);
    }
    return intern_set(m, m->result, m->n_result);
}

/* The set of the start: the root rule's alternatives over the empty stack. */
static uint32_t start_set(llm_gmatcher *m) {
    const llm_grammar *g = m->g;
    uint32_t steps = 0;
    begin_closure(m);
    for (uint32_t a = g->rule_alts[g->root]; a < g->rule_alts[g->root + 1]; a++) {
        const uint32_t s = g->alt_start[a];
        const uint32_t y = LLM_GE_KIND(g->elems[s]) == LLM_GE_END ? 0 : make_node(m, s, 0);
        if (y == LLM_GM_ERROR || expand(m, y, &steps)) return LLM_GM_ERROR;
    }
    return finish_closure(m);
}

/* The set after code point c from set s. */
#define GM_MAX_SIGS (1u << 16)
#define GM_MAX_SIG_POOL ((size_t)1 << 20)

static int sig_tab_rebuild(llm_gmatcher *m, uint32_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t id = 0; id < m->n_sigs; id++) {
        uint32_t h = m->sigs[id].hash & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = id + 1;
    }
    free(m->sig_tab);
    m->sig_tab = t;
    m->sig_tab_cap = cap;
    return 0;
}

/* Remembers that the members match[0..n) of set s step to set result; a full cache, or no
 * memory for it, only means the step is computed again next time. */
static void sig_insert(llm_gmatcher *m, uint32_t s, const uint32_t *match, uint32_t n, uint32_t hash, uint32_t result) {
    if (m->n_sigs >= GM_MAX_SIGS || m->n_sig_pool + n > GM_MAX_SIG_POOL) return;
    if ((size_t)(m->n_sigs + 1) * 2 > m->sig_tab_cap && sig_tab_rebuild(m, m->sig_tab_cap ? m->sig_tab_cap * 2 : 1024))
        return;
    size_t cap = m->cap_sigs;
    if (grow((void **)&m->sigs, &cap, (size_t)m->n_sigs + 1, GM_MAX_SIGS, sizeof *m->sigs)) return;
    m->cap_sigs = (uint32_t)cap;
    if (grow((void **)&m->sig_pool, &m->cap_sig_pool, m->n_sig_pool + n, GM_MAX_SIG_POOL, sizeof *m->sig_pool)) return;
    llm_gsig *sg = &m->sigs[m->n_sigs];
    sg->set = s;
    sg->n = n;
    sg->hash = hash;
    sg->result = result;
    sg->off = m->n_sig_pool;
    memcpy(m->sig_pool + m->n_sig_pool, match, n * sizeof *match);
    m->n_sig_pool += n;
    uint32_t h = hash & (m->sig_tab_cap - 1);
    while (m->sig_tab[h]) h = (h + 1) & (m->sig_tab_cap - 1);
    m->sig_tab[h] = ++m->n_sigs;
}

/* The set after code point c from set s. What follows depends only on which members c matches,
 * so the step is cached by those (a JSON string's class lets thousands of code points through,
 * all to the same set). */
static uint32_t step_set(llm_gmatcher *m, uint32_t s, uint32_t c) {
    const llm_grammar *g = m->g;
    const uint32_t off = m->sets[s].off, n = m->sets[s].n;
    if (m->cap_match < n && grow((void **)&m->match, &m->cap_match, n, LLM_GM_MAX_STACKS, sizeof *m->match))
        return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    if (m->work_left < n) return fail(m, LLM_ERR_LIMIT, "grammar: a step of the grammar costs more than the matcher's bound");
    m->work_left -= n;
    uint32_t n_match = 0;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t x = m->members[off + k];
        if (x && llm_gelem_matches(g, g->elems[m->node_pos[x]], c)) m->match[n_match++] = k;
    }
    if (n_match == 0) return 0; /* the empty set */
    const uint32_t hash = mix(set_hash(m->match, n_match), s);
    if (m->sig_tab_cap) {
        uint32_t h = hash & (m->sig_tab_cap - 1);
        for (uint32_t id; (id = m->sig_tab[h]) != 0; h = (h + 1) & (m->sig_tab_cap - 1)) {
            const llm_gsig *sg = &m->sigs[id - 1];
            if (sg->hash == hash && sg->set == s && sg->n == n_match &&
                memcmp(m->sig_pool + sg->off, m->match, n_match * sizeof *m->match) == 0)
                return sg->result;
        }
    }
    uint32_t steps = 0;
    begin_closure(m);
    for (uint32_t j = 0; j < n_match; j++) {
        const uint32_t x = m->members[off + m->match[j]]; /* members do not move until the set is interned */
        const uint32_t pos = m->node_pos[x], parent = m->node_parent[x];
        const uint32_t y = LLM_GE_KIND(g->elems[pos + 1]) == LLM_GE_END ? parent : make_node(m, pos + 1, parent);
        if (y == LLM_GM_ERROR || expand(m, y, &steps)) return LLM_GM_ERROR;
    }
    const uint32_t result = finish_closure(m);
    if (result != LLM_GM_ERROR) sig_insert(m, s, m->match, n_match, hash, result);
    return result;
}

/* 1 when some stack of set s can take a code point in [lo, hi]. */
static int set_meets(llm_gmatcher *m, uint32_t s, uint32_t lo, uint32_t hi) {
    const uint32_t off = m->sets[s].off, n = m->sets[s].n;
    m->work_left = m->work_left > n ? m->work_left - n : 0; /* cheap: counted, not enforced */
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t x = m->members[off + k];
        if (x && llm_gelem_meets(m->g, m->g->elems[m->node_pos[x]], lo, hi)) return 1;
    }
    return 0;
}

uint32_t llm_gm_next_slow(llm_gmatcher *m, uint32_t p, uint8_t b) {
    const llm_gpos ps = m->pos[p];
    const uint32_t plen = ps.pend >> 24;
    if (plen > 3) return LLM_GM_DEAD; /* never: a sequence has at most 3 bytes before its last */
    uint8_t seq[4];
    for (uint32_t k = 0; k < plen; k++) seq[k] = (uint8_t)(ps.pend >> (8 * k));
    seq[plen] = b;
    uint32_t lo, hi, next;
    const int len = llm_utf8_seq_len(seq[0]);
    if (!llm_utf8_prefix_range(seq, (int)plen + 1, &lo, &hi)) {
        next = LLM_GM_DEAD; /* not valid UTF-8 */
    } else if ((int)plen + 1 == len) {
        next = intern_pos(m, step_set(m, ps.set, lo), 0);
    } else {
        const uint32_t pend = (ps.pend & 0xFFFFFFu) | ((uint32_t)b << (8 * plen)) | ((plen + 1) << 24);
        next = set_meets(m, ps.set, lo, hi) ? intern_pos(m, ps.set, pend) : LLM_GM_DEAD;
    }
    if (next != LLM_GM_ERROR) m->rows[(size_t)p << 8 | b] = next; /* the rows may have moved */
    return next;
}

/* Emptying, by levels (capacity kept): 1 the positions with their rows (and the mask slots,
 * which name positions); 2 also the stack sets; 3 also the stack nodes. Each level re-creates
 * what the ones below it need: the empty set (set 0) and the dead position (0, every byte dead). */
static int clear_tables(llm_gmatcher *m, int level) {
    if (level >= 3) {
        m->n_nodes = 1; /* node 0: the empty stack */
        if (m->cap_nodes) memset(m->stamp, 0, (size_t)m->cap_nodes * sizeof *m->stamp);
        m->cur_stamp = 1;
        memset(m->node_tab, 0, (size_t)m->node_tab_cap * sizeof *m->node_tab);
    }
    if (level >= 2) {
        m->n_sigs = 0;
        m->n_sig_pool = 0;
        if (m->sig_tab) memset(m->sig_tab, 0, (size_t)m->sig_tab_cap * sizeof *m->sig_tab);
        m->n_sets = 0;
        m->n_members = 0;
        memset(m->set_tab, 0, (size_t)m->set_tab_cap * sizeof *m->set_tab);
        if (intern_set(m, NULL, 0) != 0) return -1;
    }
    m->n_pos = 0;
    memset(m->pos_tab, 0, (size_t)m->pos_tab_cap * sizeof *m->pos_tab);
    for (int k = 0; k < LLM_GM_MASK_SLOTS; k++) m->masks[k].trie_id = 0;
    if (m->cap_pos == 0) {
        size_t cap = 0;
        if (grow((void **)&m->pos, &cap, 64, m->limit[LLM_GM_T_POS], sizeof *m->pos)) return -1;
        m->rows = malloc((cap << 8) * sizeof *m->rows);
        if (!m->rows) return -1;
        m->cap_pos = (uint32_t)cap;
    }
    m->pos[0] = (llm_gpos){0, 0};
    memset(m->rows, 0, 256 * sizeof *m->rows); /* LLM_GM_DEAD */
    m->n_pos = 1;
    return 0;
}

static void table_sizes(const llm_gmatcher *m, size_t out[LLM_GM_N_TABLES]) {
    out[LLM_GM_T_NODES] = m->n_nodes;
    out[LLM_GM_T_SETS] = m->n_sets;
    out[LLM_GM_T_MEMBERS] = m->n_members;
    out[LLM_GM_T_POS] = m->n_pos;
}

/* A table counts when past half its bound and, unless forced, past twice its size right after
 * the last emptying: a position that alone fills half a table (a very deep nesting) would
 * otherwise empty the caches at every call; it runs into the hard bound instead. */
int llm_gm_flush_level(const llm_gmatcher *m, int forced) {
    static const int tier[LLM_GM_N_TABLES] = {3, 2, 2, 1};
    size_t n[LLM_GM_N_TABLES];
    table_sizes(m, n);
    int level = -1;
    for (int k = 0; k < LLM_GM_N_TABLES; k++)
        if (n[k] > m->limit[k] / 2 && (forced || n[k] > 2 * m->floor[k]) && tier[k] > level) level = tier[k];
    return forced && level < 0 ? 3 : level;
}

llm_status llm_gm_report(llm_gmatcher *m, llm_err *err) {
    const llm_status st = m->status == LLM_OK ? LLM_ERR_INTERNAL : m->status;
    llm_err_set(err, st, "%s", m->status == LLM_OK ? "grammar: internal error" : m->status_msg);
    m->status = LLM_OK;
    return st;
}

static llm_status broken(llm_gmatcher *m) {
    m->cur = m->start = LLM_GM_DEAD; /* valid ids, so that nothing reads out of bounds */
    m->broken = 1;
    if (m->status == LLM_OK) fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    return m->status;
}

llm_status llm_gm_flush(llm_gmatcher *m, int level) {
    if (level < 0) return LLM_OK;
    if (level < 1) level = 1;
    m->flushes++;
    const llm_gpos cur = m->pos[m->cur];
    const uint32_t start = m->pos[m->start].set;
    /* what the current position needs kept: level 3, its stacks as plain lists of grammar
     * positions (bottom first, each after its length); level 2, its stacks' node ids */
    const llm_gset cs = m->sets[cur.set];
    size_t n = 0, cap = 0;
    uint32_t *keep = NULL;
    if (level >= 2) {
        for (uint32_t k = 0; k < cs.n; k++) {
            uint32_t depth = 0;
            if (level >= 3)
                for (uint32_t x = m->members[cs.off + k]; x; x = m->node_parent[x]) depth++;
            if (grow((void **)&keep, &cap, n + depth + 1, SIZE_MAX / 8, sizeof *keep)) {
                free(keep); /* nothing changed yet: the matcher stays as it was */
                return fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory"), m->status;
            }
            if (level < 3) {
                keep[n++] = m->members[cs.off + k];
                continue;
            }
            keep[n] = depth;
            size_t at = n + depth;
            for (uint32_t x = m->members[cs.off + k]; x; x = m->node_parent[x]) keep[at--] = m->node_pos[x];
            n += depth + 1;
        }
    }
    if (clear_tables(m, level)) {
        free(keep);
        return broken(m);
    }
    {
        uint32_t set = cur.set, sset = start;
        if (level >= 2) {
            begin_closure(m);
            if (grow((void **)&m->result, &m->cap_result, cs.n, LLM_GM_MAX_STACKS, sizeof *m->result)) {
                free(keep);
                return broken(m);
            }
            for (size_t at = 0; at < n; at += level >= 3 ? keep[at] + 1 : 1) {
                uint32_t x = keep[at];
                if (level >= 3) {
                    x = 0;
                    for (uint32_t k = 1; k <= keep[at] && x != LLM_GM_ERROR; k++) x = make_node(m, keep[at + k], x);
                    if (x == LLM_GM_ERROR) break;
                }
                m->result[m->n_result++] = x;
            }
            set = m->status == LLM_OK ? finish_closure(m) : LLM_GM_ERROR;
            sset = set == LLM_GM_ERROR ? LLM_GM_ERROR : start_set(m);
        }
        m->cur = intern_pos(m, set, cur.pend);
        m->start = sset == LLM_GM_ERROR ? LLM_GM_ERROR : intern_pos(m, sset, 0);
    }
    free(keep);
    if (m->cur == LLM_GM_ERROR || m->start == LLM_GM_ERROR) return broken(m);
    table_sizes(m, m->floor);
    return LLM_OK;
}

/* ---- API ------------------------------------------------------------------------------------ */
void llm_gmatcher_free(llm_gmatcher *m) {
    if (!m) return;
    free(m->node_pos);
    free(m->node_parent);
    free(m->stamp);
    free(m->node_tab);
    free(m->members);
    free(m->sets);
    free(m->set_tab);
    free(m->pos);
    free(m->pos_tab);
    free(m->rows);
    free(m->work);
    free(m->result);
    free(m->match);
    free(m->sigs);
    free(m->sig_tab);
    free(m->sig_pool);
    for (int k = 0; k < LLM_GM_MASK_SLOTS; k++) free(m->masks[k].bits);
    free(m->walk);
    free(m);
}

llm_status llm_gmatcher_new(const llm_grammar *g, llm_gmatcher **out, llm_err *err) {
    if (out) *out = NULL;
    if (!g || !out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar matcher: NULL argument");
    llm_gmatcher *m = calloc(1, sizeof *m);
    if (!m) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    m->g = g;
    memcpy(m->limit, gm_limits, sizeof m->limit);
    m->work_budget = LLM_GM_WORK_BUDGET;
    m->node_tab_cap = m->set_tab_cap = m->pos_tab_cap = 1024;
    m->node_tab = calloc(m->node_tab_cap, sizeof *m->node_tab);
    m->set_tab = calloc(m->set_tab_cap, sizeof *m->set_tab);
    m->pos_tab = calloc(m->pos_tab_cap, sizeof *m->pos_tab);
    size_t c1 = 0, c2 = 0, c3 = 0;
    int bad = !m->node_tab || !m->set_tab || !m->pos_tab;
    bad = bad || grow((void **)&m->node_pos, &c1, 1024, m->limit[LLM_GM_T_NODES], sizeof(uint32_t)) ||
          grow((void **)&m->node_parent, &c2, 1024, m->limit[LLM_GM_T_NODES], sizeof(uint32_t)) ||
          grow((void **)&m->stamp, &c3, 1024, m->limit[LLM_GM_T_NODES], sizeof(uint32_t));
    if (!bad) {
        m->cap_nodes = 1024;
        bad = clear_tables(m, 3) != 0;
    }
    if (bad) {
        llm_gmatcher_free(m);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    }
    m->node_pos[0] = m->node_parent[0] = 0;
    llm_gm_begin(m);
    m->start = intern_pos(m, start_set(m), 0);
    if (m->start == LLM_GM_ERROR) {
        const llm_status st = llm_gm_report(m, err);
        llm_gmatcher_free(m);
        return st;
    }
    m->cur = m->start;
    *out = m;
    return LLM_OK;
}

void llm_gmatcher_reset(llm_gmatcher *m) {
    if (!m) return;
    if (m->broken) { /* start over from empty tables */
        m->status = LLM_OK;
        llm_gm_begin(m);
        m->broken = 0;
        if (clear_tables(m, 3) == 0) m->start = intern_pos(m, start_set(m), 0);
        if (m->status != LLM_OK || m->start == LLM_GM_ERROR) {
            m->start = LLM_GM_DEAD;
            m->broken = 1;
            m->status = LLM_OK;
        }
    }
    m->cur = m->start;
}

/* Walks bytes from the current position: the position reached (LLM_GM_DEAD when a byte is not
 * allowed), or LLM_GM_ERROR. Empties the caches first when they are over their soft bounds, and
 * once more (then retries) when a hard bound is reached on the way. */
static uint32_t walk(llm_gmatcher *m, const char *bytes, size_t n) {
    if (m->broken) {
        fail(m, LLM_ERR_OUT_OF_MEMORY, "grammar: the matcher ran out of memory (reset it)");
        return LLM_GM_ERROR;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        llm_gm_begin(m);
        if (llm_gm_flush(m, llm_gm_flush_level(m, attempt > 0)) != LLM_OK) return LLM_GM_ERROR;
        uint32_t p = m->cur;
        for (size_t k = 0; k < n && p != LLM_GM_DEAD && p != LLM_GM_ERROR; k++) p = llm_gm_next(m, p, (uint8_t)bytes[k]);
        if (p != LLM_GM_ERROR || !m->retry) return p;
        m->status = LLM_OK; /* a table filled up: empty them and try once more */
    }
    if (m->status == LLM_OK) fail(m, LLM_ERR_LIMIT, "grammar: the matcher's bounds were reached");
    return LLM_GM_ERROR;
}

int llm_gmatcher_allows(llm_gmatcher *m, const char *bytes, size_t n, llm_err *err) {
    if (!m || (!bytes && n)) {
        llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar matcher: NULL argument");
        return -1;
    }
    const uint32_t p = walk(m, bytes, n);
    if (p == LLM_GM_ERROR) {
        llm_gm_report(m, err);
        return -1;
    }
    return p != LLM_GM_DEAD;
}

llm_status llm_gmatcher_accept(llm_gmatcher *m, const char *bytes, size_t n, llm_err *err) {
    if (!m || (!bytes && n)) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar matcher: NULL argument");
    const uint32_t p = walk(m, bytes, n);
    if (p == LLM_GM_ERROR) return llm_gm_report(m, err);
    if (p == LLM_GM_DEAD)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "grammar: the text is not allowed at this point of the grammar");
    m->cur = p;
    return LLM_OK;
}

int llm_gmatcher_can_end(const llm_gmatcher *m) {
    const llm_gpos *p = &m->pos[m->cur];
    return p->pend == 0 && m->sets[p->set].has_end;
}

int llm_gmatcher_must_end(llm_gmatcher *m) {
    const llm_gpos *p = &m->pos[m->cur];
    return p->pend == 0 && !m->sets[p->set].any_char;
}
