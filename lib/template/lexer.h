/* The template lexer: splits (newline-normalized) source into data and tag tokens, applying
 * jinja2's whitespace rules (trim_blocks, lstrip_blocks, '-' and '+' markers). */
#ifndef LLM_TEMPLATE_LEXER_H
#define LLM_TEMPLATE_LEXER_H

#include "template/tmpl_internal.h"

typedef enum {
    TK_DATA,
    TK_VAR_BEGIN,
    TK_VAR_END,
    TK_BLOCK_BEGIN,
    TK_BLOCK_END,
    TK_NAME,
    TK_STRING,
    TK_INT,
    TK_FLOAT,
    TK_OP,
    TK_EOF,
} tok_type;

/* two-character operators in token.op */
enum { OP_FLOORDIV = 'F', OP_POW = 'P', OP_EQ = 'E', OP_NE = 'N', OP_LE = 'L', OP_GE = 'G' };

typedef struct token {
    uint8_t type;
    uint8_t op;
    uint32_t line, col;
    const char *p; /* name, decoded string or data text */
    size_t len;
    int64_t i;
    double f;
} token;

typedef struct lex_result {
    token *toks;
    size_t n;
} lex_result;

/* Tokenizes; on failure fills *err (status and "line L, column C: ...") and returns false. */
bool tmpl_lex(tmpl_arena *a, const char *src, size_t len, size_t max_depth, lex_result *out, tmpl_err *err);

#endif
