/* Recursive descent parser following jinja2's Parser (precedence, tuples, filters and tests,
 * statements). Errors longjmp to llm_tmpl_parse with "line L, column C: ...". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/lexer.h"

typedef struct ps {
    tmpl_arena *a;
    token *t;
    size_t n, i;
    tmpl_err *err;
    jmp_buf jb;
    size_t depth, max_depth;         /* expression recursion */
    size_t stmt_depth, max_stmt_depth;
    int loop_depth;
    uint8_t seen; /* names referenced: 1 varargs, 2 kwargs, 4 caller */
} ps;

__attribute__((noreturn, format(printf, 4, 5))) static void pfail(ps *P, llm_status st, const token *at, const char *fmt, ...) {
    P->err->status = st;
    int k = snprintf(P->err->msg, sizeof P->err->msg, "line %u, column %u: ", at->line, at->col);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof P->err->msg) vsnprintf(P->err->msg + k, sizeof P->err->msg - (size_t)k, fmt, ap);
    va_end(ap);
    longjmp(P->jb, 1);
}

static void *palloc(ps *P, size_t n) {
    bool over;
    void *p = arena_alloc(P->a, n, &over);
    if (!p) pfail(P, over ? LLM_ERR_LIMIT : LLM_ERR_OUT_OF_MEMORY, &P->t[P->i], over ? "template larger than max_memory" : "out of memory");
    memset(p, 0, n);
    return p;
}

static token *cur(ps *P) { return &P->t[P->i]; }
static token *peek(ps *P, size_t k) { return P->i + k < P->n ? &P->t[P->i + k] : &P->t[P->n - 1]; }
static token *next(ps *P) {
    token *t = &P->t[P->i];
    if (P->i + 1 < P->n) P->i++;
    return t;
}
static bool is_op(const token *t, int op) { return t->type == TK_OP && t->op == op; }
static bool is_name(const token *t, const char *w) {
    return t->type == TK_NAME && t->len == strlen(w) && memcmp(t->p, w, t->len) == 0;
}

static const char *describe(const token *t) {
    switch (t->type) {
    case TK_DATA: return "template data";
    case TK_VAR_BEGIN: return "begin of print statement";
    case TK_VAR_END: return "end of print statement";
    case TK_BLOCK_BEGIN: return "begin of statement block";
    case TK_BLOCK_END: return "end of statement block";
    case TK_NAME: return "name";
    case TK_STRING: return "string";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_OP: return "operator";
    default: return "end of template";
    }
}

static void expect_op(ps *P, int op) {
    if (!is_op(cur(P), op)) pfail(P, LLM_ERR_FORMAT, cur(P), "expected '%c', got %s", op, describe(cur(P)));
    next(P);
}
static token *expect_type(ps *P, tok_type ty) {
    if (cur(P)->type != ty) {
        if (cur(P)->type == TK_EOF) pfail(P, LLM_ERR_FORMAT, cur(P), "unexpected end of template");
        pfail(P, LLM_ERR_FORMAT, cur(P), "expected %s, got %s", describe(&(token){.type = (uint8_t)ty}), describe(cur(P)));
    }
    return next(P);
}

static const char *tok_str(ps *P, const token *t) {
    char *s = palloc(P, t->len + 1);
    memcpy(s, t->p, t->len);
    return s;
}

static node *mk(ps *P, node_kind k, const token *at) {
    node *n = palloc(P, sizeof(node));
    n->kind = (uint8_t)k;
    n->line = at->line;
    n->col = at->col;
    n->fid = -1;
    return n;
}

/* a growable node list on the arena */
typedef struct nlist {
    node **v;
    size_t n, cap;
} nlist;
static void nl_push(ps *P, nlist *l, node *x) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        node **nv = palloc(P, nc * sizeof(node *));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(node *));
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
}
typedef struct slist {
    const char **v;
    size_t n, cap;
} slist;
static void sl_push(ps *P, slist *l, const char *x) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        const char **nv = palloc(P, nc * sizeof(char *));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(char *));
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
}

