/* allOf: the schema of documents valid against two schemas at once. Unions distribute
 * (X and (A or B) = (X and A) or (X and B)), $ref targets are inlined at the top (their inner
 * $refs stay rules), and per-type constraints combine keyword by keyword (the tighter bound, the
 * values in both enums, the properties of both, ...). */
#include <string.h>

#include "schema/schema_internal.h"

/* Merging recursive schemas that differ could go on forever; this bounds it. */
#define MERGE_MAX_DEPTH 48

static bool is_any(const sch *s) {
    return s->kind == SK_NODE && s->types == T_ALL && !s->has_enum && s->min_len == 0 && s->max_len < 0 &&
           !s->pattern && s->fmt == FMT_NONE && !s->min.set && !s->max.set && !s->n_prefix && !s->items &&
           s->min_items == 0 && s->max_items < 0 && !s->unique && !s->n_props && !s->n_req && s->addl == ADDL_ABSENT &&
           s->min_props == 0 && s->max_props < 0;
}

llm_status sm_resolve(sctx *c, sch *s, sch **out) {
    for (int hops = 0; s && s->kind == SK_REF; hops++) {
        if (hops > SCHEMA_MAX_DEPTH) return sc_fail(c, LLM_ERR_LIMIT, "$ref chain longer than %d", SCHEMA_MAX_DEPTH);
        if (sp_read_def(c, s->def) != LLM_OK) return c->st;
        s = c->defs[s->def].body;
    }
    *out = s;
    return c->st;
}

static snum tighter_lo(const snum *a, const snum *b) {
    if (!a->set) return *b;
    if (!b->set) return *a;
    int k = sv_cmp_snum(a, b);
    if (k != 0) return k > 0 ? *a : *b;
    return a->excl ? *a : *b;
}

static snum tighter_hi(const snum *a, const snum *b) {
    if (!a->set) return *b;
    if (!b->set) return *a;
    int k = sv_cmp_snum(a, b);
    if (k != 0) return k < 0 ? *a : *b;
    return a->excl ? *a : *b;
}

static int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }
/* of two upper bounds where < 0 means none */
static int64_t min_bound(int64_t a, int64_t b) {
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}

static llm_status merge(sctx *c, sch *a, sch *b, sch **out, size_t depth);

/* A property schema p of one side, seen by the other side's additionalProperties. */
static llm_status constrain_extra(sctx *c, sch *p, const sch *other, sch **out, size_t depth) {
    if (other->addl == ADDL_FALSE) {
        *out = sc_node(c, SK_NEVER);
        return c->st;
    }
    if (other->addl == ADDL_SCHEMA) return merge(c, p, other->addl_s, out, depth);
    *out = p;
    return c->st;
}

