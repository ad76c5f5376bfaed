/* Internals of the JSON Schema converter: the schema model the JSON is read into (sch), the
 * conversion context, and the functions each file of lib/schema provides.
 *
 * The walk is: JSON text -> llm_json tree (template/json_read) -> sch nodes (schema_parse.c,
 * allOf/anyOf merged by schema_merge.c) -> GBNF (schema_gbnf.c with schema_object.c,
 * schema_number.c, schema_regex.c, schema_format.c). schema_value.c checks literal values (enum,
 * const) against a schema, which filters enums and proves oneOf branches disjoint
 * (schema_oneof.c). */
#ifndef LLM_SCHEMA_INTERNAL_H
#define LLM_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/json_schema.h"
#include "template/json_read.h"
#include "util/buf.h"
#include "util/common.h"

/* JSON types as a bit set. T_INT alone is "integer"; "number" is T_INT | T_NUM. */
enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64, T_ALL = 127 };

/* A numeric bound as the schema wrote it: a JSON integer (exact int64) or a double. */
typedef struct snum {
    bool set;
    bool excl;   /* exclusiveMinimum / exclusiveMaximum */
    bool is_int;
    int64_t i;
    double f;
} snum;

typedef enum sfmt {
    FMT_NONE = 0,
    FMT_DATE,
    FMT_TIME,
    FMT_DATE_TIME,
    FMT_UUID,
    FMT_EMAIL,
    FMT_IPV4,
    FMT_IPV6
} sfmt;

typedef enum skind {
    SK_NODE,  /* constraints per type (below) */
    SK_NEVER, /* false: nothing is valid */
    SK_REF,   /* $ref: one grammar rule per target (defs[def]) */
    SK_UNION  /* anyOf (exclusive: oneOf) */
} skind;

typedef enum { ADDL_ABSENT, ADDL_FALSE, ADDL_TRUE, ADDL_SCHEMA } saddl;

typedef struct sch sch;

typedef struct sprop {
    const char *name; /* UTF-8, may contain NUL: len */
    size_t len;
    sch *s;
} sprop;

typedef struct sname {
    const char *s;
    size_t len;
} sname;

struct sch {
    skind kind;
    const char *path; /* JSON pointer of the schema it came from (messages) */
    /* SK_REF */
    size_t def;
    /* SK_UNION */
    sch **alts;
    size_t n_alts;
    bool exclusive;
    /* SK_NODE */
    unsigned types;
    bool has_enum; /* enum/const: the values (n_enum may be 0: nothing valid) */
    const llm_json **enum_v;
    size_t n_enum;
    /* strings */
    int64_t min_len, max_len; /* max_len < 0: none */
    const char *pattern;      /* NULL: none */
    size_t pattern_len;
    const char *pattern_path; /* where it was written (messages) */
    sfmt fmt;
    /* numbers */
    snum min, max;
    /* arrays */
    sch **prefix;
    size_t n_prefix;
    sch *items; /* NULL: any value */
    int64_t min_items, max_items; /* max_items < 0: none */
    bool unique;                  /* uniqueItems: true */
    /* objects */
    sprop *props;
    size_t n_props;
    sname *req;
    size_t n_req;
    saddl addl;
    sch *addl_s; /* ADDL_SCHEMA */
    int64_t min_props, max_props; /* max_props < 0: none */
};

/* A $ref target: one rule of the grammar. */
typedef struct sdef {
    const llm_json *target;
    const char *pointer; /* "#/$defs/x" */
    bool reading;        /* its body is being read (a cycle of bare $refs is an error) */
    sch *body;       /* NULL while being read */
    char *rule;      /* rule name */
    bool used;       /* referenced by what the grammar emits */
    bool productive; /* generates at least one finite document (fixpoint in schema_gbnf.c) */
    bool rule_no_set;
    size_t rule_no;  /* its rule in this emission pass */
} sdef;

/* A memory block of the arena. */
typedef struct sblock sblock;