static void enter(ps *P) {
    if (++P->depth > P->max_depth) pfail(P, LLM_ERR_LIMIT, cur(P), "expression nested deeper than max_depth");
}
static void leave(ps *P) { P->depth--; }

static node *parse_expression(ps *P, bool with_condexpr);
static node *parse_tuple(ps *P, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens);
static node *parse_or(ps *P);
static node *parse_unary(ps *P, bool with_filter);
static node *parse_primary(ps *P);
static node *parse_postfix(ps *P, node *x);

static void parse_call_args(ps *P, node *call) {
    expect_op(P, '(');
    nlist args = {0}, kws = {0};
    slist names = {0};
    bool need_comma = false;
    while (!is_op(cur(P), ')')) {
        if (need_comma) {
            expect_op(P, ',');
            if (is_op(cur(P), ')')) break;
        }
        if (is_op(cur(P), '*') || is_op(cur(P), OP_POW))
            pfail(P, LLM_ERR_FORMAT, cur(P), "*args and **kwargs in calls are not supported");
        if (cur(P)->type == TK_NAME && is_op(peek(P, 1), '=')) {
            sl_push(P, &names, tok_str(P, cur(P)));
            next(P);
            next(P);
            nl_push(P, &kws, parse_expression(P, true));
        } else {
            if (kws.n) pfail(P, LLM_ERR_FORMAT, cur(P), "invalid syntax for function call expression");
            nl_push(P, &args, parse_expression(P, true));
        }
        need_comma = true;
    }
    expect_op(P, ')');
    call->items = args.v;
    call->n = args.n;
    call->kw = kws.v;
    call->kwnames = names.v;
    call->nkw = kws.n;
}

/* dotted name after '|' or 'is' */
static const char *parse_dotted(ps *P, size_t *len) {
    token *t = expect_type(P, TK_NAME);
    size_t l = t->len;
    const char *start = t->p;
    (void)start;
    char *buf = palloc(P, l + 1);
    memcpy(buf, t->p, l);
    while (is_op(cur(P), '.')) {
        next(P);
        token *u = expect_type(P, TK_NAME);
        char *nb = palloc(P, l + 1 + u->len + 1);
        memcpy(nb, buf, l);
        nb[l] = '.';
        memcpy(nb + l + 1, u->p, u->len);
        l += 1 + u->len;
        buf = nb;
    }
    *len = l;
    return buf;
}

static node *parse_filter(ps *P, node *x, bool start_inline) {
    while (is_op(cur(P), '|') || start_inline) {
        if (!start_inline) next(P);
        start_inline = false;
        token *at = cur(P);
        node *f = mk(P, N_FILTER, at);
        size_t l;
        f->name = parse_dotted(P, &l);
        f->fid = filter_lookup(f->name, l);
        if (f->fid < 0) pfail(P, LLM_ERR_FORMAT, at, "no filter named '%s'", f->name);
        if (is_op(cur(P), '(')) parse_call_args(P, f);
        f->a = x;
        x = f;
    }
    return x;
}

static node *parse_test(ps *P, node *x) {
    token *at = next(P); /* 'is' */
    bool negated = false;
    if (is_name(cur(P), "not")) {
        next(P);
        negated = true;
    }
    token *nt = cur(P);
    node *t = mk(P, N_TEST, nt);
    size_t l;
    t->name = parse_dotted(P, &l);
    t->fid = test_lookup(t->name, l);
    if (t->fid < 0) pfail(P, LLM_ERR_FORMAT, nt, "no test named '%s'", t->name);
    token *c = cur(P);
    if (is_op(c, '(')) {
        parse_call_args(P, t);
    } else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT || c->type == TK_FLOAT || is_op(c, '(') ||
                is_op(c, '[') || is_op(c, '{')) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) pfail(P, LLM_ERR_FORMAT, c, "You cannot chain multiple tests with is");
        enter(P);
        node *arg = parse_postfix(P, parse_primary(P));
        leave(P);
        t->items = palloc(P, sizeof(node *));
        t->items[0] = arg;
        t->n = 1;
    }
    t->a = x;
    if (negated) {
        node *nn = mk(P, N_NOT, at);
        nn->a = t;
        return nn;
    }
    return t;
}

