/* A Jinja interpreter for chat templates: renders what Python jinja2 renders in the environment
 * Hugging Face transformers uses for chat templates (ImmutableSandboxedEnvironment with
 * trim_blocks and lstrip_blocks, loop controls, its tojson, raise_exception and strftime_now).
 *
 * Templates come from downloaded files and are untrusted: every cost an input can cause is
 * bounded by llm_tmpl_limits, and every failure is a status with a message naming the line and
 * column, never a crash. */
#ifndef LLM_TEMPLATE_TEMPLATE_H
#define LLM_TEMPLATE_TEMPLATE_H

#include <stddef.h>

#include "llm.h"
#include "util/buf.h"

typedef struct llm_tmpl llm_tmpl;

/* Bounds on what one parse or render may cost. 0 in a field means its default. */
typedef struct llm_tmpl_limits {
    size_t max_steps;  /* evaluation steps (loop iterations, expression nodes, ...) per render; default 1,000,000 */
    size_t max_depth;  /* nesting depth of parsing and of calls (macros, recursion); default 64 */
    size_t max_output; /* bytes of rendered output; default 4 MiB */
    size_t max_memory; /* bytes allocated for values during one render; default 64 MiB */
} llm_tmpl_limits;

#define LLM_TMPL_DEFAULT_STEPS ((size_t)1000000)
#define LLM_TMPL_DEFAULT_DEPTH ((size_t)64)
#define LLM_TMPL_DEFAULT_OUTPUT ((size_t)4 << 20)
#define LLM_TMPL_DEFAULT_MEMORY ((size_t)64 << 20)

/* Parses template source (len bytes; need not be NUL-terminated). Returns LLM_OK and *out, or:
 * LLM_ERR_FORMAT (syntax error: *message says "line L, column C: ..."), LLM_ERR_INVALID_UTF8,
 * LLM_ERR_LIMIT (nesting deeper than max_depth), LLM_ERR_OUT_OF_MEMORY. message/message_cap may
 * be NULL/0; the message is NUL-terminated and truncated to fit. */
llm_status llm_tmpl_parse(const char *src, size_t len, const llm_tmpl_limits *limits, llm_tmpl **out,
                          char *message, size_t message_cap);
void llm_tmpl_free(llm_tmpl *t); /* accepts NULL */

/* Renders the template with the variables of vars_json (len bytes of a JSON object: each key is a
 * top-level variable, e.g. {"messages": [...], "add_generation_prompt": true, "bos_token": "<s>",
 * "tools": [...]}). JSON numbers without fraction or exponent are ints, others floats, as
 * Python's json module reads them. The rendered text is appended to *out. Returns LLM_OK, or:
 * LLM_ERR_FORMAT (a runtime error the template raises, in jinja2 terms: raise_exception(msg),
 * calling an undefined value, an unsupported operation on a type, ...: *message names the line
 * and column and what failed), LLM_ERR_INVALID_ARGUMENT (vars_json is not a JSON object),
 * LLM_ERR_LIMIT (a limit of *limits was reached: *message says which), LLM_ERR_OUT_OF_MEMORY.
 * On failure *out may hold a partial rendering; callers discard it. A parsed template may be
 * rendered by several threads at once. */
llm_status llm_tmpl_render(const llm_tmpl *t, const char *vars_json, size_t len, const llm_tmpl_limits *limits,
                           llm_buf *out, char *message, size_t message_cap);

#endif
