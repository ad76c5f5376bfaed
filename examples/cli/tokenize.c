/* llm tokenize: show the tokens of a text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define TOK_GROUPS (CLI_G_MODEL | CLI_G_TOKENIZE | CLI_G_SPECIAL | CLI_G_PROMPT | CLI_G_POSITIONAL)

static void tok_usage(FILE *f) {
    fprintf(f, "usage: llm tokenize [-m MODEL] [--ids] [--no-bos] [--special] TEXT\n"
               "Prints one token per line as id<TAB>'piece', or with --ids the ids on one line.\n"
               "Several TEXT arguments are joined with spaces; without any, stdin is read.\n\n");
    cli_print_options(f, TOK_GROUPS);
}

/* Writes a piece quoted, escaping quotes, backslashes and control bytes. */
static void print_piece(const char *p, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (c) {
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\'': fputs("\\'", stdout); break;
        default:
            if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
            else putchar(c);
        }
    }
    putchar('\'');
}

static char *join_args(const cli_args *a) {
    if (a->prompt) return strdup(a->prompt);
    if (a->n_positional == 0) return cli_read_file("/dev/stdin", NULL);
    size_t n = 1;
    for (int i = 0; i < a->n_positional; i++) n += strlen(a->positional[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < a->n_positional; i++) {
        if (i) strcat(s, " ");
        strcat(s, a->positional[i]);
    }
    return s;
}

int cli_tokenize(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, TOK_GROUPS, &a);
    if (pr == 1) {
        tok_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    char *text = join_args(&a);
    if (!text) return CLI_ERR_RUNTIME;

    llm_options *o = cli_make_options(&a);
    llm_model *m = o ? cli_load_model(&a, o) : NULL;
    if (!m) {
        free(text);
        llm_options_free(o);
        return CLI_ERR_RUNTIME;
    }
    int rc = CLI_OK;
    int flags = (a.no_bos ? 0 : LLM_TOKENIZE_ADD_BOS) | (a.special ? LLM_TOKENIZE_SPECIAL : 0);
    size_t len = strlen(text), cap = len + 16, n = 0;
    int32_t *toks = malloc(cap * sizeof *toks);
    llm_status st = toks ? llm_tokenize(m, text, (ptrdiff_t)len, flags, toks, cap, &n) : LLM_ERR_OUT_OF_MEMORY;
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        free(toks);
        cap = n;
        toks = malloc((cap ? cap : 1) * sizeof *toks);
        st = toks ? llm_tokenize(m, text, (ptrdiff_t)len, flags, toks, cap, &n) : LLM_ERR_OUT_OF_MEMORY;
    }
    if (st != LLM_OK) {
        cli_report("cannot tokenize", st, NULL);
        rc = CLI_ERR_RUNTIME;
    } else if (a.ids) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)toks[i]);
        putchar('\n');
    } else {
        char small[256];
        for (size_t i = 0; i < n; i++) {
            size_t need = 0;
            char *buf = small;
            st = llm_token_to_piece(m, toks[i], LLM_DETOKENIZE_SPECIAL, small, sizeof small, &need);
            if (st == LLM_ERR_BUFFER_TOO_SMALL) {
                buf = malloc(need + 1);
                st = buf ? llm_token_to_piece(m, toks[i], LLM_DETOKENIZE_SPECIAL, buf, need + 1, &need)
                         : LLM_ERR_OUT_OF_MEMORY;
            }
            printf("%d\t", (int)toks[i]);
            if (st == LLM_OK) print_piece(buf, need);
            else printf("<%s>", llm_status_str(st));
            putchar('\n');
            if (buf != small) free(buf);
        }
    }
    free(toks);
    free(text);
    llm_model_free(m);
    llm_options_free(o);
    return rc;
}