static node *parse_filter_expr(ps *P, node *x) {
    for (;;) {
        if (is_op(cur(P), '|')) {
            x = parse_filter(P, x, false);
        } else if (is_name(cur(P), "is")) {
            x = parse_test(P, x);
        } else if (is_op(cur(P), '(')) {
            node *c = mk(P, N_CALL, cur(P));
            parse_call_args(P, c);
            c->a = x;
            x = c;
        } else {
            return x;
        }
    }
}

static node *parse_subscribed(ps *P) {
    token *at = cur(P);
    node *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(P), ':')) {
        next(P);
    } else {
        node *e = parse_expression(P, true);
        if (!is_op(cur(P), ':')) return e;
        next(P);
        args[0] = e;
    }
    if (!is_op(cur(P), ':') && !is_op(cur(P), ']') && !is_op(cur(P), ',')) args[1] = parse_expression(P, true);
    if (is_op(cur(P), ':')) {
        next(P);
        if (!is_op(cur(P), ']') && !is_op(cur(P), ',')) args[2] = parse_expression(P, true);
    }
    node *s = mk(P, N_SLICE, at);
    s->a = args[0];
    s->b = args[1];
    s->c = args[2];
    return s;
}

static node *parse_postfix(ps *P, node *x) {
    for (;;) {
        token *t = cur(P);
        if (is_op(t, '.')) {
            next(P);
            token *at = next(P);
            if (at->type == TK_NAME) {
                node *g = mk(P, N_GETATTR, t);
                g->a = x;
                g->name = tok_str(P, at);
                x = g;
            } else if (at->type == TK_INT) {
                node *g = mk(P, N_GETITEM, t);
                g->a = x;
                g->b = mk(P, N_CONST, at);
                g->b->cv = tv_int(at->i);
                x = g;
            } else {
                pfail(P, LLM_ERR_FORMAT, at, "expected name or number");
            }
        } else if (is_op(t, '[')) {
            next(P);
            enter(P);
            nlist args = {0};
            while (!is_op(cur(P), ']')) {
                if (args.n) expect_op(P, ',');
                nl_push(P, &args, parse_subscribed(P));
            }
            expect_op(P, ']');
            leave(P);
            if (args.n == 0) pfail(P, LLM_ERR_FORMAT, t, "expected an expression in subscript");
            node *g = mk(P, N_GETITEM, t);
            g->a = x;
            if (args.n == 1) {
                g->b = args.v[0];
            } else {
                node *tu = mk(P, N_TUPLE, t);
                tu->items = args.v;
                tu->n = args.n;
                g->b = tu;
            }
            x = g;
        } else if (is_op(t, '(')) {
            node *c = mk(P, N_CALL, t);
            enter(P);
            parse_call_args(P, c);
            leave(P);
            c->a = x;
            x = c;
        } else {
            return x;
        }
    }
}

