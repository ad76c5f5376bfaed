/* The walk from sch nodes to GBNF, the rule table (identical bodies share one rule), the
 * productivity fixpoint for $ref rules (a recursive definition that can never end, such as an
 * object that requires itself, generates nothing rather than a rule without finite strings), and
 * the entry point llm_schema_to_gbnf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

/* Passes of the productivity fixpoint: each pass settles at least one more $ref rule of a
 * recursive cycle; deeper cycles than this are refused. */
#define MAX_PASSES 64
/* An expression longer than this becomes a rule of its own (readable grammars). */
#define INLINE_MAX 72

/* ---- the rule table --------------------------------------------------------------------------- */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool index_grow(sctx *c) {
    size_t cap = c->index_cap ? c->index_cap * 2 : 256;
    uint32_t *bi = malloc(cap * sizeof *bi), *ni = malloc(cap * sizeof *ni);
    if (!bi || !ni) {
        free(bi);
        free(ni);
        sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return false;
    }
    memset(bi, 0xff, cap * sizeof *bi);
    memset(ni, 0xff, cap * sizeof *ni);
    for (size_t r = 0; r < c->n_rules; r++) {
        srule *x = &c->rules[r];
        if (x->body && !x->is_def) {
            size_t h = x->hash & (cap - 1);
            while (bi[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
            bi[h] = (uint32_t)r;
        }
        size_t h = hash_bytes(x->name, strlen(x->name)) & (cap - 1);
        while (ni[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
        ni[h] = (uint32_t)r;
    }
    free(c->body_index);
    free(c->name_index);
    c->body_index = bi;
    c->name_index = ni;
    c->index_cap = cap;
    return true;
}

static long find_name(const sctx *c, const char *name, size_t n) {
    if (!c->index_cap) return -1;
    size_t h = hash_bytes(name, n) & (c->index_cap - 1);
    while (c->name_index[h] != UINT32_MAX) {
        const srule *x = &c->rules[c->name_index[h]];
        if (strlen(x->name) == n && memcmp(x->name, name, n) == 0) return (long)c->name_index[h];
        h = (h + 1) & (c->index_cap - 1);
    }
    return -1;
}

/* A new rule with a unique name made from stem; returns its number or -1. */
static long add_rule(sctx *c, const char *stem, const char *body, size_t len, bool is_def) {
    if (c->st != LLM_OK) return -1;
    if (c->n_rules >= SCHEMA_MAX_RULES) {
        sc_fail(c, LLM_ERR_LIMIT, "the grammar would need more than %d rules", SCHEMA_MAX_RULES);
        return -1;
    }
    if ((c->n_rules + 1) * 2 > c->index_cap && !index_grow(c)) return -1;
    if (c->n_rules == c->cap_rules) {
        size_t nc = c->cap_rules ? c->cap_rules * 2 : 64;
        srule *nr = realloc(c->rules, nc * sizeof *nr);
        if (!nr) {
            sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
            return -1;
        }
        c->rules = nr;
        c->cap_rules = nc;
    }
    size_t sl = strlen(stem);
    char *name = malloc(sl + 24);
    char *b = body ? malloc(len + 1) : NULL;
    if (!name || (body && !b)) {
        free(name);
        free(b);
        sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return -1;
    }
    memcpy(name, stem, sl + 1);
    for (unsigned k = 2; find_name(c, name, strlen(name)) >= 0; k++) snprintf(name + sl, 24, "-%u", k);
    if (b) {
        memcpy(b, body, len);
        b[len] = 0;
    }
    size_t r = c->n_rules++;
    c->rules[r] = (srule){.name = name, .body = b, .body_len = len, .hash = hash_bytes(body ? body : "", len),
                          .is_def = is_def};
    size_t h = hash_bytes(name, strlen(name)) & (c->index_cap - 1);
    while (c->name_index[h] != UINT32_MAX) h = (h + 1) & (c->index_cap - 1);
    c->name_index[h] = (uint32_t)r;
    if (b && !is_def) {
        h = c->rules[r].hash & (c->index_cap - 1);
        while (c->body_index[h] != UINT32_MAX) h = (h + 1) & (c->index_cap - 1);
        c->body_index[h] = (uint32_t)r;
    }
    c->out_bytes += len + strlen(name) + 6;
    if (c->out_bytes > SCHEMA_MAX_OUTPUT) {
        sc_fail(c, LLM_ERR_LIMIT, "the grammar would exceed %u bytes", SCHEMA_MAX_OUTPUT);
        return -1;
    }
    return (long)r;
}

const char *sg_rule(sctx *c, const char *hint, const char *body, size_t len) {
    if (c->st != LLM_OK) return NULL;
    if (c->index_cap) {
        uint64_t hv = hash_bytes(body, len);
        size_t h = hv & (c->index_cap - 1);
        while (c->body_index[h] != UINT32_MAX) {
            const srule *x = &c->rules[c->body_index[h]];
            if (x->hash == hv && x->body_len == len && memcmp(x->body, body, len) == 0) return x->name;
            h = (h + 1) & (c->index_cap - 1);
        }
    }
    long r = add_rule(c, hint, body, len, false);
    return r < 0 ? NULL : c->rules[r].name;
}

void sg_inline_or_rule(sctx *c, const char *hint, const llm_buf *expr, llm_buf *out) {
    if (c->st != LLM_OK) return;
    if (expr->len <= INLINE_MAX) {
        sc_put(c, out, expr->data, expr->len);
        return;
    }
    const char *name = sg_rule(c, hint, expr->data, expr->len);
    if (name) sc_puts(c, out, name);
}

void sg_hint(sctx *c, llm_buf *b, const char *hint, const char *suffix, size_t suffix_len) {
    sc_puts(c, b, hint);
    sc_put(c, b, "-", 1);
    size_t start = b->len, k = 0;
    for (size_t i = 0; i < suffix_len && k < 24; i++) {
        char ch = suffix[i];
        bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!word) ch = '-';
        if (ch == '-' && (b->len == start || b->data[b->len - 1] == '-')) continue;
        sc_put(c, b, &ch, 1);
        k++;
    }
    while (b->len > start && b->data[b->len - 1] == '-') b->data[--b->len] = 0;
    if (b->len == start) sc_put(c, b, "x", 1);
    /* names stay short: a deep nesting keeps only the tail of its hint chain */
    if (b->len > 80) {
        size_t cut = b->len - 60;
        memmove(b->data + 4, b->data + cut, b->len - cut + 1);
        memcpy(b->data, "deep", 4);
        b->len = b->len - cut + 4;
    }
}

/* ---- shared rules ------------------------------------------------------------------------------ */
/* Whitespace: none, a space, or a newline and up to 16 spaces, so both compact and indented JSON
 * can be written but no position can take unbounded whitespace. */
static const char *const SHARED[][2] = {
    {RULE_WS, "( \" \" | \"\\n\" \" \"{0,16} )?"},
    {RULE_VALUE, "object | array | string | number | boolean | \"null\""},
    {RULE_BOOLEAN, "\"true\" | \"false\""},
    {"object", "\"{\" ws ( string \":\" ws value ( \",\" ws string \":\" ws value )* ws )? \"}\""},
    {"array", "\"[\" ws ( value ( \",\" ws value )* ws )? \"]\""},
    {RULE_STRING, "\"\\\"\" char* \"\\\"\""},
    /* \u escapes never name a surrogate: each escape is then one character, as jsonschema counts */
    {RULE_CHAR, "[^\\x22\\x5C\\x00-\\x1F] | \"\\\\\" ( [\\x22\\x5C/bfnrt] | \"u\" ( [0-9a-cA-CeEfF] [0-9a-fA-F]{3} | "
                "[dD] [0-7] [0-9a-fA-F]{2} ) )"},
    {RULE_NUMBER, "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?"},
    {RULE_INTEGER, "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )"},
};

static void add_shared(sctx *c) {
    for (size_t i = 0; i < sizeof SHARED / sizeof *SHARED; i++)
        add_rule(c, SHARED[i][0], SHARED[i][1], strlen(SHARED[i][1]), true);
}

/* ---- the walk ---------------------------------------------------------------------------------- */
static bool is_any(const sch *s) {
    return s->kind == SK_NODE && s->types == T_ALL && !s->has_enum && s->min_len == 0 && s->max_len < 0 &&
           !s->pattern && s->fmt == FMT_NONE && !s->min.set && !s->max.set && !s->n_prefix && !s->items &&
           s->min_items == 0 && s->max_items < 0 && !s->unique && !s->n_props && !s->n_req && s->addl == ADDL_ABSENT &&
           s->min_props == 0 && s->max_props < 0;
}

/* Joins alternatives: "a", or "( a | b )" (top: without the parentheses). */
static void join_alts(sctx *c, llm_buf *alts, size_t n, bool top, llm_buf *out) {
    if (n == 1) {
        sc_put(c, out, alts[0].data, alts[0].len);
        return;
    }
    if (!top) sc_puts(c, out, "( ");
    for (size_t i = 0; i < n; i++) {
        if (i) sc_puts(c, out, " | ");
        sc_put(c, out, alts[i].data, alts[i].len);
    }
    if (!top) sc_puts(c, out, " )");
}

static llm_status emit_enum(sctx *c, const sch *s, bool top, llm_buf *out, bool *empty) {
    llm_buf e = {0};
    size_t n = 0;
    for (size_t i = 0; i < s->n_enum && c->st == LLM_OK; i++) {
        /* only values that the other keywords accept (and no duplicates) */
        if (sv_validate(c, s, s->enum_v[i], true, 0) != V_YES) continue;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) dup = sv_equal(s->enum_v[j], s->enum_v[i]) && s->enum_v[j]->type == s->enum_v[i]->type;
        if (dup) continue;
        llm_buf text = {0};
        sc_json_text(c, &text, s->enum_v[i]);
        if (n++) sc_puts(c, &e, " | ");
        if (c->st == LLM_OK) sc_gbnf_literal(c, &e, text.data, text.len);
        llm_buf_free(&text);
    }
    *empty = n == 0;
    if (n && c->st == LLM_OK) {
        if (n > 1 && !top) sc_puts(c, out, "( ");
        sc_put(c, out, e.data, e.len);
        if (n > 1 && !top) sc_puts(c, out, " )");
    }
    llm_buf_free(&e);
    return c->st;
}

static llm_status emit_node(sctx *c, const sch *s, const char *hint, bool top, llm_buf *out, bool *empty) {
    *empty = true;
    if (s->has_enum) return emit_enum(c, s, top, out, empty);
    if (is_any(s)) {
        *empty = false;
        sc_puts(c, out, RULE_VALUE);
        return c->st;
    }
    llm_buf alts[6] = {{0}};
    size_t n = 0;
    bool e;
    if (s->types & T_NULL) sc_puts(c, &alts[n++], "\"null\"");
    if (s->types & T_BOOL) sc_puts(c, &alts[n++], RULE_BOOLEAN);
    if (s->types & (T_INT | T_NUM)) {
        llm_buf num = {0};
        sn_emit(c, &s->min, &s->max, !(s->types & T_NUM), &num, &e);
        if (!e) sg_inline_or_rule(c, hint, &num, &alts[n++]);
        llm_buf_free(&num);
    }
    if ((s->types & T_STR) && c->st == LLM_OK) {
        llm_buf str = {0};
        ss_emit(c, s, &str, &e);
        if (!e) {
            llm_buf h = {0};
            sg_hint(c, &h, hint, "string", 6);
            sg_inline_or_rule(c, h.data ? h.data : hint, &str, &alts[n++]);
            llm_buf_free(&h);
        }
        llm_buf_free(&str);
    }
    if ((s->types & T_ARR) && c->st == LLM_OK) {
        sg_array(c, s, hint, &alts[n], &e);
        if (!e) n++;
        else llm_buf_clear(&alts[n]);
    }
    if ((s->types & T_OBJ) && c->st == LLM_OK) {
        sg_object(c, s, hint, &alts[n], &e);
        if (!e) n++;
        else llm_buf_clear(&alts[n]);
    }
    if (n && c->st == LLM_OK) {
        *empty = false;
        join_alts(c, alts, n, top, out);
    }
    for (size_t i = 0; i < 6; i++) llm_buf_free(&alts[i]);
    return c->st;
}

static const char *def_rule_name(sctx *c, size_t d) {
    sdef *def = &c->defs[d];
    if (!def->rule_no_set) {
        llm_buf stem = {0};
        sg_hint(c, &stem, "def", def->rule, strlen(def->rule));
        /* "def-Name" reads worse than "Name"; keep the prefix only where the name is taken */
        const char *name = stem.data ? stem.data + 4 : "def";
        long r = find_name(c, name, strlen(name)) >= 0 ? add_rule(c, stem.data ? stem.data : "def", NULL, 0, true)
                                                       : add_rule(c, name, NULL, 0, true);
        llm_buf_free(&stem);
        if (r < 0) return NULL;
        def->rule_no = (size_t)r;
        def->rule_no_set = true;
    }
    return c->rules[def->rule_no].name;
}

static llm_status emit_union(sctx *c, const sch *s, const char *hint, bool top, llm_buf *out, bool *empty) {
    llm_buf *alts = calloc(s->n_alts, sizeof *alts);
    size_t *which = calloc(s->n_alts, sizeof *which);
    if (!alts || !which) {
        free(alts);
        free(which);
        return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_alts && c->st == LLM_OK; i++) {
        llm_buf h = {0};
        char tag[32];
        snprintf(tag, sizeof tag, "%zu", i);
        sg_hint(c, &h, hint, tag, strlen(tag));
        bool e;
        sg_emit(c, s->alts[i], h.data ? h.data : hint, false, &alts[n], &e);
        llm_buf_free(&h);
        if (!e) which[n++] = i;
        else llm_buf_clear(&alts[n]);
    }
    /* oneOf: the generated documents of each branch must fail every other branch */
    if (s->exclusive && c->st == LLM_OK)
        for (size_t i = 0; i < n && c->st == LLM_OK; i++)
            for (size_t j = 0; j < s->n_alts && c->st == LLM_OK; j++)
                if (j != which[i] && !so_disjoint(c, s->alts[which[i]], s->alts[j], 0))
                    sc_fail_at(c, s->path, LLM_ERR_UNSUPPORTED,
                               "oneOf: branches %zu and %zu may both match one document (only branches that "
                               "exclude each other are supported; use anyOf where that is meant)",
                               which[i], j);
    *empty = n == 0;
    if (n && c->st == LLM_OK) {
        if (top || n == 1) {
            join_alts(c, alts, n, top, out);
        } else {
            llm_buf body = {0};
            join_alts(c, alts, n, true, &body);
            const char *name = sg_rule(c, hint, body.data, body.len);
            if (name) sc_puts(c, out, name);
            llm_buf_free(&body);
        }
    }
    for (size_t i = 0; i < s->n_alts; i++) llm_buf_free(&alts[i]);
    free(alts);
    free(which);
    return c->st;
}

llm_status sg_emit(sctx *c, const sch *s, const char *hint, bool top, llm_buf *out, bool *empty) {
    *empty = true;
    if (c->st != LLM_OK) return c->st;
    if (++c->depth > SCHEMA_MAX_DEPTH * 2) {
        c->depth--;
        return sc_fail_at(c, s->path, LLM_ERR_LIMIT, "schemas nested deeper than %d", SCHEMA_MAX_DEPTH);
    }
    switch (s->kind) {
    case SK_NEVER: break;
    case SK_REF:
        c->defs[s->def].used = true;
        if (c->defs[s->def].productive) {
            const char *name = def_rule_name(c, s->def);
            if (name) {
                sc_puts(c, out, name);
                *empty = false;
            }
        }
        break;
    case SK_UNION: emit_union(c, s, hint, top, out, empty); break;
    case SK_NODE: emit_node(c, s, hint, top, out, empty); break;
    }
    c->depth--;
    return c->st;
}

/* ---- output ------------------------------------------------------------------------------------ */
/* Marks the rules a body names (identifiers outside literals and classes), transitively. */
static void mark_reachable(sctx *c, size_t r, bool *seen, size_t *stack) {
    size_t top = 0;
    seen[r] = true;
    stack[top++] = r;
    while (top) {
        const srule *x = &c->rules[stack[--top]];
        const char *b = x->body ? x->body : "";
        for (size_t i = 0; b[i];) {
            char ch = b[i];
            if (ch == '"' || ch == '[') {
                char close = ch == '"' ? '"' : ']';
                i++;
                while (b[i] && b[i] != close) i += b[i] == '\\' && b[i + 1] ? 2 : 1;
                if (b[i]) i++;
            } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-') {
                size_t j = i;
                while ((b[j] >= 'a' && b[j] <= 'z') || (b[j] >= 'A' && b[j] <= 'Z') || (b[j] >= '0' && b[j] <= '9') ||
                       b[j] == '-')
                    j++;
                long k = find_name(c, b + i, j - i);
                if (k >= 0 && !seen[k]) {
                    seen[k] = true;
                    stack[top++] = (size_t)k;
                }
                i = j;
            } else if (ch == '{') { /* a repetition count */
                while (b[i] && b[i] != '}') i++;
            } else {
                i++;
            }
        }
    }
}

static llm_status write_grammar(sctx *c, size_t root, llm_buf *out) {
    bool *seen = calloc(c->n_rules, sizeof *seen);
    size_t *stack = malloc(c->n_rules * sizeof *stack);
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    mark_reachable(c, root, seen, stack);
    llm_buf g = {0};
    for (int pass = 0; pass < 2; pass++) /* root first */
        for (size_t r = 0; r < c->n_rules && c->st == LLM_OK; r++) {
            if (!seen[r] || (pass == 0) != (r == root)) continue;
            sc_printf(c, &g, "%s ::= ", c->rules[r].name);
            sc_put(c, &g, c->rules[r].body ? c->rules[r].body : "", c->rules[r].body_len);
            sc_put(c, &g, "\n", 1);
        }
    free(seen);
    free(stack);
    if (c->st == LLM_OK) sc_put(c, out, g.data ? g.data : "", g.len);
    llm_buf_free(&g);
    return c->st;
}

static void reset_rules(sctx *c) {
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    c->n_rules = 0;
    c->out_bytes = 0;
    if (c->index_cap) {
        memset(c->body_index, 0xff, c->index_cap * sizeof *c->body_index);
        memset(c->name_index, 0xff, c->index_cap * sizeof *c->name_index);
    }
    for (size_t d = 0; d < c->n_defs; d++) {
        c->defs[d].used = false;
        c->defs[d].rule_no_set = false;
    }
}

/* One emission of the whole grammar with the current productivity of the $ref rules; returns the
 * root rule's number (-1: the root generates nothing) and whether any productivity changed. */
static long emit_all(sctx *c, bool *changed) {
    *changed = false;
    reset_rules(c);
    long root = add_rule(c, "root", NULL, 0, true);
    add_shared(c);
    /* the $ref rules, last discovered first (their dependencies mostly come later) */
    for (size_t k = c->n_defs; k-- > 0 && c->st == LLM_OK;) {
        const char *name = def_rule_name(c, k);
        if (!name) break;
        llm_buf body = {0};
        bool e = true;
        sg_emit(c, c->defs[k].body, name, true, &body, &e);
        if (c->st == LLM_OK && !e) {
            srule *x = &c->rules[c->defs[k].rule_no];
            x->body = body.data;
            x->body_len = body.len;
            body.data = NULL;
            c->out_bytes += x->body_len;
        }
        llm_buf_free(&body);
        if (c->defs[k].productive != !e) {
            c->defs[k].productive = !e;
            *changed = true;
        }
    }
    llm_buf body = {0};
    bool e = true;
    if (c->st == LLM_OK) sg_emit(c, c->root_sch, "root", true, &body, &e);
    if (c->st == LLM_OK && !e) {
        c->rules[root].body = body.data;
        c->rules[root].body_len = body.len;
        body.data = NULL;
    }
    llm_buf_free(&body);
    return c->st != LLM_OK || e ? -1 : root;
}

llm_status llm_schema_to_gbnf(const char *json, size_t len, llm_buf *out, llm_err *err) {
    if (!json || !out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "schema or output is NULL");
    if (len > SCHEMA_MAX_INPUT)
        return llm_err_set(err, LLM_ERR_LIMIT, "schema of %zu bytes is larger than the limit of %u bytes", len,
                           SCHEMA_MAX_INPUT);
    char msg[256];
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    llm_status st = llm_json_parse(json, len, SCHEMA_MAX_JSON_DEPTH, 0, &doc, &root, msg, sizeof msg);
    if (st != LLM_OK) {
        llm_status code = st == LLM_ERR_LIMIT || st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_INVALID_ARGUMENT;
        return llm_err_set(err, code, "the schema is not valid JSON: %s", msg);
    }
    sctx c = {.err = err, .st = LLM_OK, .root = root};
    sp_schema(&c, root, &c.root_sch);
    sp_read_defs(&c);
    long r = -1;
    for (int pass = 0; c.st == LLM_OK; pass++) {
        if (pass == MAX_PASSES) {
            sc_fail(&c, LLM_ERR_LIMIT, "recursive $ref rules nested more than %d deep", MAX_PASSES);
            break;
        }
        bool changed;
        r = emit_all(&c, &changed);
        if (!changed) break;
    }
    if (c.st == LLM_OK && r < 0)
        sc_fail(&c, LLM_ERR_INVALID_ARGUMENT, "the schema allows no JSON document (nothing can be generated)");
    if (c.st == LLM_OK) {
        size_t before = out->len;
        if (write_grammar(&c, (size_t)r, out) != LLM_OK && out->data) {
            out->len = before;
            out->data[before] = 0;
        }
    }
    st = c.st;
    sc_free(&c);
    llm_json_doc_free(doc);
    return st;
}