static llm_status merge_nodes(sctx *c, const sch *a, const sch *b, sch **out, size_t depth) {
    sch *r = sc_node(c, SK_NODE);
    if (!r) return c->st;
    *r = *a;
    r->types = a->types & b->types;
    if (b->has_enum) {
        if (a->has_enum) {
            const llm_json **keep = sc_alloc(c, (a->n_enum ? a->n_enum : 1) * sizeof *keep);
            if (!keep) return c->st;
            size_t kn = 0;
            for (size_t i = 0; i < a->n_enum; i++) {
                bool in = false;
                for (size_t j = 0; j < b->n_enum && !in; j++) in = sv_equal(a->enum_v[i], b->enum_v[j]);
                if (in) keep[kn++] = a->enum_v[i];
            }
            r->enum_v = keep;
            r->n_enum = kn;
        } else {
            r->has_enum = true;
            r->enum_v = b->enum_v;
            r->n_enum = b->n_enum;
        }
    }
    /* strings */
    r->min_len = max_of(a->min_len, b->min_len);
    r->max_len = min_bound(a->max_len, b->max_len);
    if (b->pattern) {
        if (a->pattern && (a->pattern_len != b->pattern_len || memcmp(a->pattern, b->pattern, a->pattern_len) != 0))
            return sc_fail_at(c, b->pattern_path, LLM_ERR_UNSUPPORTED,
                              "two different patterns for one string (allOf) are not supported");
        r->pattern = b->pattern;
        r->pattern_len = b->pattern_len;
        r->pattern_path = b->pattern_path;
    }
    if (b->fmt != FMT_NONE) {
        if (a->fmt != FMT_NONE && a->fmt != b->fmt) r->types &= ~(unsigned)T_STR; /* the formats exclude each other */
        r->fmt = b->fmt;
    }
    /* numbers */
    r->min = tighter_lo(&a->min, &b->min);
    r->max = tighter_hi(&a->max, &b->max);
    /* arrays */
    size_t np = a->n_prefix > b->n_prefix ? a->n_prefix : b->n_prefix;
    if (np) {
        r->prefix = sc_alloc(c, np * sizeof(sch *));
        if (!r->prefix) return c->st;
        r->n_prefix = np;
        for (size_t i = 0; i < np && c->st == LLM_OK; i++) {
            sch *x = i < a->n_prefix ? a->prefix[i] : a->items ? a->items : sc_any(c);
            sch *y = i < b->n_prefix ? b->prefix[i] : b->items ? b->items : sc_any(c);
            if (c->st == LLM_OK) merge(c, x, y, &r->prefix[i], depth + 1);
        }
    }
    if (a->items && b->items) merge(c, a->items, b->items, &r->items, depth + 1);
    else r->items = a->items ? a->items : b->items;
    r->min_items = max_of(a->min_items, b->min_items);
    r->max_items = min_bound(a->max_items, b->max_items);
    r->unique = a->unique || b->unique;
    /* objects */
    r->min_props = max_of(a->min_props, b->min_props);
    r->max_props = min_bound(a->max_props, b->max_props);
    if (a->n_props || b->n_props) {
        r->props = sc_alloc(c, (a->n_props + b->n_props) * sizeof *r->props);
        if (!r->props) return c->st;
        size_t n = 0;
        for (size_t i = 0; i < a->n_props && c->st == LLM_OK; i++) {
            const sprop *p = &a->props[i];
            r->props[n] = *p;
            size_t j = 0;
            while (j < b->n_props && (b->props[j].len != p->len || memcmp(b->props[j].name, p->name, p->len) != 0)) j++;
            if (j < b->n_props) merge(c, p->s, b->props[j].s, &r->props[n].s, depth + 1);
            else constrain_extra(c, p->s, b, &r->props[n].s, depth + 1);
            n++;
        }
        for (size_t j = 0; j < b->n_props && c->st == LLM_OK; j++) {
            const sprop *p = &b->props[j];
            size_t i = 0;
            while (i < a->n_props && (a->props[i].len != p->len || memcmp(a->props[i].name, p->name, p->len) != 0)) i++;
            if (i < a->n_props) continue;
            r->props[n] = *p;
            constrain_extra(c, p->s, a, &r->props[n].s, depth + 1);
            n++;
        }
        r->n_props = n;
    }
    if (b->n_req) {
        r->req = sc_alloc(c, (a->n_req + b->n_req) * sizeof *r->req);
        if (!r->req) return c->st;
        if (a->n_req) memcpy(r->req, a->req, a->n_req * sizeof *r->req);
        size_t n = a->n_req;
        for (size_t j = 0; j < b->n_req; j++) {
            bool dup = false;
            for (size_t i = 0; i < a->n_req && !dup; i++)
                dup = a->req[i].len == b->req[j].len && memcmp(a->req[i].s, b->req[j].s, b->req[j].len) == 0;
            if (!dup) r->req[n++] = b->req[j];
        }
        r->n_req = n;
    }
    if (a->addl == ADDL_FALSE || b->addl == ADDL_FALSE) {
        r->addl = ADDL_FALSE;
        r->addl_s = NULL;
    } else if (a->addl == ADDL_SCHEMA && b->addl == ADDL_SCHEMA) {
        merge(c, a->addl_s, b->addl_s, &r->addl_s, depth + 1);
    } else if (b->addl == ADDL_SCHEMA) {
        r->addl = ADDL_SCHEMA;
        r->addl_s = b->addl_s;
    } else if (a->addl != ADDL_SCHEMA && b->addl == ADDL_TRUE) {
        r->addl = ADDL_TRUE;
    }
    if (c->st == LLM_OK) *out = r;
    return c->st;
}

static llm_status merge(sctx *c, sch *a, sch *b, sch **out, size_t depth) {
    if (c->st != LLM_OK) return c->st;
    if (depth > MERGE_MAX_DEPTH)
        return sc_fail_at(c, a->path, LLM_ERR_UNSUPPORTED,
                          "allOf combining recursive schemas nests deeper than %d levels", MERGE_MAX_DEPTH);
    if (a->kind == SK_NEVER || is_any(b)) {
        *out = a;
        return c->st;
    }
    if (b->kind == SK_NEVER || is_any(a)) {
        *out = b;
        return c->st;
    }
    if (a->kind == SK_REF && b->kind == SK_REF && a->def == b->def) {
        *out = a;
        return c->st;
    }
    if (a->kind == SK_REF) {
        if (sm_resolve(c, a, &a) != LLM_OK) return c->st;
        return merge(c, a, b, out, depth + 1);
    }
    if (b->kind == SK_REF) {
        if (sm_resolve(c, b, &b) != LLM_OK) return c->st;
        return merge(c, a, b, out, depth + 1);
    }
    if (a->kind == SK_UNION || b->kind == SK_UNION) {
        sch *u = a->kind == SK_UNION ? a : b, *other = a->kind == SK_UNION ? b : a;
        sch *r = sc_node(c, SK_UNION);
        if (!r) return c->st;
        r->exclusive = u->exclusive;
        r->path = u->path;
        r->n_alts = u->n_alts;
        r->alts = sc_alloc(c, u->n_alts * sizeof(sch *));
        if (!r->alts) return c->st;
        for (size_t i = 0; i < u->n_alts && c->st == LLM_OK; i++) merge(c, u->alts[i], other, &r->alts[i], depth + 1);
        if (c->st == LLM_OK) *out = r;
        return c->st;
    }
    return merge_nodes(c, a, b, out, depth);
}

llm_status sm_merge(sctx *c, sch *a, sch *b, sch **out) { return merge(c, a, b, out, 0); }