static node *parse_primary(ps *P) {
    token *t = cur(P);
    node *x;
    if (t->type == TK_NAME) {
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            x = mk(P, N_CONST, t);
            x->cv = tv_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            x = mk(P, N_CONST, t);
            x->cv = tv_none();
        } else {
            x = mk(P, N_NAME, t);
            x->name = tok_str(P, t);
            if (!strcmp(x->name, "varargs")) P->seen |= 1;
            else if (!strcmp(x->name, "kwargs")) P->seen |= 2;
            else if (!strcmp(x->name, "caller")) P->seen |= 4;
        }
        next(P);
    } else if (t->type == TK_STRING) {
        x = mk(P, N_CONST, t);
        size_t total = 0, k = P->i;
        while (P->t[k].type == TK_STRING) total += P->t[k++].len;
        char *buf = palloc(P, total + 1);
        x->cv = tv_str_in(palloc(P, sizeof(tstr)), buf, total);
        size_t off = 0;
        while (cur(P)->type == TK_STRING) {
            memcpy(buf + off, cur(P)->p, cur(P)->len);
            off += cur(P)->len;
            next(P);
        }
    } else if (t->type == TK_INT || t->type == TK_FLOAT) {
        x = mk(P, N_CONST, t);
        x->cv = t->type == TK_INT ? tv_int(t->i) : tv_float(t->f);
        next(P);
    } else if (is_op(t, '(')) {
        next(P);
        enter(P);
        x = parse_tuple(P, false, true, NULL, true);
        leave(P);
        expect_op(P, ')');
    } else if (is_op(t, '[')) {
        next(P);
        enter(P);
        nlist items = {0};
        while (!is_op(cur(P), ']')) {
            if (items.n) expect_op(P, ',');
            if (is_op(cur(P), ']')) break;
            nl_push(P, &items, parse_expression(P, true));
        }
        expect_op(P, ']');
        leave(P);
        x = mk(P, N_LIST, t);
        x->items = items.v;
        x->n = items.n;
    } else if (is_op(t, '{')) {
        next(P);
        enter(P);
        nlist keys = {0}, vals = {0};
        while (!is_op(cur(P), '}')) {
            if (keys.n) expect_op(P, ',');
            if (is_op(cur(P), '}')) break;
            nl_push(P, &keys, parse_expression(P, true));
            expect_op(P, ':');
            nl_push(P, &vals, parse_expression(P, true));
        }
        expect_op(P, '}');
        leave(P);
        x = mk(P, N_DICT, t);
        x->items = keys.v;
        x->n = keys.n;
        x->kw = vals.v;
        x->nkw = vals.n;
    } else if (t->type == TK_EOF) {
        pfail(P, LLM_ERR_FORMAT, t, "unexpected end of template");
    } else {
        pfail(P, LLM_ERR_FORMAT, t, "unexpected %s", describe(t));
    }
    return x;
}

static node *parse_unary(ps *P, bool with_filter) {
    token *t = cur(P);
    node *x;
    enter(P);
    if (is_op(t, '-') || is_op(t, '+')) {
        next(P);
        x = mk(P, is_op(t, '-') ? N_NEG : N_POS, t);
        x->a = parse_unary(P, false);
    } else {
        x = parse_primary(P);
    }
    x = parse_postfix(P, x);
    if (with_filter) x = parse_filter_expr(P, x);
    leave(P);
    return x;
}

static node *binop(ps *P, const token *at, int op, node *l, node *r) {
    node *b = mk(P, N_BINOP, at);
    b->op = (uint8_t)op;
    b->a = l;
    b->b = r;
    return b;
}

typedef node *(*operand_fn)(ps *P);

/* A left-associative chain of binary operators over operand: the operator tokens are the
 * characters of toks, each giving the N_BINOP op at the same place in ops. */
static node *parse_binops(ps *P, const char *toks, const char *ops, operand_fn operand) {
    node *x = operand(P);
    for (;;) {
        token *t = cur(P);
        int op = 0;
        for (size_t k = 0; toks[k]; k++) {
            if (is_op(t, toks[k])) {
                op = ops[k];
                break;
            }
        }
        if (!op) return x;
        next(P);
        x = binop(P, t, op, x, operand(P));
    }
}

static node *parse_unary_with_filter(ps *P) { return parse_unary(P, true); }
static node *parse_pow(ps *P) { return parse_binops(P, (const char[]){OP_POW, 0}, "p", parse_unary_with_filter); }
static node *parse_math2(ps *P) { return parse_binops(P, (const char[]){'*', '/', OP_FLOORDIV, '%', 0}, "*/f%", parse_pow); }
static node *parse_concat(ps *P) { return parse_binops(P, "~", "~", parse_math2); }
static node *parse_math1(ps *P) { return parse_binops(P, "+-", "+-", parse_concat); }

