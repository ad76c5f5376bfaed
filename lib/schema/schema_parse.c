/* Reading a schema's JSON into sch nodes: keyword shapes are checked (a malformed schema is
 * LLM_ERR_INVALID_ARGUMENT with the JSON pointer of the place), keywords that change validity but
 * are not supported are LLM_ERR_UNSUPPORTED naming them, annotations and unknown keywords are
 * ignored (jsonschema ignores unknown keywords too). allOf, anyOf, oneOf and $ref with sibling
 * keywords become merges (schema_merge.c). $ref targets are read once each, lazily, so that
 * recursive schemas become recursive rules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

const llm_json *sp_member(const llm_json *obj, const char *key) {
    if (!obj || obj->type != LLM_JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->u.obj.n; i++)
        if (obj->u.obj.members[i].key_len == kl && memcmp(obj->u.obj.members[i].key, key, kl) == 0)
            return obj->u.obj.members[i].value;
    return NULL;
}

/* ---- the JSON pointer of where the reader is ------------------------------------------------ */
static size_t path_push(sctx *c, const char *seg, size_t n) {
    size_t mark = c->path.len;
    sc_put(c, &c->path, "/", 1);
    for (size_t i = 0; i < n; i++) {
        if (seg[i] == '~') sc_put(c, &c->path, "~0", 2);
        else if (seg[i] == '/') sc_put(c, &c->path, "~1", 2);
        else sc_put(c, &c->path, seg + i, 1);
    }
    return mark;
}

static size_t path_push_index(sctx *c, size_t i) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", i);
    return path_push(c, tmp, strlen(tmp));
}

static void path_pop(sctx *c, size_t mark) {
    if (c->path.data && mark <= c->path.len) {
        c->path.len = mark;
        c->path.data[mark] = 0;
    }
}

static const char *here(sctx *c) { return c->path.len ? c->path.data : "/"; }

static llm_status bad(sctx *c, const char *fmt, const char *kw) {
    return sc_fail_at(c, here(c), LLM_ERR_INVALID_ARGUMENT, fmt, kw);
}

/* ---- keyword table -------------------------------------------------------------------------- */
typedef enum { KW_IGNORE, KW_SUPPORTED, KW_UNSUPPORTED } kw_class;

/* Keywords that change which documents are valid and that this converter does not implement. */
static const char *const UNSUPPORTED[] = {
    "multipleOf",         "patternProperties", "not",          "if",
    "dependentRequired",  "dependentSchemas",  "dependencies", "propertyNames",
    "contains",           "minContains",       "maxContains",  "unevaluatedProperties",
    "unevaluatedItems",   "$dynamicRef",       "$recursiveRef",
};

static const char *const SUPPORTED[] = {
    "type",          "enum",         "const",        "properties",       "required",
    "additionalProperties", "items", "prefixItems",  "additionalItems",  "minItems",
    "maxItems",      "minLength",    "maxLength",    "pattern",          "format",
    "minimum",       "maximum",      "exclusiveMinimum", "exclusiveMaximum", "anyOf",
    "oneOf",         "allOf",        "$ref",         "uniqueItems",      "minProperties",
    "maxProperties",
};

static kw_class kw_lookup(const char *k, size_t n) {
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof *UNSUPPORTED; i++)
        if (strlen(UNSUPPORTED[i]) == n && memcmp(UNSUPPORTED[i], k, n) == 0) return KW_UNSUPPORTED;
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++)
        if (strlen(SUPPORTED[i]) == n && memcmp(SUPPORTED[i], k, n) == 0) return KW_SUPPORTED;
    return KW_IGNORE; /* annotations (title, description, default, examples, $schema, ...) */
}

/* ---- value shapes ---------------------------------------------------------------------------- */
/* A non-negative integer (2.0 counts, as in jsonschema); huge values saturate. */
static bool get_count(const llm_json *v, int64_t *out) {
    if (v->type == LLM_JSON_INT && v->u.i >= 0) {
        *out = v->u.i;
        return true;
    }
    if (v->type == LLM_JSON_FLOAT && isfinite(v->u.f) && v->u.f >= 0 && v->u.f == floor(v->u.f)) {
        *out = v->u.f >= 9.2e18 ? INT64_MAX : (int64_t)v->u.f;
        return true;
    }
    return false;
}

