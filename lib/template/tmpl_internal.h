/* Internal types of the template engine: the per-render arena, values, the syntax tree and the
 * render context. Only the engine sources in lib/template include this. */
#ifndef LLM_TEMPLATE_TMPL_INTERNAL_H
#define LLM_TEMPLATE_TMPL_INTERNAL_H

#define TMPL_SANDBOX_MAX_RANGE 100000 /* jinja2.sandbox.MAX_RANGE */

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template/template.h"

/* Hard ceilings on the caller's max_depth: the interpreter recurses on the C stack, so a
 * larger value could overflow it. Values above are treated as this. */
#define TMPL_MAX_DEPTH_CEILING 256
/* Expressions may nest deeper than statements (a long `a ~ b ~ c ...` chain is a left-leaning
 * tree): their limit is this multiple of max_depth. */
#define TMPL_EXPR_DEPTH_FACTOR 4

/* ---- arena: every allocation of a parse or a render, freed at once, counted against a limit */
typedef struct tmpl_chunk tmpl_chunk;
typedef struct tmpl_arena {
    tmpl_chunk *head;
    size_t used;  /* bytes obtained from malloc so far */
    size_t limit; /* max bytes; exceeding it fails the allocation */
} tmpl_arena;

/* Returns NULL when out of memory or over the limit; *over_limit tells which (may be NULL). */
void *arena_alloc(tmpl_arena *a, size_t n, bool *over_limit);
void arena_free_all(tmpl_arena *a);

/* ---- values */
typedef enum {
    TV_UNDEF,
    TV_NONE,
    TV_BOOL,
    TV_INT,
    TV_FLOAT,
    TV_STR,
    TV_LIST, /* also tuples (flag) */
    TV_DICT,
    TV_FUNC,
    TV_NS,   /* namespace(): a mutable dict of attributes */
    TV_LOOP, /* the `loop` variable of a for loop */
} tv_type;

typedef struct tstr {
    size_t len;
    const char *p; /* UTF-8, not NUL-terminated */
} tstr;

typedef struct tv {
    uint8_t t;      /* tv_type */
    uint8_t tuple;  /* TV_LIST: printed as a tuple */
    uint8_t markup; /* TV_STR: a markupsafe.Markup (from |safe, escape): not escaped again */
    uint8_t gen;    /* TV_LIST: a Python iterator in jinja2 (1 generator, 2 reverse iterator: always
                       true, no len()) or a dict view (3 items, 4 keys, 5 values); none of them
                       can be indexed or serialized, and they print differently */
    union {
        bool b;
        int64_t i;
        double f;
        tstr *s;
        struct tlist *l;
        struct tdict *d; /* TV_DICT, TV_NS */
        struct tfunc *fn;
        struct tloop *loop;
        const char *undef_name; /* TV_UNDEF: NUL-terminated hint for error messages, or NULL */
    } u;
} tv;

typedef struct tlist {
    size_t n;
    tv *v;
} tlist;

typedef struct tdict {
    size_t n, cap;
    tv *k, *v;
    uint32_t *index; /* hash index into k (open addressing, UINT32_MAX empty) or NULL */
    size_t index_cap;
} tdict;

typedef enum { FN_GLOBAL, FN_METHOD, FN_MACRO } tfunc_kind;

typedef struct node node;
typedef struct scope scope;

typedef struct tfunc {
    uint8_t kind;     /* tfunc_kind */
    int id;           /* FN_GLOBAL: global id; FN_METHOD: method id */
    tv self;          /* FN_METHOD: the receiver */
    const node *macro;  /* FN_MACRO: the macro (or call block) node */
    scope *closure;     /* FN_MACRO: scope the macro was defined in */
    struct tfunc *caller; /* FN_MACRO: `caller` passed to it by a call block, or NULL */
    const char *name;
} tfunc;

typedef struct tloop {
    tlist *items;
    size_t idx;
    int64_t depth;
    tv changed_last;
    bool changed_set;
} tloop;

/* ---- syntax tree */
typedef enum {
    /* expressions */
    N_CONST,
    N_NAME,
    N_LIST,
    N_TUPLE,
    N_DICT,    /* items: keys, kw: values */
    N_GETATTR, /* a.name */
    N_GETITEM, /* a[b] */
    N_SLICE,   /* a, b, c: start/stop/step (may be NULL) */
    N_CALL,    /* a(items..., kwnames=kw...) */
    N_FILTER,  /* a|name(items, kw); a NULL: filter block input */
    N_TEST,    /* a is name(items, kw) */
    N_NOT,
    N_NEG,
    N_POS,
    N_BINOP, /* op: one of '+', '-', '*', '/', 'f' (//), '%', 'p' (**), '~' */
    N_AND,
    N_OR,
    N_COMPARE, /* a, then items with ops[] */
    N_CONDEXPR, /* b if a else c */
    /* statements */
    N_BLOCK, /* items: statements */
    N_DATA,  /* cv: the text */
    N_PRINT, /* a */
    N_IF,    /* a test, b body, c else (block, or NULL) */
    N_FOR,   /* a target, b iter, c filter, d body, e else */
    N_SET,   /* a target, b value */
    N_SETBLOCK, /* a target, d body, b filter chain (N_FILTER with NULL innermost) or NULL */
    N_MACRO,    /* name, items params (N_NAME), kw defaults (NULL each when none), d body */
    N_CALLBLOCK, /* a call expression, items/kw caller params, d body */
    N_FILTERBLOCK, /* b filter chain, d body */
    N_WITH,  /* items targets, kw values, d body */
    N_BREAK,
    N_CONTINUE,
    N_NSREF, /* set target `name.attr`: name, attr */
} node_kind;