typedef struct sctx {
    llm_err *err;
    llm_status st;
    const llm_json *root;
    sch *root_sch;
    /* allocation: everything lives until the conversion ends */
    sblock *blocks;
    size_t mem_used;
    size_t n_nodes;
    /* $ref targets */
    sdef *defs;
    size_t n_defs, cap_defs;
    /* where the parse is (messages): a JSON pointer */
    llm_buf path;
    size_t depth;
    /* output rules (schema_gbnf.c) */
    struct srule *rules;
    size_t n_rules, cap_rules;
    uint32_t *body_index; /* open addressing: rule numbers by body hash, and by name hash */
    uint32_t *name_index;
    size_t index_cap;
    size_t out_bytes; /* bytes of all rule bodies (bounded by SCHEMA_MAX_OUTPUT) */
    /* parsed patterns, by the address of their text (schema_regex.c) */
    struct srx_cached *rx_cache;
    size_t n_rx_cache, cap_rx_cache;
} sctx;

typedef struct srule {
    char *name;
    char *body; /* NULL: reserved, body not yet known ($ref rules) */
    size_t body_len;
    uint64_t hash; /* of the body */
    bool is_def;   /* a $ref target's rule: never shared with another body */
} srule;

/* ---- schema_ctx.c: memory, errors, text helpers --------------------------------------------- */
void *sc_alloc(sctx *c, size_t n);               /* zeroed; NULL (and c->st set) on failure */
char *sc_strdup(sctx *c, const char *s, size_t n);
sch *sc_node(sctx *c, skind kind);               /* counted against SCHEMA_MAX_NODES */
sch *sc_any(sctx *c);                             /* {} */
llm_status sc_fail(sctx *c, llm_status st, const char *fmt, ...) LLM_PRINTF(3, 4);
/* sc_fail with " (at PATH)" appended where path is not empty. */
llm_status sc_fail_at(sctx *c, const char *path, llm_status st, const char *fmt, ...) LLM_PRINTF(4, 5);
void sc_free(sctx *c);
/* Appends to b; on out of memory sets c->st. */
void sc_put(sctx *c, llm_buf *b, const char *s, size_t n);
void sc_puts(sctx *c, llm_buf *b, const char *s);
void sc_printf(sctx *c, llm_buf *b, const char *fmt, ...) LLM_PRINTF(3, 4);
/* A GBNF string literal of the bytes s[0..n) (UTF-8): "..." with everything outside printable
 * ASCII written as \xHH, \uHHHH or \UHHHHHHHH. */
void sc_gbnf_literal(sctx *c, llm_buf *b, const char *s, size_t n);
/* One code point inside a GBNF character class [...]. */
void sc_gbnf_class_char(sctx *c, llm_buf *b, uint32_t cp);
/* The JSON text of a value (compact, strings escaped as json.dumps with ensure_ascii=False). */
void sc_json_text(sctx *c, llm_buf *b, const llm_json *v);
/* The JSON text of a string's contents (without the quotes). */
void sc_json_string_body(sctx *c, llm_buf *b, const char *s, size_t n);
/* Decodes one UTF-8 code point of valid UTF-8; returns its length (>= 1). */
size_t sc_utf8_decode(const char *s, size_t n, uint32_t *cp);
size_t sc_utf8_count(const char *s, size_t n);

/* ---- schema_parse.c: JSON -> sch ------------------------------------------------------------- */
/* Reads the schema v (at JSON pointer c->path). */
llm_status sp_schema(sctx *c, const llm_json *v, sch **out);
const llm_json *sp_member(const llm_json *obj, const char *key);
/* Reads the body of $ref target d if not read yet; sp_read_defs reads all of them. */
llm_status sp_read_def(sctx *c, size_t d);
llm_status sp_read_defs(sctx *c);

/* ---- schema_merge.c: allOf -------------------------------------------------------------------- */
/* The schema of documents valid against both a and b (refs at the top resolved). */
llm_status sm_merge(sctx *c, sch *a, sch *b, sch **out);
/* s with a top-level $ref replaced by its target (through chains of refs). */
llm_status sm_resolve(sctx *c, sch *s, sch **out);

/* ---- schema_value.c: literal values against schemas ------------------------------------------ */
typedef enum { V_NO = 0, V_YES = 1, V_UNKNOWN = 2 } vres;
/* Whether the value v validates against s (V_UNKNOWN where this cannot be decided here, e.g. a
 * pattern too costly to match). skip_enum: leave out s's own enum/const (the enum filter). */