static bool get_number(const llm_json *v, snum *out) {
    if (v->type == LLM_JSON_INT) {
        out->set = true;
        out->is_int = true;
        out->i = v->u.i;
        return true;
    }
    if (v->type == LLM_JSON_FLOAT && isfinite(v->u.f)) {
        out->set = true;
        out->is_int = false;
        out->f = v->u.f;
        return true;
    }
    return false;
}

static bool has_nonfinite(const llm_json *v, size_t depth) {
    if (depth > SCHEMA_MAX_JSON_DEPTH) return false;
    switch (v->type) {
    case LLM_JSON_FLOAT: return !isfinite(v->u.f);
    case LLM_JSON_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (has_nonfinite(v->u.arr.items[i], depth + 1)) return true;
        return false;
    case LLM_JSON_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++)
            if (has_nonfinite(v->u.obj.members[i].value, depth + 1)) return true;
        return false;
    default: return false;
    }
}

static unsigned type_bit(const char *s, size_t n) {
    static const struct { const char *name; unsigned bits; } T[] = {
        {"null", T_NULL},   {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_INT | T_NUM},
        {"string", T_STR}, {"array", T_ARR},    {"object", T_OBJ},
    };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++)
        if (strlen(T[i].name) == n && memcmp(T[i].name, s, n) == 0) return T[i].bits;
    return 0;
}

