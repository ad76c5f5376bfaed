/* Literal JSON values against schemas, as jsonschema decides: used to keep only the enum/const
 * values that also satisfy the keywords beside them (and the other schemas of an allOf), and by
 * schema_oneof.c to prove that oneOf branches exclude each other. Where a question cannot be
 * settled cheaply the answer is V_UNKNOWN, and callers treat that as "no" for generation. */
#include <math.h>
#include <string.h>

#include "schema/schema_internal.h"

unsigned sv_type_bits(const llm_json *v) {
    switch (v->type) {
    case LLM_JSON_NULL: return T_NULL;
    case LLM_JSON_TRUE:
    case LLM_JSON_FALSE: return T_BOOL;
    case LLM_JSON_INT: return T_INT | T_NUM;
    case LLM_JSON_FLOAT: return (isfinite(v->u.f) && v->u.f == floor(v->u.f)) ? (T_INT | T_NUM) : T_NUM;
    case LLM_JSON_STRING: return T_STR;
    case LLM_JSON_ARRAY: return T_ARR;
    case LLM_JSON_OBJECT: return T_OBJ;
    }
    return 0;
}

/* Exact comparison of an int64 with a double (no rounding of either). */
static int cmp_int_double(int64_t i, double d) {
    if (d >= 9223372036854775808.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    double fl = floor(d);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return d > fl ? -1 : 0;
}

static int cmp3(double a, double b) { return a < b ? -1 : a > b ? 1 : 0; }

int sv_cmp_snum(const snum *a, const snum *b) {
    if (a->is_int && b->is_int) return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    if (a->is_int) return cmp_int_double(a->i, b->f);
    if (b->is_int) return -cmp_int_double(b->i, a->f);
    return cmp3(a->f, b->f);
}

int sv_cmp_num(const llm_json *v, const snum *b) {
    snum a = {.set = true, .is_int = v->type == LLM_JSON_INT};
    if (a.is_int) a.i = v->u.i;
    else a.f = v->u.f;
    return sv_cmp_snum(&a, b);
}

bool sv_equal(const llm_json *a, const llm_json *b) {
    bool an = a->type == LLM_JSON_INT || a->type == LLM_JSON_FLOAT;
    bool bn = b->type == LLM_JSON_INT || b->type == LLM_JSON_FLOAT;
    if (an && bn) {
        snum x = {.set = true, .is_int = b->type == LLM_JSON_INT, .i = b->u.i};
        if (!x.is_int) x.f = b->u.f;
        return sv_cmp_num(a, &x) == 0;
    }
    if (a->type != b->type) return false;
    switch (a->type) {
    case LLM_JSON_STRING: return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case LLM_JSON_ARRAY:
        if (a->u.arr.n != b->u.arr.n) return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!sv_equal(a->u.arr.items[i], b->u.arr.items[i])) return false;
        return true;
    case LLM_JSON_OBJECT:
        if (a->u.obj.n != b->u.obj.n) return false;
        for (size_t i = 0; i < a->u.obj.n; i++) {
            const llm_json_member *m = &a->u.obj.members[i];
            bool found = false;
            for (size_t j = 0; j < b->u.obj.n && !found; j++) {
                const llm_json_member *o = &b->u.obj.members[j];
                if (o->key_len == m->key_len && memcmp(o->key, m->key, m->key_len) == 0) {
                    if (!sv_equal(m->value, o->value)) return false;
                    found = true;
                }
            }
            if (!found) return false;
        }
        return true;
    default: return true; /* null, true, false */
    }
}

/* and-combination of three-valued answers */
static vres both(vres a, vres b) {
    if (a == V_NO || b == V_NO) return V_NO;
    if (a == V_UNKNOWN || b == V_UNKNOWN) return V_UNKNOWN;
    return V_YES;
}

static bool in_count(int64_t n, int64_t lo, int64_t hi) { return n >= lo && (hi < 0 || n <= hi); }

