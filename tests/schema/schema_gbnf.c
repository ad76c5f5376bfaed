/* schema_gbnf: prints the GBNF grammar of a JSON Schema (a file, or standard input with "-" or
 * no argument) through the public llm_json_schema_to_grammar. On failure prints
 * "error: <status name> (<code>): <detail>" to standard error and exits 2. Every grammar it prints
 * has passed the library's own GBNF parser (llm_grammar_validate); one that does not is a bug in
 * the converter: exit 3. tests/schema/test_schema_grammar.py drives it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "read_file.h"

static char *read_stdin(size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, stdin);
        if (k == 0) {
            buf[n] = 0;
            *len = n;
            return buf;
        }
        n += k;
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    size_t len = 0;
    char *text = argc > 1 && strcmp(argv[1], "-") != 0 ? test_read_file(argv[1], &len) : read_stdin(&len);
    if (!text) {
        fprintf(stderr, "error: cannot read %s\n", argc > 1 ? argv[1] : "standard input");
        return 2;
    }
    if (strlen(text) != len) { /* a NUL inside: the API takes a C string */
        fprintf(stderr, "error: the schema holds a NUL byte\n");
        free(text);
        return 2;
    }
    llm_options *o = llm_options_new();
    size_t needed = 0;
    llm_status st = llm_json_schema_to_grammar(text, o, NULL, 0, &needed);
    char *out = NULL;
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        out = malloc(needed + 1);
        st = out ? llm_json_schema_to_grammar(text, o, out, needed + 1, &needed) : LLM_ERR_OUT_OF_MEMORY;
    }
    int rc = 0;
    if (st == LLM_OK) {
        llm_status v = llm_grammar_validate(out, NULL, o);
        if (v != LLM_OK) {
            fprintf(stderr, "grammar rejected by llm_grammar_validate: %s (%d): %s\n%s", llm_status_str(v), (int)v,
                    llm_last_error(o), out);
            rc = 3;
        } else {
            fwrite(out, 1, needed, stdout);
        }
    } else {
        fprintf(stderr, "error: %s (%d): %s\n", llm_status_str(st), (int)st, llm_last_error(o));
        rc = 2;
    }
    free(out);
    free(text);
    llm_options_free(o);
    return rc;
}