/* ---- $ref ------------------------------------------------------------------------------------ */
static int hexv(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The node a "#/a/b" reference names (RFC 6901 with URI percent-decoding), or NULL. */
static const llm_json *resolve_pointer(sctx *c, const char *ref, size_t n) {
    const llm_json *cur = c->root;
    size_t i = 1; /* past '#' */
    char *seg = sc_alloc(c, n + 1);
    if (!seg) return NULL;
    while (i < n) {
        if (ref[i] != '/') return NULL;
        i++;
        size_t k = 0;
        while (i < n && ref[i] != '/') {
            char ch = ref[i++];
            if (ch == '%') {
                int h1 = i < n ? hexv(ref[i]) : -1, h2 = i + 1 < n ? hexv(ref[i + 1]) : -1;
                if (h1 < 0 || h2 < 0) return NULL;
                ch = (char)(h1 * 16 + h2);
                i += 2;
            } else if (ch == '~') {
                if (i >= n || (ref[i] != '0' && ref[i] != '1')) return NULL;
                ch = ref[i++] == '0' ? '~' : '/';
            }
            seg[k++] = ch;
        }
        if (cur->type == LLM_JSON_OBJECT) {
            const llm_json *next = NULL;
            for (size_t m = 0; m < cur->u.obj.n; m++)
                if (cur->u.obj.members[m].key_len == k && memcmp(cur->u.obj.members[m].key, seg, k) == 0)
                    next = cur->u.obj.members[m].value;
            if (!next) return NULL;
            cur = next;
        } else if (cur->type == LLM_JSON_ARRAY) {
            size_t idx = 0;
            if (k == 0 || k > 9 || (k > 1 && seg[0] == '0')) return NULL;
            for (size_t m = 0; m < k; m++) {
                if (seg[m] < '0' || seg[m] > '9') return NULL;
                idx = idx * 10 + (size_t)(seg[m] - '0');
            }
            if (idx >= cur->u.arr.n) return NULL;
            cur = cur->u.arr.items[idx];
        } else {
            return NULL;
        }
    }
    return cur;
}

static llm_status parse_ref(sctx *c, const llm_json *v, sch **out) {
    if (v->type != LLM_JSON_STRING) return bad(c, "%s must be a string", "$ref");
    const char *ref = v->u.str.s;
    size_t n = v->u.str.len;
    if (n == 0 || ref[0] != '#')
        return sc_fail_at(c, here(c), LLM_ERR_UNSUPPORTED,
                          "$ref \"%.100s\": only references inside the schema (\"#/...\") are supported", ref);
    if (n > 1 && ref[1] != '/')
        return sc_fail_at(c, here(c), LLM_ERR_UNSUPPORTED, "$ref \"%.100s\": references to anchors are not supported", ref);
    const llm_json *t = resolve_pointer(c, ref, n);
    if (c->st != LLM_OK) return c->st;
    if (!t) return sc_fail_at(c, here(c), LLM_ERR_INVALID_ARGUMENT, "$ref \"%.100s\" names nothing in the schema", ref);
    size_t d = 0;
    while (d < c->n_defs && c->defs[d].target != t) d++;
    if (d == c->n_defs) {
        if (c->n_defs == c->cap_defs) {
            size_t nc = c->cap_defs ? c->cap_defs * 2 : 16;
            if (nc > SCHEMA_MAX_RULES) return sc_fail(c, LLM_ERR_LIMIT, "more than %d $ref targets", SCHEMA_MAX_RULES / 2);
            sdef *nd = realloc(c->defs, nc * sizeof *nd);
            if (!nd) return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
            c->defs = nd;
            c->cap_defs = nc;
        }
        memset(&c->defs[d], 0, sizeof c->defs[d]);
        c->defs[d].target = t;
        /* the rule name: the pointer's last segment, or "root" for "#" */
        const char *last = ref + n;
        while (last > ref && last[-1] != '/') last--;
        c->defs[d].rule = sc_strdup(c, n == 1 ? "root" : last, (size_t)(ref + n - last));
        c->defs[d].pointer = sc_strdup(c, ref, n);
        if (c->st != LLM_OK) return c->st;
        c->n_defs++;
    }
    sch *s = sc_node(c, SK_REF);
    if (!s) return c->st;
    s->def = d;
    s->path = sc_strdup(c, here(c), strlen(here(c)));
    *out = s;
    return c->st;
}

llm_status sp_read_def(sctx *c, size_t d) {
    sdef *def = &c->defs[d];
    if (def->body || c->st != LLM_OK) return c->st;
    if (def->reading)
        return sc_fail_at(c, def->pointer + 1, LLM_ERR_INVALID_ARGUMENT,
                          "$ref \"%.100s\" refers to itself without any schema in between", def->pointer);
    def->reading = true;
    llm_buf saved = c->path;
    size_t depth = c->depth;
    c->path = (llm_buf){0};
    sc_puts(c, &c->path, def->pointer + 1);
    sch *body = NULL;
    sp_schema(c, def->target, &body);
    llm_buf_free(&c->path);
    c->path = saved;
    c->depth = depth;
    c->defs[d].reading = false; /* c->defs may have moved */
    if (c->st == LLM_OK) c->defs[d].body = body;
    return c->st;
}

/* ---- one schema ------------------------------------------------------------------------------ */
static llm_status parse_list(sctx *c, const llm_json *v, const char *kw, sch ***items, size_t *n, bool nonempty) {
    if (v->type != LLM_JSON_ARRAY || (nonempty && v->u.arr.n == 0))
        return bad(c, nonempty ? "%s must be a non-empty array of schemas" : "%s must be an array of schemas", kw);
    size_t mark = path_push(c, kw, strlen(kw));
    *n = v->u.arr.n;
    *items = sc_alloc(c, (*n ? *n : 1) * sizeof(sch *));
    for (size_t i = 0; i < v->u.arr.n && c->st == LLM_OK; i++) {
        size_t m2 = path_push_index(c, i);
        sp_schema(c, v->u.arr.items[i], &(*items)[i]);
        path_pop(c, m2);
    }
    path_pop(c, mark);
    return c->st;
}

static llm_status parse_sub(sctx *c, const llm_json *v, const char *kw, sch **out) {
    size_t mark = path_push(c, kw, strlen(kw));
    sp_schema(c, v, out);
    path_pop(c, mark);
    return c->st;
}

static llm_status parse_node(sctx *c, const llm_json *v, sch *s, bool *constrained) {
    const llm_json *ex_min_bool = NULL, *ex_max_bool = NULL;
    snum ex_min = {0}, ex_max = {0};
    for (size_t i = 0; i < v->u.obj.n && c->st == LLM_OK; i++) {
        const char *k = v->u.obj.members[i].key;
        size_t kl = v->u.obj.members[i].key_len;
        const llm_json *x = v->u.obj.members[i].value;
        kw_class cls = kw_lookup(k, kl);
        if (cls == KW_IGNORE) continue;
        if (cls == KW_UNSUPPORTED) {
            if (kl == 2 && memcmp(k, "if", 2) == 0 && x->type == LLM_JSON_TRUE) continue; /* no effect */
            return sc_fail_at(c, here(c), LLM_ERR_UNSUPPORTED, "the keyword \"%s\" is not supported", k);
        }
        if (strcmp(k, "$ref") == 0 || strcmp(k, "allOf") == 0 || strcmp(k, "anyOf") == 0 || strcmp(k, "oneOf") == 0)
            continue; /* combined by sp_schema */
        *constrained = true;
        if (strcmp(k, "type") == 0) {
            unsigned bits = 0;
            if (x->type == LLM_JSON_STRING) {
                bits = type_bit(x->u.str.s, x->u.str.len);
                if (!bits) return sc_fail_at(c, here(c), LLM_ERR_INVALID_ARGUMENT, "unknown type \"%.60s\"", x->u.str.s);
            } else if (x->type == LLM_JSON_ARRAY) {
                for (size_t j = 0; j < x->u.arr.n; j++) {
                    const llm_json *t = x->u.arr.items[j];
                    unsigned b = t->type == LLM_JSON_STRING ? type_bit(t->u.str.s, t->u.str.len) : 0;
                    if (!b) return bad(c, "%s must be a type name or a list of type names", "type");
                    bits |= b;
                }
            } else {
                return bad(c, "%s must be a type name or a list of type names", "type");
            }
            s->types &= bits;
        } else if (strcmp(k, "enum") == 0 || strcmp(k, "const") == 0) {
            bool is_enum = k[0] == 'e';
            if (is_enum && x->type != LLM_JSON_ARRAY) return bad(c, "%s must be an array", "enum");
            size_t n = is_enum ? x->u.arr.n : 1;
            const llm_json *const *vals = is_enum ? (const llm_json *const *)x->u.arr.items : &x;
            if (has_nonfinite(x, 0)) return bad(c, "%s holds NaN or Infinity, which JSON cannot write", k);
            /* const and enum together: the values in both */
            const llm_json **keep = sc_alloc(c, (n ? n : 1) * sizeof *keep);
            if (!keep) return c->st;
            size_t kn = 0;
            for (size_t j = 0; j < n; j++) {
                bool ok = true;
                if (s->has_enum) {
                    ok = false;
                    for (size_t m = 0; m < s->n_enum; m++) ok = ok || sv_equal(s->enum_v[m], vals[j]);
                }
                if (ok) keep[kn++] = vals[j];
            }
            s->has_enum = true;
            s->enum_v = keep;
            s->n_enum = kn;
        } else if (strcmp(k, "properties") == 0) {
            if (x->type != LLM_JSON_OBJECT) return bad(c, "%s must be an object of schemas", k);
            size_t mark = path_push(c, k, kl);
            s->n_props = x->u.obj.n;
            s->props = sc_alloc(c, (s->n_props ? s->n_props : 1) * sizeof *s->props);
            for (size_t j = 0; j < x->u.obj.n && c->st == LLM_OK; j++) {
                const llm_json_member *m = &x->u.obj.members[j];
                size_t m2 = path_push(c, m->key, m->key_len);
                s->props[j].name = m->key;
                s->props[j].len = m->key_len;
                sp_schema(c, m->value, &s->props[j].s);
                path_pop(c, m2);
            }
            path_pop(c, mark);
        } else if (strcmp(k, "required") == 0) {
            if (x->type != LLM_JSON_ARRAY) return bad(c, "%s must be an array of strings", k);
            s->req = sc_alloc(c, (x->u.arr.n ? x->u.arr.n : 1) * sizeof *s->req);
            if (!s->req) return c->st;
            s->n_req = 0;
            for (size_t j = 0; j < x->u.arr.n; j++) {
                const llm_json *r = x->u.arr.items[j];
                if (r->type != LLM_JSON_STRING) return bad(c, "%s must be an array of strings", k);
                bool dup = false;
                for (size_t m = 0; m < s->n_req; m++)
                    dup = dup || (s->req[m].len == r->u.str.len && memcmp(s->req[m].s, r->u.str.s, r->u.str.len) == 0);
                if (!dup) s->req[s->n_req++] = (sname){r->u.str.s, r->u.str.len};
            }
        } else if (strcmp(k, "additionalProperties") == 0) {
            if (x->type == LLM_JSON_FALSE) s->addl = ADDL_FALSE;
            else if (x->type == LLM_JSON_TRUE) s->addl = ADDL_TRUE;
            else if (x->type == LLM_JSON_OBJECT) {
                s->addl = ADDL_SCHEMA;
                parse_sub(c, x, k, &s->addl_s);
            } else {
                return bad(c, "%s must be a schema", k);
            }
        } else if (strcmp(k, "items") == 0) {
            if (x->type == LLM_JSON_ARRAY) { /* drafts before 2020-12: a tuple */
                if (s->prefix) return bad(c, "%s as an array cannot stand beside prefixItems", k);
                parse_list(c, x, k, &s->prefix, &s->n_prefix, false);
                /* the rest: additionalItems (read below), else any */
            } else {
                sch *it = NULL;
                if (parse_sub(c, x, k, &it) != LLM_OK) return c->st;
                s->items = it;
            }
        } else if (strcmp(k, "prefixItems") == 0) {
            if (s->prefix) return bad(c, "%s cannot stand beside items given as an array", k);
            parse_list(c, x, k, &s->prefix, &s->n_prefix, false);
        } else if (strcmp(k, "additionalItems") == 0) {
            /* only meaningful beside an items array; read where that is known */
            const llm_json *items = sp_member(v, "items");
            if (items && items->type == LLM_JSON_ARRAY) {
                sch *it = NULL;
                if (parse_sub(c, x, k, &it) != LLM_OK) return c->st;
                s->items = it;
            } else if (x->type != LLM_JSON_OBJECT && x->type != LLM_JSON_TRUE && x->type != LLM_JSON_FALSE) {
                return bad(c, "%s must be a schema", k);
            }
        } else if (strcmp(k, "minItems") == 0 || strcmp(k, "maxItems") == 0 || strcmp(k, "minLength") == 0 ||
                   strcmp(k, "maxLength") == 0 || strcmp(k, "minProperties") == 0 || strcmp(k, "maxProperties") == 0) {
            int64_t n;
            if (!get_count(x, &n)) return bad(c, "%s must be a non-negative integer", k);
            if (strcmp(k, "minItems") == 0) s->min_items = n;
            else if (strcmp(k, "maxItems") == 0) s->max_items = n;
            else if (strcmp(k, "minLength") == 0) s->min_len = n;
            else if (strcmp(k, "maxLength") == 0) s->max_len = n;
            else if (strcmp(k, "minProperties") == 0) s->min_props = n;
            else s->max_props = n;
        } else if (strcmp(k, "pattern") == 0) {
            if (x->type != LLM_JSON_STRING) return bad(c, "%s must be a string", k);
            if (x->u.str.len > SCHEMA_MAX_PATTERN)
                return sc_fail_at(c, here(c), LLM_ERR_LIMIT, "pattern longer than %d bytes", SCHEMA_MAX_PATTERN);
            s->pattern = x->u.str.s;
            s->pattern_len = x->u.str.len;
            s->pattern_path = sc_strdup(c, here(c), strlen(here(c)));
            if (sr_check(c, x->u.str.s, x->u.str.len, here(c)) != LLM_OK) return c->st;
        } else if (strcmp(k, "format") == 0) {
            if (x->type != LLM_JSON_STRING) return bad(c, "%s must be a string", k);
            bool unsupported = false;
            sfmt f = ss_format_lookup(x->u.str.s, x->u.str.len, &unsupported);
            if (unsupported)
                return sc_fail_at(c, here(c), LLM_ERR_UNSUPPORTED, "format \"%.60s\" is not supported", x->u.str.s);
            s->fmt = f;
        } else if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0) {
            if (!get_number(x, k[1] == 'i' ? &s->min : &s->max)) return bad(c, "%s must be a finite number", k);
        } else if (strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
            if (x->type == LLM_JSON_TRUE || x->type == LLM_JSON_FALSE) { /* draft 4: modifies minimum/maximum */
                if (k[10] == 'i') ex_min_bool = x;
                else ex_max_bool = x;
                continue;
            }
            snum *e = k[10] == 'i' ? &ex_min : &ex_max;
            if (!get_number(x, e)) return bad(c, "%s must be a finite number", k);
            e->excl = true;
        } else if (strcmp(k, "uniqueItems") == 0) {
            if (x->type != LLM_JSON_TRUE && x->type != LLM_JSON_FALSE) return bad(c, "%s must be a boolean", k);
            s->unique = x->type == LLM_JSON_TRUE;
        }
    }
    if (c->st != LLM_OK) return c->st;
    if (ex_min_bool && ex_min_bool->type == LLM_JSON_TRUE && s->min.set) s->min.excl = true;
    if (ex_max_bool && ex_max_bool->type == LLM_JSON_TRUE && s->max.set) s->max.excl = true;
    /* minimum and exclusiveMinimum together: the tighter one */
    if (ex_min.set && (!s->min.set || sv_cmp_snum(&ex_min, &s->min) >= 0)) s->min = ex_min;
    if (ex_max.set && (!s->max.set || sv_cmp_snum(&ex_max, &s->max) <= 0)) s->max = ex_max;
    return c->st;
}