static node *parse_compare(ps *P) {
    token *at = cur(P);
    node *x = parse_math1(P);
    nlist operands = {0};
    uint8_t ops[64];
    uint8_t *opv = ops;
    size_t opcap = 64;
    for (;;) {
        token *t = cur(P);
        int op = -1;
        if (is_op(t, OP_EQ)) op = CMP_EQ;
        else if (is_op(t, OP_NE)) op = CMP_NE;
        else if (is_op(t, '<')) op = CMP_LT;
        else if (is_op(t, OP_LE)) op = CMP_LE;
        else if (is_op(t, '>')) op = CMP_GT;
        else if (is_op(t, OP_GE)) op = CMP_GE;
        else if (is_name(t, "in")) op = CMP_IN;
        else if (is_name(t, "not") && is_name(peek(P, 1), "in")) { op = CMP_NOTIN; next(P); }
        if (op < 0) break;
        next(P);
        if (operands.n == opcap) {
            uint8_t *no = palloc(P, opcap * 2);
            memcpy(no, opv, opcap);
            opv = no;
            opcap *= 2;
        }
        opv[operands.n] = (uint8_t)op;
        nl_push(P, &operands, parse_math1(P));
    }
    if (!operands.n) return x;
    node *c = mk(P, N_COMPARE, at);
    c->a = x;
    c->items = operands.v;
    c->n = operands.n;
    c->ops = palloc(P, operands.n);
    memcpy(c->ops, opv, operands.n);
    return c;
}

static node *parse_not(ps *P) {
    if (is_name(cur(P), "not")) {
        token *at = next(P);
        enter(P);
        node *x = mk(P, N_NOT, at);
        x->a = parse_not(P);
        leave(P);
        return x;
    }
    return parse_compare(P);
}

/* A left-associative chain of the keyword operator kw (and, or) over operand. */
static node *parse_keyword_binops(ps *P, const char *kw, node_kind kind, operand_fn operand) {
    node *x = operand(P);
    while (is_name(cur(P), kw)) {
        token *at = next(P);
        node *y = mk(P, kind, at);
        y->a = x;
        y->b = operand(P);
        x = y;
    }
    return x;
}

static node *parse_and(ps *P) { return parse_keyword_binops(P, "and", N_AND, parse_not); }
static node *parse_or(ps *P) { return parse_keyword_binops(P, "or", N_OR, parse_and); }

static node *parse_condexpr(ps *P) {
    node *x = parse_or(P);
    while (is_name(cur(P), "if")) {
        token *at = next(P);
        enter(P);
        node *c = mk(P, N_CONDEXPR, at);
        c->b = x;
        c->a = parse_or(P);
        if (is_name(cur(P), "else")) {
            next(P);
            c->c = parse_condexpr(P);
        }
        leave(P);
        x = c;
    }
    return x;
}

static node *parse_expression(ps *P, bool with_condexpr) {
    return with_condexpr ? parse_condexpr(P) : parse_or(P);
}

static bool is_tuple_end(ps *P, const char *extra_end) {
    token *t = cur(P);
    if (t->type == TK_VAR_END || t->type == TK_BLOCK_END || is_op(t, ')')) return true;
    return extra_end && is_name(t, extra_end);
}

static node *parse_tuple(ps *P, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens) {
    token *at = cur(P);
    nlist args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n) expect_op(P, ',');
        if (is_tuple_end(P, extra_end)) break;
        node *x;
        if (simplified) {
            enter(P);
            x = parse_primary(P);
            leave(P);
        } else {
            x = parse_expression(P, with_condexpr);
        }
        nl_push(P, &args, x);
        if (is_op(cur(P), ',')) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens) pfail(P, LLM_ERR_FORMAT, cur(P), "expected an expression, got %s", describe(cur(P)));
    }
    node *tu = mk(P, N_TUPLE, at);
    tu->items = args.v;
    tu->n = args.n;
    return tu;
}