/* comparison operators in N_COMPARE ops[] */
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN, CMP_NOTIN };

struct node {
    uint8_t kind;
    uint8_t op;
    uint8_t flag; /* N_FOR: recursive; N_MACRO: uses caller/varargs/kwargs bits */
    uint32_t line, col;
    node *a, *b, *c, *d, *e;
    node **items;
    size_t n;
    node **kw;
    const char **kwnames; /* N_CALL/N_FILTER/N_TEST keyword names */
    size_t nkw;
    uint8_t *ops; /* N_COMPARE */
    tv cv;        /* N_CONST, N_DATA */
    const char *name; /* N_NAME, N_GETATTR, N_FILTER, N_TEST, N_MACRO, N_NSREF (NUL-terminated) */
    const char *attr; /* N_NSREF */
    int fid;          /* N_FILTER, N_TEST: resolved id */
};

struct llm_tmpl {
    tmpl_arena arena;
    node *root;
};

/* ---- errors and the render context */
typedef struct tmpl_err {
    llm_status status;
    char msg[256];
} tmpl_err;

/* An output sink: the caller's buffer (counted against max_output) or a capture in the arena. */
typedef struct sink {
    llm_buf *top; /* non-NULL: the final output */
    char *p;
    size_t len, cap;
} sink;

struct scope {
    scope *parent;
    bool captured; /* a macro closes over it: a loop must not reuse it for the next iteration */
    size_t n, cap;
    const char **names;
    tv *vals;
};

typedef struct rctx {
    tmpl_arena arena;
    jmp_buf jb;
    tmpl_err err;
    size_t steps, max_steps;
    size_t depth, max_depth;    /* current/max expression+statement recursion */
    size_t calls, max_calls;    /* current/max macro call depth */
    size_t max_output;
    size_t value_depth_max;     /* recursion bound for printing/comparing/serialising values */
    sink *out;
    tdict *vars;                /* the caller's variables */
    scope *globals_scope;       /* template-level assignments */
    scope *scope;               /* innermost scope of the running statement */
    tv filter_input;            /* the body of a filter block / set block, for its filters */
    const node *cur;            /* node being evaluated: for error positions */
} rctx;

/* Raise an error (longjmps to the render entry). fmt is printf-like. */
__attribute__((noreturn, format(printf, 3, 4))) void rt_fail(rctx *c, llm_status st, const char *fmt, ...);
void *rt_alloc(rctx *c, size_t n); /* fails the render on exhaustion */
void rt_step(rctx *c);             /* counts one evaluation step */
/* Counts the work of touching n bytes (one step per KiB), so that repeating an operation on
 * a big string is bounded by max_steps like any loop. */
static inline void rt_work(rctx *c, size_t n) {
    if (n >= 1024) {
        c->steps += n >> 10;
        rt_step(c);
    }
}

/* ---- value helpers (value.c) */
static inline tv tv_undef(void) { tv v = {0}; v.t = TV_UNDEF; return v; }
static inline tv tv_none(void) { tv v = {0}; v.t = TV_NONE; return v; }
static inline tv tv_bool(bool b) { tv v = {0}; v.t = TV_BOOL; v.u.b = b; return v; }
static inline tv tv_int(int64_t i) { tv v = {0}; v.t = TV_INT; v.u.i = i; return v; }
static inline tv tv_float(double f) { tv v = {0}; v.t = TV_FLOAT; v.u.f = f; return v; }
/* the string p[0..len) in the tstr s (however allocated), as a value */
static inline tv tv_str_in(tstr *s, const char *p, size_t len) {
    s->p = p;
    s->len = len;
    tv v = {0};
    v.t = TV_STR;
    v.u.s = s;
    return v;
}
tv tv_str(rctx *c, const char *p, size_t len);   /* copies */
tv tv_str_ref(rctx *c, const char *p, size_t len); /* refers (p must outlive the render) */
tv tv_cstr(rctx *c, const char *s);
tv tv_list(rctx *c, size_t n); /* n items, all undefined */
tv tv_dict(rctx *c);
tv tv_func(rctx *c, tfunc_kind kind, const char *name); /* a new tfunc, other fields zero */
bool tv_truthy(const tv *v);
bool tv_is_number(const tv *v); /* int, float, bool */
double tv_as_double(const tv *v);
bool tv_eq(rctx *c, const tv *a, const tv *b);
int tv_cmp(rctx *c, const tv *a, const tv *b); /* Python ordering; fails on unorderable types */
const char *tv_type_name(const tv *v);
tv *dict_get(rctx *c, tdict *d, const tv *key); /* NULL when absent */
tv *dict_get_str(rctx *c, tdict *d, const char *key, size_t len);
void dict_set(rctx *c, tdict *d, const tv *key, const tv *val);
/* Materializes an iterable (list, tuple, dict keys, string chars, undefined: empty). */
tlist *tv_iterate(rctx *c, const tv *v);
size_t utf8_count(const char *p, size_t n);
/* byte offset of code point index i (clamped to n) */
size_t utf8_offset(const char *p, size_t n, size_t i);
bool str_is_ascii(const char *p, size_t n);

