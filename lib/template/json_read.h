/* A strict JSON reader (RFC 8259 plus Python json's NaN/Infinity/-Infinity) into a tree.
 *
 * Input must be valid UTF-8; \u escapes combine surrogate pairs and a lone surrogate is an
 * error. Numbers without fraction or exponent are ints (int64; larger ones are an error),
 * the others doubles, as Python's json reads them. Object members keep their order; a repeated
 * key keeps its first position and takes its last value (as a Python dict does). Nesting deeper
 * than max_depth and trees over max_bytes are refused, so any input is safe to read. */
#ifndef LLM_TEMPLATE_JSON_READ_H
#define LLM_TEMPLATE_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

typedef enum {
    LLM_JSON_NULL,
    LLM_JSON_FALSE,
    LLM_JSON_TRUE,
    LLM_JSON_INT,
    LLM_JSON_FLOAT,
    LLM_JSON_STRING,
    LLM_JSON_ARRAY,
    LLM_JSON_OBJECT,
} llm_json_type;

typedef struct llm_json llm_json;
typedef struct llm_json_member {
    const char *key; /* UTF-8, NUL-terminated (may contain NUL: use key_len) */
    size_t key_len;
    llm_json *value;
} llm_json_member;

struct llm_json {
    llm_json_type type;
    union {
        int64_t i;
        double f;
        struct { const char *s; size_t len; } str; /* NUL-terminated too */
        struct { llm_json **items; size_t n; } arr;
        struct { llm_json_member *members; size_t n; } obj;
    } u;
};

typedef struct llm_json_doc llm_json_doc; /* owns every node */

/* Parses len bytes. On success *doc owns the tree and *root points into it. Errors:
 * LLM_ERR_FORMAT (malformed: message says "offset N: ..."), LLM_ERR_INVALID_UTF8,
 * LLM_ERR_LIMIT (max_depth / max_bytes), LLM_ERR_OUT_OF_MEMORY. max_* of 0 mean 64 and 64 MiB. */
llm_status llm_json_parse(const char *src, size_t len, size_t max_depth, size_t max_bytes, llm_json_doc **doc,
                          const llm_json **root, char *message, size_t message_cap);
void llm_json_doc_free(llm_json_doc *doc); /* accepts NULL */

#endif