/* ---- statements */
static node *subparse(ps *P, const char *const *end_names);

static void check_assignable(ps *P, node *t) {
    if (t->kind == N_NAME) {
        if (!strcmp(t->name, "loop") && 0) return;
        return;
    }
    if (t->kind == N_TUPLE) {
        for (size_t i = 0; i < t->n; i++) check_assignable(P, t->items[i]);
        return;
    }
    pfail(P, LLM_ERR_FORMAT, &(token){.line = t->line, .col = t->col}, "can't assign to this expression");
}

static node *parse_assign_target(ps *P, const char *extra_end, bool with_namespace) {
    token *t = cur(P);
    if (with_namespace && t->type == TK_NAME && is_op(peek(P, 1), '.')) {
        node *r = mk(P, N_NSREF, t);
        r->name = tok_str(P, t);
        next(P);
        next(P);
        token *at = expect_type(P, TK_NAME);
        r->attr = tok_str(P, at);
        return r;
    }
    node *x = parse_tuple(P, true, true, extra_end, false);
    check_assignable(P, x);
    return x;
}

static node *parse_statements(ps *P, const char *const *end_names, bool drop_needle) {
    if (is_op(cur(P), ':')) next(P);
    expect_type(P, TK_BLOCK_END);
    if (++P->stmt_depth > P->max_stmt_depth) pfail(P, LLM_ERR_LIMIT, cur(P), "statements nested deeper than max_depth");
    node *body = subparse(P, end_names);
    P->stmt_depth--;
    if (cur(P)->type == TK_EOF) pfail(P, LLM_ERR_FORMAT, cur(P), "unexpected end of template, expected '%s'", end_names[0]);
    if (drop_needle) next(P);
    return body;
}

static void parse_signature(ps *P, node *m) {
    expect_op(P, '(');
    nlist params = {0}, defs = {0};
    bool any_default = false;
    while (!is_op(cur(P), ')')) {
        if (params.n) expect_op(P, ',');
        token *t = expect_type(P, TK_NAME);
        node *nm = mk(P, N_NAME, t);
        nm->name = tok_str(P, t);
        node *d = NULL;
        if (is_op(cur(P), '=')) {
            next(P);
            d = parse_expression(P, true);
            any_default = true;
        } else if (any_default) {
            pfail(P, LLM_ERR_FORMAT, t, "non-default argument follows default argument");
        }
        nl_push(P, &params, nm);
        nl_push(P, &defs, d);
    }
    expect_op(P, ')');
    m->items = params.v;
    m->n = params.n;
    m->kw = defs.v;
    m->nkw = defs.n;
}

/* The body of a macro or call block m, up to end: outside any loop, and m->flag records which of
 * varargs, kwargs and caller it uses (P->seen bits). */
static void parse_macro_body(ps *P, node *m, const char *const *end) {
    int saved = P->loop_depth;
    uint8_t saved_seen = P->seen;
    P->loop_depth = 0;
    P->seen = 0;
    m->d = parse_statements(P, end, true);
    m->flag = P->seen;
    P->seen |= saved_seen;
    P->loop_depth = saved;
}