/* ---- growing arena strings (value.c) */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;
void sb_put(rctx *c, sbuf *b, const char *s, size_t n);
void sb_puts(rctx *c, sbuf *b, const char *s);
void sb_putc(rctx *c, sbuf *b, char ch);
tv sb_value(rctx *c, sbuf *b);

/* ---- Python str()/repr() (pyrepr.c) */
void py_str(rctx *c, sbuf *b, const tv *v);  /* str(v); undefined prints nothing */
void py_repr(rctx *c, sbuf *b, const tv *v); /* repr(v) */
tv tv_to_str(rctx *c, const tv *v);          /* str(v) as a value */
void py_float_repr(char *out, size_t cap, double f); /* Python repr of a float */

/* ---- json.dumps (json_write.c) */
typedef struct json_opts {
    bool ensure_ascii, sort_keys;
    bool has_indent;
    const char *indent; /* string put per level */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
} json_opts;
void json_dumps(rctx *c, sbuf *b, const tv *v, const json_opts *o);

/* ---- unicode helpers (strutil.c) */
bool py_isspace_cp(uint32_t cp);
/* decodes one code point of valid UTF-8 at p (n bytes left); returns its length */
size_t utf8_decode(const char *p, size_t n, uint32_t *cp);
size_t utf8_encode(uint32_t cp, char *out);
bool utf8_valid(const char *p, size_t n);
uint32_t cp_upper(uint32_t cp);
uint32_t cp_lower(uint32_t cp);
bool cp_isalpha(uint32_t cp);
bool cp_isdigit(uint32_t cp);
bool cp_isupper(uint32_t cp);
bool cp_islower(uint32_t cp);

/* ---- the interpreter (eval.c) and its builtins */
tv eval_expr(rctx *c, const node *n);
tv call_value(rctx *c, const tv *fn, tv *args, size_t nargs, const char **kwnames, tv *kwvals, size_t nkw);
tv tv_getattr(rctx *c, const tv *obj, const char *name, size_t len); /* jinja's x.name */
tv tv_getitem(rctx *c, const tv *obj, const tv *key);                /* jinja's x[key] */

void tmpl_exec_root(rctx *c, const node *root);

/* filters.c / tests.c: names known at parse time (jinja2 rejects unknown ones when compiling) */
int filter_lookup(const char *name, size_t len); /* -1 when unknown */
int test_lookup(const char *name, size_t len);
tv apply_filter(rctx *c, int fid, const char *name, tv *input, tv *args, size_t nargs, const char **kwnames,
                tv *kwvals, size_t nkw);
bool apply_test(rctx *c, int tid, const char *name, tv *input, tv *args, size_t nargs);

/* methods.c: attribute lookup of built-in methods and their calls */
int method_lookup(const tv *self, const char *name, size_t len); /* -1 when none */
tv call_method(rctx *c, tfunc *f, tv *args, size_t nargs, const char **kwnames, tv *kwvals, size_t nkw);
int global_lookup(const char *name, size_t len);
tv call_global(rctx *c, tfunc *f, tv *args, size_t nargs, const char **kwnames, tv *kwvals, size_t nkw);

/* Argument binding for builtins: fills out[i] for each name in names (positional first, then
 * keyword); missing ones stay undefined. Fails on unknown keywords or too many arguments. */
void bind_args(rctx *c, const char *fname, const char *const *names, size_t nnames, tv *args, size_t nargs,
               const char **kwnames, tv *kwvals, size_t nkw, tv *out);

/* string helpers shared by filters and methods (methods.c) */
tv str_strip(rctx *c, const tv *s, const tv *chars, bool left, bool right);
tv str_case(rctx *c, const tv *s, int mode); /* 0 lower, 1 upper, 2 capitalize, 3 jinja title, 4 python title */
tv str_replace(rctx *c, const tv *s, const tv *old, const tv *new_, int64_t count);
tv html_escape(rctx *c, const tv *v);
tv py_percent_format(rctx *c, const tv *fmt, const tv *args); /* fmt % args (pyformat.c) */

#endif
