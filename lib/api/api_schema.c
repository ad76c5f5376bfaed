/* llm_json_schema_to_grammar: JSON Schema to GBNF without a session (lib/schema does the work);
 * the error detail goes to the options handle when one is given, as for
 * llm_chat_apply_template. */
#include <string.h>

#include "api/internal.h"
#include "schema/json_schema.h"

llm_status llm_json_schema_to_grammar(const char *schema_json, llm_options *o, char *buffer, size_t capacity,
                                      size_t *needed) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    if (needed) *needed = 0;
    if (!schema_json) {
        if (o) llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "schema_json is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    llm_buf out = {0};
    llm_err err = {0};
    llm_status st = llm_schema_to_gbnf(schema_json, strlen(schema_json), &out, &err);
    if (st != LLM_OK) {
        if (o) llm_fail(&o->h, st, "%s", err.msg);
    } else {
        st = llm_copy_out(out.data ? out.data : "", out.len, buffer, capacity, needed);
        if (st != LLM_OK && o) llm_fail(&o->h, st, "the grammar needs %zu bytes (capacity %zu)", out.len + 1, capacity);
    }
    llm_buf_free(&out);
    return st;
}
