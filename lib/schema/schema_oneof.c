/* oneOf needs exactly one branch to match. The grammar generates the union of the branches, so
 * it is only right when no document generated from one branch validates against another. This
 * file proves that, conservatively: true means proven (different types; a key one branch
 * requires that the other never generates or forbids; a required key whose values exclude each
 * other, as with a "kind" discriminator; enum/const values the other branch rejects; disjoint
 * numeric ranges, lengths or formats). false means "may overlap", and the caller refuses the
 * schema rather than generate a document that matches two branches. */
#include <string.h>

#include "schema/schema_internal.h"

static bool count_disjoint(int64_t alo, int64_t ahi, int64_t blo, int64_t bhi) {
    return (ahi >= 0 && ahi < blo) || (bhi >= 0 && bhi < alo);
}

/* a's values all below b's, or all above */
static bool range_disjoint(const sch *a, const sch *b) {
    if (a->max.set && b->min.set) {
        int k = sv_cmp_snum(&a->max, &b->min);
        if (k < 0 || (k == 0 && (a->max.excl || b->min.excl))) return true;
    }
    if (a->min.set && b->max.set) {
        int k = sv_cmp_snum(&a->min, &b->max);
        if (k > 0 || (k == 0 && (a->min.excl || b->max.excl))) return true;
    }
    return false;
}

static const sch *prop_of(const sch *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n_props; i++)
        if (s->props[i].len == len && memcmp(s->props[i].name, name, len) == 0) return s->props[i].s;
    return NULL;
}

static bool in_req(const sch *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n_req; i++)
        if (s->req[i].len == len && memcmp(s->req[i].s, name, len) == 0) return true;
    return false;
}

/* Whether the grammar for s generates keys outside its properties (keep in step with
 * schema_object.c). */
bool so_gen_extras(const sch *s) { return s->addl == ADDL_TRUE || s->addl == ADDL_SCHEMA || (s->addl == ADDL_ABSENT && s->n_props == 0); }

static bool objects_disjoint(sctx *c, const sch *a, const sch *b, size_t depth) {
    /* a key b requires that a never writes */
    for (size_t i = 0; i < b->n_req; i++) {
        const sname *k = &b->req[i];
        const sch *ap = prop_of(a, k->s, k->len);
        if (in_req(a, k->s, k->len)) continue;
        if (ap ? ap->kind == SK_NEVER : !so_gen_extras(a)) return true;
    }
    /* a key a always writes that b forbids, or whose values exclude b's */
    for (size_t i = 0; i < a->n_req; i++) {
        const sname *k = &a->req[i];
        const sch *ap = prop_of(a, k->s, k->len), *bp = prop_of(b, k->s, k->len);
        if (!bp) {
            if (b->addl == ADDL_FALSE) return true;
            if (b->addl == ADDL_SCHEMA) bp = b->addl_s;
        }
        if (!ap && a->addl == ADDL_SCHEMA) ap = a->addl_s;
        if (ap && bp && so_disjoint(c, ap, bp, depth + 1)) return true;
    }
    return false;
}

static bool arrays_disjoint(sctx *c, const sch *a, const sch *b, size_t depth) {
    if (count_disjoint(a->min_items, a->max_items, b->min_items, b->max_items)) return true;
    for (int64_t i = 0; i < a->min_items && i < 64; i++) {
        const sch *x = (size_t)i < a->n_prefix ? a->prefix[i] : a->items;
        const sch *y = (size_t)i < b->n_prefix ? b->prefix[i] : b->items;
        if (x && y && so_disjoint(c, x, y, depth + 1)) return true;
    }
    return false;
}

static bool nodes_disjoint(sctx *c, const sch *a, const sch *b, size_t depth) {
    if (a->has_enum) { /* a generates only its values */
        for (size_t i = 0; i < a->n_enum; i++)
            if (sv_validate(c, b, a->enum_v[i], false, 0) != V_NO) return false;
        return true;
    }
    if (b->has_enum) {
        bool all_no = true;
        for (size_t i = 0; i < b->n_enum && all_no; i++) all_no = sv_validate(c, a, b->enum_v[i], false, 0) == V_NO;
        if (all_no) return true;
    }
    unsigned common = a->types & b->types;
    if (common & (T_NULL | T_BOOL)) return false;
    if ((common & (T_INT | T_NUM)) && !range_disjoint(a, b)) return false;
    if (common & T_STR) {
        bool d = count_disjoint(a->min_len, a->max_len, b->min_len, b->max_len) ||
                 (a->fmt != FMT_NONE && b->fmt != FMT_NONE && a->fmt != b->fmt);
        if (!d) return false;
    }
    if ((common & T_ARR) && !arrays_disjoint(c, a, b, depth)) return false;
    if ((common & T_OBJ) && !objects_disjoint(c, a, b, depth)) return false;
    return true;
}

bool so_disjoint(sctx *c, const sch *a, const sch *b, size_t depth) {
    if (depth > SCHEMA_MAX_DEPTH || c->st != LLM_OK) return false;
    if (a->kind == SK_NEVER || b->kind == SK_NEVER) return true;
    if (a->kind == SK_REF) return c->defs[a->def].body && so_disjoint(c, c->defs[a->def].body, b, depth + 1);
    if (b->kind == SK_REF) return c->defs[b->def].body && so_disjoint(c, a, c->defs[b->def].body, depth + 1);
    if (a->kind == SK_UNION) {
        for (size_t i = 0; i < a->n_alts; i++)
            if (!so_disjoint(c, a->alts[i], b, depth + 1)) return false;
        return true;
    }
    if (b->kind == SK_UNION) { /* oneOf's valid set is within anyOf's */
        for (size_t i = 0; i < b->n_alts; i++)
            if (!so_disjoint(c, a, b->alts[i], depth + 1)) return false;
        return true;
    }
    return nodes_disjoint(c, a, b, depth);
}