llm_status sp_schema(sctx *c, const llm_json *v, sch **out) {
    *out = NULL;
    if (c->st != LLM_OK) return c->st;
    if (v->type == LLM_JSON_TRUE) {
        *out = sc_any(c);
        return c->st;
    }
    if (v->type == LLM_JSON_FALSE) {
        *out = sc_node(c, SK_NEVER);
        return c->st;
    }
    if (v->type != LLM_JSON_OBJECT)
        return sc_fail_at(c, here(c), LLM_ERR_INVALID_ARGUMENT, "a schema must be an object or a boolean");
    if (++c->depth > SCHEMA_MAX_DEPTH) {
        c->depth--;
        return sc_fail_at(c, here(c), LLM_ERR_LIMIT, "schemas nested deeper than %d", SCHEMA_MAX_DEPTH);
    }
    sch *s = sc_any(c);
    bool constrained = false;
    if (s) {
        s->path = sc_strdup(c, here(c), strlen(here(c)));
        parse_node(c, v, s, &constrained);
    }
    sch *res = s;
    /* $ref beside other keywords: both apply (2020-12; older drafts ignore the siblings, so
     * applying them as well still generates only valid documents) */
    const llm_json *ref = sp_member(v, "$ref");
    if (ref && c->st == LLM_OK) {
        sch *r = NULL;
        size_t mark = path_push(c, "$ref", 4);
        parse_ref(c, ref, &r);
        path_pop(c, mark);
        if (c->st == LLM_OK) {
            if (constrained) sm_merge(c, r, res, &res);
            else res = r;
        }
    }
    const llm_json *all = sp_member(v, "allOf");
    if (all && c->st == LLM_OK) {
        sch **parts = NULL;
        size_t n = 0;
        if (parse_list(c, all, "allOf", &parts, &n, true) == LLM_OK)
            for (size_t i = 0; i < n && c->st == LLM_OK; i++) sm_merge(c, res, parts[i], &res);
    }
    static const char *const UNIONS[2] = {"anyOf", "oneOf"};
    for (int u = 0; u < 2 && c->st == LLM_OK; u++) {
        const llm_json *x = sp_member(v, UNIONS[u]);
        if (!x) continue;
        sch *un = sc_node(c, SK_UNION);
        if (!un) break;
        un->exclusive = u == 1;
        un->path = sc_strdup(c, here(c), strlen(here(c)));
        if (parse_list(c, x, UNIONS[u], &un->alts, &un->n_alts, true) == LLM_OK) sm_merge(c, res, un, &res);
    }
    c->depth--;
    if (c->st == LLM_OK) *out = res;
    return c->st;
}

/* Reads the bodies of every $ref target not read yet (the list grows while it runs). */
llm_status sp_read_defs(sctx *c) {
    for (size_t d = 0; d < c->n_defs && c->st == LLM_OK; d++) sp_read_def(c, d);
    /* a target that is only a $ref to itself (directly or through other bare $refs) */
    for (size_t d = 0; d < c->n_defs && c->st == LLM_OK; d++) {
        const sch *s = c->defs[d].body;
        for (size_t hops = 0; s && s->kind == SK_REF && c->st == LLM_OK; hops++) {
            if (s->def == d || hops > c->n_defs)
                return sc_fail_at(c, c->defs[d].pointer + 1, LLM_ERR_INVALID_ARGUMENT,
                                  "$ref \"%.100s\" refers to itself without any schema in between", c->defs[d].pointer);
            s = c->defs[s->def].body;
        }
    }
    return c->st;
}
