/* The regular-expression model of "pattern" (schema_regex.c parses it, schema_rxmatch.c runs
 * it, schema_charset.c writes its character sets as GBNF).
 *
 * The subset is Python's re (what jsonschema runs): literals, '.', classes with ranges and
 * negation, \d \w \s and their negations, escapes (\t \n \xhh \uhhhh ...), groups ( ), (?: ),
 * (?P<name> ), alternation, quantifiers * + ? {m} {m,} {,n} {m,n} (lazy forms too), anchors ^ $
 * \A \Z. Refused: backreferences, lookaround, \b \B, inline flags, atomic groups, possessive
 * quantifiers, \N{...}. */
#ifndef LLM_SCHEMA_REGEX_H
#define LLM_SCHEMA_REGEX_H

#include "schema/schema_internal.h"

/* A set of code points: sorted, disjoint, non-adjacent ranges. */
typedef struct crange {
    uint32_t lo, hi;
} crange;

typedef struct cset {
    crange *r;
    size_t n, cap;
} cset;

#define CP_MAX 0x10FFFFu

/* ---- schema_charset.c ---- */
bool cs_add(sctx *c, cset *s, uint32_t lo, uint32_t hi);       /* s |= [lo, hi] */
bool cs_union(sctx *c, cset *s, const cset *t);                 /* s |= t */
bool cs_complement(sctx *c, const cset *s, cset *out);          /* every code point (no surrogates) not in s */
bool cs_has(const cset *s, uint32_t cp);
bool cs_is_all(const cset *s);                                  /* every code point but the surrogates */
bool cs_equal(const cset *a, const cset *b);
/* GBNF for one character of a JSON string's contents whose decoded value is in s: raw UTF-8
 * where JSON allows it, escapes for '"', '\' and control characters. Nothing when s is empty. */
void cs_gbnf(sctx *c, const cset *s, llm_buf *out);

/* ---- the syntax tree (schema_regex.c) ---- */
typedef enum {
    RX_EMPTY, /* the empty string */
    RX_NEVER, /* nothing (an empty class) */
    RX_SET,   /* one character: lower (surely matched) and upper (possibly matched) */
    RX_SEQ,
    RX_ALT,
    RX_REP,
    RX_BOL,   /* ^ or \A */
    RX_EOL,   /* $: at the end or before a final newline */
    RX_EOS    /* \Z: at the end */
} rxk;

typedef struct rx rx;
struct rx {
    rxk k;
    cset lower, upper; /* RX_SET; equal except where Python's Unicode classes are approximated */
    rx **kids;
    size_t n;
    int64_t min, max; /* RX_REP; max < 0: unbounded */
};

/* Parses pattern[0..n) (errors name the pattern; path is where it stands in the schema). */
llm_status rx_parse(sctx *c, const char *pattern, size_t n, const char *path, rx **out);
/* The tree of a pattern, parsed once per pattern text (cached on the context). */
llm_status rx_cached(sctx *c, const char *pattern, size_t n, const char *path, rx **out);

/* ---- schema_rxmatch.c ---- */
/* re.search over the code points of s: 1 match, 0 none, -1 past the work bound. upper: use the
 * possible sets (a "no" is then certain) instead of the certain ones (a "yes" is then certain). */
int rx_search(const rx *re, const char *s, size_t slen, bool upper);

#endif
