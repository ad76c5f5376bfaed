/* The public entry points of the renderer: variables from JSON, limits, and the error path
 * (every runtime failure longjmps back here; all memory of the render is in its arena). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/json_read.h"
#include "template/tmpl_internal.h"

static size_t depth_of(const llm_tmpl_limits *l) {
    size_t d = l && l->max_depth ? l->max_depth : LLM_TMPL_DEFAULT_DEPTH;
    return d > TMPL_MAX_DEPTH_CEILING ? TMPL_MAX_DEPTH_CEILING : d;
}

static tv from_json(rctx *c, const llm_json *j) {
    switch (j->type) {
    case LLM_JSON_NULL: return tv_none();
    case LLM_JSON_FALSE: return tv_bool(false);
    case LLM_JSON_TRUE: return tv_bool(true);
    case LLM_JSON_INT: return tv_int(j->u.i);
    case LLM_JSON_FLOAT: return tv_float(j->u.f);
    case LLM_JSON_STRING: return tv_str(c, j->u.str.s, j->u.str.len);
    case LLM_JSON_ARRAY: {
        tv l = tv_list(c, j->u.arr.n);
        for (size_t i = 0; i < j->u.arr.n; i++) l.u.l->v[i] = from_json(c, j->u.arr.items[i]);
        return l;
    }
    default: {
        tv d = tv_dict(c);
        for (size_t i = 0; i < j->u.obj.n; i++) {
            tv k = tv_str(c, j->u.obj.members[i].key, j->u.obj.members[i].key_len);
            tv v = from_json(c, j->u.obj.members[i].value);
            dict_set(c, d.u.d, &k, &v); /* keys are unique already */
        }
        return d;
    }
    }
}

static void put_msg(char *message, size_t cap, const char *s) {
    if (message && cap) snprintf(message, cap, "%s", s);
}

llm_status llm_tmpl_render(const llm_tmpl *t, const char *vars_json, size_t len, const llm_tmpl_limits *limits,
                           llm_buf *out, char *message, size_t message_cap) {
    if (message && message_cap) message[0] = 0;
    if (!t || !out || (!vars_json && len)) {
        put_msg(message, message_cap, "invalid argument");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    size_t depth = depth_of(limits);
    size_t max_memory = limits && limits->max_memory ? limits->max_memory : LLM_TMPL_DEFAULT_MEMORY;
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    char jmsg[200];
    llm_status st = llm_json_parse(vars_json ? vars_json : "", len, depth, max_memory, &doc, &root, jmsg, sizeof jmsg);
    if (st != LLM_OK) {
        if (message && message_cap) snprintf(message, message_cap, "variables: %s", jmsg);
        return st == LLM_ERR_LIMIT || st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_INVALID_ARGUMENT;
    }
    if (root->type != LLM_JSON_OBJECT) {
        llm_json_doc_free(doc);
        put_msg(message, message_cap, "variables: not a JSON object");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    rctx *c = calloc(1, sizeof *c);
    if (!c) {
        llm_json_doc_free(doc);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    c->arena.limit = max_memory;
    c->max_steps = limits && limits->max_steps ? limits->max_steps : LLM_TMPL_DEFAULT_STEPS;
    c->max_output = limits && limits->max_output ? limits->max_output : LLM_TMPL_DEFAULT_OUTPUT;
    c->max_calls = depth;
    /* statements, expressions and values recurse on one counter: a macro may nest its body's
     * depth once per call level */
    c->max_depth = depth * TMPL_EXPR_DEPTH_FACTOR * 4;
    c->value_depth_max = c->max_depth;
    sink top = {0};
    top.top = out;
    c->out = &top;
    c->err.status = LLM_OK;
    llm_json_doc *volatile vdoc = doc; /* read after longjmp */
    if (setjmp(c->jb) == 0) {
        tv vars = from_json(c, root);
        llm_json_doc_free(vdoc);
        vdoc = NULL;
        c->vars = vars.u.d;
        c->globals_scope = rt_alloc(c, sizeof(scope));
        memset(c->globals_scope, 0, sizeof(scope));
        tmpl_exec_root(c, t->root);
    } else {
        llm_json_doc_free(vdoc);
    }
    st = c->err.status;
    if (st != LLM_OK) put_msg(message, message_cap, c->err.msg);
    arena_free_all(&c->arena);
    free(c);
    return st;
}