static node *parse_statement(ps *P) {
    token *t = cur(P);
    if (t->type != TK_NAME) pfail(P, LLM_ERR_FORMAT, t, "tag name expected");
    static const char *const end_for[] = {"endfor", "else", NULL};
    static const char *const end_for2[] = {"endfor", NULL};
    static const char *const end_if[] = {"elif", "else", "endif", NULL};
    static const char *const end_if2[] = {"endif", NULL};
    if (is_name(t, "for")) {
        next(P);
        node *f = mk(P, N_FOR, t);
        f->a = parse_assign_target(P, "in", false);
        if (!is_name(cur(P), "in")) pfail(P, LLM_ERR_FORMAT, cur(P), "expected 'in'");
        next(P);
        f->b = parse_tuple(P, false, false, "recursive", false);
        if (is_name(cur(P), "if")) {
            next(P);
            f->c = parse_expression(P, true);
        }
        if (is_name(cur(P), "recursive")) pfail(P, LLM_ERR_FORMAT, cur(P), "recursive loops are not supported");
        P->loop_depth++;
        f->d = parse_statements(P, end_for, false);
        P->loop_depth--;
        if (is_name(next(P), "else")) f->e = parse_statements(P, end_for2, true);
        return f;
    }
    if (is_name(t, "if")) {
        next(P);
        node *top = mk(P, N_IF, t), *n = top;
        for (;;) {
            n->a = parse_tuple(P, false, false, NULL, false);
            n->b = parse_statements(P, end_if, false);
            token *e = next(P);
            if (is_name(e, "elif")) {
                node *m = mk(P, N_IF, e);
                n->c = m;
                n = m;
                continue;
            }
            if (is_name(e, "else")) n->c = parse_statements(P, end_if2, true);
            return top;
        }
    }
    if (is_name(t, "set")) {
        next(P);
        node *target = parse_assign_target(P, NULL, true);
        if (is_op(cur(P), '=')) {
            next(P);
            node *s = mk(P, N_SET, t);
            s->a = target;
            s->b = parse_tuple(P, false, true, NULL, false);
            return s;
        }
        static const char *const end_set[] = {"endset", NULL};
        node *s = mk(P, N_SETBLOCK, t);
        s->a = target;
        s->b = parse_filter(P, NULL, false);
        s->d = parse_statements(P, end_set, true);
        return s;
    }
    if (is_name(t, "macro")) {
        next(P);
        token *nt = expect_type(P, TK_NAME);
        node *m = mk(P, N_MACRO, t);
        m->name = tok_str(P, nt);
        parse_signature(P, m);
        static const char *const end_m[] = {"endmacro", NULL};
        parse_macro_body(P, m, end_m);
        return m;
    }
    if (is_name(t, "call")) {
        next(P);
        node *cb = mk(P, N_CALLBLOCK, t);
        if (is_op(cur(P), '(')) parse_signature(P, cb);
        cb->a = parse_expression(P, true);
        if (cb->a->kind != N_CALL) pfail(P, LLM_ERR_FORMAT, t, "expected call");
        static const char *const end_c[] = {"endcall", NULL};
        parse_macro_body(P, cb, end_c);
        return cb;
    }
    if (is_name(t, "filter")) {
        next(P);
        node *fb = mk(P, N_FILTERBLOCK, t);
        fb->b = parse_filter(P, NULL, true);
        static const char *const end_f[] = {"endfilter", NULL};
        fb->d = parse_statements(P, end_f, true);
        return fb;
    }
    if (is_name(t, "with")) {
        next(P);
        node *w = mk(P, N_WITH, t);
        nlist targets = {0}, vals = {0};
        while (cur(P)->type != TK_BLOCK_END) {
            if (targets.n) expect_op(P, ',');
            node *tg = parse_assign_target(P, NULL, false);
            nl_push(P, &targets, tg);
            expect_op(P, '=');
            nl_push(P, &vals, parse_expression(P, true));
        }
        w->items = targets.v;
        w->n = targets.n;
        w->kw = vals.v;
        w->nkw = vals.n;
        static const char *const end_w[] = {"endwith", NULL};
        w->d = parse_statements(P, end_w, true);
        return w;
    }
    if (is_name(t, "print")) {
        next(P);
        node *p = mk(P, N_PRINT, t);
        p->a = parse_tuple(P, false, true, NULL, false);
        return p;
    }
    if (is_name(t, "break") || is_name(t, "continue")) {
        if (P->loop_depth == 0) pfail(P, LLM_ERR_FORMAT, t, "'%s' outside a loop", is_name(t, "break") ? "break" : "continue");
        next(P);
        return mk(P, is_name(t, "break") ? N_BREAK : N_CONTINUE, t);
    }
    pfail(P, LLM_ERR_FORMAT, t, "encountered unknown tag '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->p);
}

static node *subparse(ps *P, const char *const *end_names) {
    node *body = mk(P, N_BLOCK, cur(P));
    nlist items = {0};
    for (;;) {
        token *t = cur(P);
        if (t->type == TK_EOF) break;
        if (t->type == TK_DATA) {
            node *d = mk(P, N_DATA, t);
            d->cv = tv_str_in(palloc(P, sizeof(tstr)), t->p, t->len);
            nl_push(P, &items, d);
            next(P);
        } else if (t->type == TK_VAR_BEGIN) {
            next(P);
            node *p = mk(P, N_PRINT, t);
            p->a = parse_tuple(P, false, true, NULL, false);
            expect_type(P, TK_VAR_END);
            nl_push(P, &items, p);
        } else if (t->type == TK_BLOCK_BEGIN) {
            next(P);
            if (end_names) {
                for (size_t k = 0; end_names[k]; k++)
                    if (is_name(cur(P), end_names[k])) goto done;
            }
            nl_push(P, &items, parse_statement(P));
            expect_type(P, TK_BLOCK_END);
        } else {
            pfail(P, LLM_ERR_FORMAT, t, "unexpected %s", describe(t));
        }
    }
done:
    body->items = items.v;
    body->n = items.n;
    return body;
}

static size_t clamp_depth(const llm_tmpl_limits *l) {
    size_t d = l && l->max_depth ? l->max_depth : LLM_TMPL_DEFAULT_DEPTH;
    return d > TMPL_MAX_DEPTH_CEILING ? TMPL_MAX_DEPTH_CEILING : d;
}

static void set_msg(char *message, size_t cap, const char *s) {
    if (message && cap) snprintf(message, cap, "%s", s);
}

llm_status llm_tmpl_parse(const char *src, size_t len, const llm_tmpl_limits *limits, llm_tmpl **out, char *message,
                          size_t message_cap) {
    if (message && message_cap) message[0] = 0;
    if (!out || (!src && len)) {
        set_msg(message, message_cap, "invalid argument");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    if (!utf8_valid(src, len)) {
        set_msg(message, message_cap, "template is not valid UTF-8");
        return LLM_ERR_INVALID_UTF8;
    }
    llm_tmpl *t = calloc(1, sizeof *t);
    if (!t) return LLM_ERR_OUT_OF_MEMORY;
    t->arena.limit = limits && limits->max_memory ? limits->max_memory : LLM_TMPL_DEFAULT_MEMORY;
    size_t depth = clamp_depth(limits);
    tmpl_err err = {.status = LLM_OK};
    lex_result lr;
    if (!tmpl_lex(&t->arena, src ? src : "", len, depth, &lr, &err)) {
        set_msg(message, message_cap, err.msg);
        llm_tmpl_free(t);
        return err.status;
    }
    ps *P = calloc(1, sizeof *P);
    if (!P) {
        llm_tmpl_free(t);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    P->a = &t->arena;
    P->t = lr.toks;
    P->n = lr.n;
    P->err = &err;
    P->max_depth = depth * TMPL_EXPR_DEPTH_FACTOR;
    P->max_stmt_depth = depth;
    if (setjmp(P->jb)) {
        set_msg(message, message_cap, err.msg);
        llm_status st = err.status;
        free(P);
        llm_tmpl_free(t);
        return st;
    }
    node *root = subparse(P, NULL);
    free(P);
    t->root = root;
    *out = t;
    return LLM_OK;
}

void llm_tmpl_free(llm_tmpl *t) {
    if (!t) return;
    arena_free_all(&t->arena);
    free(t);
}