vres sv_validate(sctx *c, const sch *s, const llm_json *v, bool skip_enum, size_t depth);
bool sv_equal(const llm_json *a, const llm_json *b); /* jsonschema's equality (1 == 1.0, true != 1) */
unsigned sv_type_bits(const llm_json *v);            /* T_* of a value (T_INT|T_NUM for integers) */
/* Exact comparison of a value's number with a bound: <0, 0, >0. */
int sv_cmp_num(const llm_json *v, const snum *b);
int sv_cmp_snum(const snum *a, const snum *b);

/* ---- schema_oneof.c ---------------------------------------------------------------------------- */
/* true when no document the grammar generates for a validates against b. */
bool so_disjoint(sctx *c, const sch *a, const sch *b, size_t depth);
/* Whether the grammar of object schema s generates keys outside its properties. */
bool so_gen_extras(const sch *s);

/* ---- schema_gbnf.c: the walk ------------------------------------------------------------------- */
/* Appends a GBNF expression for s to out; *empty when s generates nothing (nothing appended).
 * hint names the sub-rules it creates; a result longer than a few words becomes a rule of its
 * own (its name is appended) unless top (the caller makes the rule). */
llm_status sg_emit(sctx *c, const sch *s, const char *hint, bool top, llm_buf *out, bool *empty);
/* A rule with this body (reused when one with the same body exists); returns its name (valid
 * until the conversion ends), NULL on error. */
const char *sg_rule(sctx *c, const char *hint, const char *body, size_t len);
/* Appends to out the name of a rule holding expr when expr is long, else expr itself. */
void sg_inline_or_rule(sctx *c, const char *hint, const llm_buf *expr, llm_buf *out);
/* hint + "-" + suffix made a rule-name stem (letters, digits, '-'). */
void sg_hint(sctx *c, llm_buf *b, const char *hint, const char *suffix, size_t suffix_len);

/* ---- schema_object.c: objects and arrays ------------------------------------------------------- */
llm_status sg_object(sctx *c, const sch *s, const char *hint, llm_buf *out, bool *empty);
llm_status sg_array(sctx *c, const sch *s, const char *hint, llm_buf *out, bool *empty);

/* ---- schema_number.c --------------------------------------------------------------------------- */
/* Integers (integer_only) or numbers within the bounds; *empty when none. */
llm_status sn_emit(sctx *c, const snum *lo, const snum *hi, bool integer_only, llm_buf *out, bool *empty);

/* ---- schema_string.c: strings, lengths, formats ------------------------------------------------ */
llm_status ss_emit(sctx *c, const sch *s, llm_buf *out, bool *empty);
/* The format named f (FMT_NONE and *known = true for formats that are unsupported: an error;
 * *known = false for names jsonschema does not check: ignored). */
sfmt ss_format_lookup(const char *f, size_t n, bool *unsupported);
const char *ss_format_name(sfmt f);
vres ss_format_check(sctx *c, sfmt f, const char *s, size_t n);

/* ---- schema_regex.c: "pattern" ------------------------------------------------------------------ */
/* Appends the GBNF of a JSON string (quotes included) whose contents the pattern matches (re.search
 * semantics) with min_len..max_len characters (max_len < 0: no bound). *empty when none. */
llm_status sr_emit(sctx *c, const char *pattern, size_t n, int64_t min_len, int64_t max_len, const char *path,
                   llm_buf *out, bool *empty);
/* Checks that the pattern is in the supported subset (errors as sr_emit). */
llm_status sr_check(sctx *c, const char *pattern, size_t n, const char *path);
/* re.search(pattern, s) as Python decides it: V_YES / V_NO, V_UNKNOWN where it depends on
 * Unicode classes this subset approximates, or past a work bound. */
vres sr_match(sctx *c, const char *pattern, size_t n, const char *s, size_t slen);

/* The rule names of the shared pieces. */
#define RULE_WS "ws"
#define RULE_VALUE "value"
#define RULE_STRING "string"
#define RULE_CHAR "char"
#define RULE_NUMBER "number"
#define RULE_INTEGER "integer"
#define RULE_BOOLEAN "boolean"

#endif
