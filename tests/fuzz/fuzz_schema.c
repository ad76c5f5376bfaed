/* libFuzzer target for the JSON Schema converter (lib/schema). Build with -DLLM_FUZZ=ON using
 * clang (tests/schema.cmake); seed corpus: python3 tests/schema/gen_schemas.py --corpus DIR.
 *
 * The input is the schema's JSON, copied to an exact-size heap buffer (no NUL terminator) so
 * that AddressSanitizer sees any read past its end. Checked besides "no crash, no leak, no UB":
 * the status is one the converter documents, the message is NUL-terminated and non-empty on
 * failure, a failure leaves the output empty, a second conversion gives the same status and
 * bytes, and every grammar produced is accepted by the library's GBNF parser (lib/grammar). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "schema/json_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0; /* keep one input fast */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    llm_buf out = {0}, again = {0};
    llm_err err = {0}, err2 = {0};
    llm_status st = llm_schema_to_gbnf(text, size, &out, &err);
    if (st != LLM_OK && st != LLM_ERR_INVALID_ARGUMENT && st != LLM_ERR_UNSUPPORTED && st != LLM_ERR_LIMIT)
        abort();
    if (memchr(err.msg, 0, sizeof err.msg) == NULL) abort();
    if (st != LLM_OK && (err.msg[0] == 0 || out.len != 0)) abort();
    llm_status st2 = llm_schema_to_gbnf(text, size, &again, &err2);
    if (st2 != st || out.len != again.len || (out.len && memcmp(out.data, again.data, out.len) != 0)) abort();
    if (st == LLM_OK) {
        if (out.len < 9 || memcmp(out.data, "root ::= ", 9) != 0) abort();
        llm_grammar *g = NULL;
        llm_err gerr = {0};
        llm_status gs = llm_grammar_parse(out.data, out.len, NULL, &g, &gerr);
        if (gs != LLM_OK && gs != LLM_ERR_LIMIT) abort(); /* the converter wrote bad GBNF */
        llm_grammar_free(g);
    }
    llm_buf_free(&out);
    llm_buf_free(&again);
    free(text);
    return 0;
}