static vres validate_node(sctx *c, const sch *s, const llm_json *v, bool skip_enum, size_t depth) {
    unsigned t = sv_type_bits(v);
    if (!(t & s->types)) return V_NO;
    if (s->has_enum && !skip_enum) {
        bool in = false;
        for (size_t i = 0; i < s->n_enum && !in; i++) in = sv_equal(s->enum_v[i], v);
        if (!in) return V_NO;
    }
    vres r = V_YES;
    switch (v->type) {
    case LLM_JSON_STRING: {
        size_t n = sc_utf8_count(v->u.str.s, v->u.str.len);
        if (!in_count((int64_t)n, s->min_len, s->max_len)) return V_NO;
        if (s->fmt != FMT_NONE) r = both(r, ss_format_check(c, s->fmt, v->u.str.s, v->u.str.len));
        if (s->pattern) r = both(r, sr_match(c, s->pattern, s->pattern_len, v->u.str.s, v->u.str.len));
        return r;
    }
    case LLM_JSON_INT:
    case LLM_JSON_FLOAT:
        if (s->min.set) {
            int k = sv_cmp_num(v, &s->min);
            if (k < 0 || (k == 0 && s->min.excl)) return V_NO;
        }
        if (s->max.set) {
            int k = sv_cmp_num(v, &s->max);
            if (k > 0 || (k == 0 && s->max.excl)) return V_NO;
        }
        return V_YES;
    case LLM_JSON_ARRAY: {
        size_t n = v->u.arr.n;
        if (!in_count((int64_t)n, s->min_items, s->max_items)) return V_NO;
        for (size_t i = 0; i < n && r != V_NO; i++) {
            const sch *it = i < s->n_prefix ? s->prefix[i] : s->items;
            if (it) r = both(r, sv_validate(c, it, v->u.arr.items[i], false, depth + 1));
        }
        if (s->unique && r != V_NO)
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                    if (sv_equal(v->u.arr.items[i], v->u.arr.items[j])) return V_NO;
        return r;
    }
    case LLM_JSON_OBJECT: {
        if (!in_count((int64_t)v->u.obj.n, s->min_props, s->max_props)) return V_NO;
        for (size_t q = 0; q < s->n_req; q++) {
            bool found = false;
            for (size_t i = 0; i < v->u.obj.n && !found; i++)
                found = v->u.obj.members[i].key_len == s->req[q].len &&
                        memcmp(v->u.obj.members[i].key, s->req[q].s, s->req[q].len) == 0;
            if (!found) return V_NO;
        }
        for (size_t i = 0; i < v->u.obj.n && r != V_NO; i++) {
            const llm_json_member *m = &v->u.obj.members[i];
            const sch *ps = NULL;
            for (size_t p = 0; p < s->n_props && !ps; p++)
                if (s->props[p].len == m->key_len && memcmp(s->props[p].name, m->key, m->key_len) == 0) ps = s->props[p].s;
            if (ps) r = both(r, sv_validate(c, ps, m->value, false, depth + 1));
            else if (s->addl == ADDL_FALSE) return V_NO;
            else if (s->addl == ADDL_SCHEMA) r = both(r, sv_validate(c, s->addl_s, m->value, false, depth + 1));
        }
        return r;
    }
    default: return V_YES;
    }
}

vres sv_validate(sctx *c, const sch *s, const llm_json *v, bool skip_enum, size_t depth) {
    if (depth > SCHEMA_MAX_DEPTH * 2 || c->st != LLM_OK) return V_UNKNOWN;
    switch (s->kind) {
    case SK_NEVER: return V_NO;
    case SK_REF: {
        const sch *body = c->defs[s->def].body;
        return body ? sv_validate(c, body, v, false, depth + 1) : V_UNKNOWN;
    }
    case SK_UNION: {
        size_t yes = 0, unknown = 0;
        for (size_t i = 0; i < s->n_alts; i++) {
            vres r = sv_validate(c, s->alts[i], v, false, depth + 1);
            if (r == V_YES) yes++;
            else if (r == V_UNKNOWN) unknown++;
        }
        if (!s->exclusive) return yes ? V_YES : unknown ? V_UNKNOWN : V_NO;
        if (yes > 1) return V_NO;
        if (unknown) return V_UNKNOWN;
        return yes == 1 ? V_YES : V_NO;
    }
    case SK_NODE: return validate_node(c, s, v, skip_enum, depth);
    }
    return V_UNKNOWN;
}
