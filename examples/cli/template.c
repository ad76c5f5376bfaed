/* llm template: render a conversation with a chat template, for debugging templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define TEMPLATE_GROUPS (CLI_G_MODEL | CLI_G_TEMPLATE)

static void template_usage(FILE *f) {
    fprintf(f, "usage: llm template [-m MODEL | --template FILE] --messages FILE.json [--add-generation-prompt]\n"
               "                    [--tools FILE.json] [--var NAME=JSON]...\n"
               "Prints the conversation rendered with the model's chat template (or FILE) exactly as\n"
               "Python jinja2 renders it for Hugging Face transformers, with no newline added.\n"
               "Without -m and --template, the default chat model's template is used.\n\n");
    cli_print_options(f, TEMPLATE_GROUPS);
}

static int is_identifier(const char *s, size_t n) {
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Appends "name": json to the object text being built in *vars. 0, or -1 after printing why. */
static int add_var(char **vars, size_t *len, const char *name, size_t name_len, const char *json) {
    size_t add = name_len + strlen(json) + 8;
    char *grown = realloc(*vars, *len + add + 2);
    if (!grown) {
        fprintf(stderr, "llm template: out of memory\n");
        return -1;
    }
    *vars = grown;
    *len += (size_t)snprintf(*vars + *len, add + 2, "%s\"%.*s\": %s", *len > 1 ? ", " : "", (int)name_len, name, json);
    return 0;
}

/* The variables object: tools (from --tools) and each --var. NULL after printing an error. */
static char *build_vars(const cli_args *a) {
    char *vars = malloc(2);
    size_t len = 1;
    if (!vars) return NULL;
    strcpy(vars, "{");
    if (a->tools_file) {
        char *tools = cli_read_file(a->tools_file, NULL);
        int r = tools ? add_var(&vars, &len, "tools", 5, tools) : -1;
        free(tools);
        if (r) {
            free(vars);
            return NULL;
        }
    }
    for (int i = 0; i < a->n_vars; i++) {
        const char *eq = strchr(a->vars[i], '=');
        size_t nlen = eq ? (size_t)(eq - a->vars[i]) : 0;
        if (!eq || !is_identifier(a->vars[i], nlen)) {
            fprintf(stderr, "llm template: --var expects NAME=JSON with NAME an identifier, not '%s'\n", a->vars[i]);
            free(vars);
            return NULL;
        }
        if (add_var(&vars, &len, a->vars[i], nlen, eq + 1)) {
            free(vars);
            return NULL;
        }
    }
    strcpy(vars + len, "}");
    return vars;
}

int cli_template(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, TEMPLATE_GROUPS, &a);
    if (pr == 1) {
        template_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    if (!a.messages_file) {
        fprintf(stderr, "llm template: missing --messages FILE.json\n\n");
        template_usage(stderr);
        return CLI_ERR_USAGE;
    }
    a.chat_default = 1;
    int rc = CLI_ERR_RUNTIME;
    char *messages = cli_read_file(a.messages_file, NULL);
    char *tmpl = a.template_file ? cli_read_file(a.template_file, NULL) : NULL;
    char *vars = build_vars(&a);
    llm_options *o = cli_make_options(&a);
    llm_model *m = NULL;
    char *out = NULL;
    if (!messages || (a.template_file && !tmpl) || !vars || !o) goto done;
    /* the template needs only the tokenizer's special tokens: skip the weights' repacking */
    llm_options_set_int(o, LLM_OPT_REPACK, 0);
    if ((a.model || !tmpl) && !(m = cli_load_model(&a, o))) goto done;
    size_t need = 0;
    llm_status st = llm_chat_apply_template(m, tmpl, messages, vars, a.add_generation_prompt, o, NULL, 0, &need);
    if (st == LLM_ERR_BUFFER_TOO_SMALL && (out = malloc(need + 1)))
        st = llm_chat_apply_template(m, tmpl, messages, vars, a.add_generation_prompt, o, out, need + 1, &need);
    else if (st == LLM_ERR_BUFFER_TOO_SMALL)
        st = LLM_ERR_OUT_OF_MEMORY;
    if (st != LLM_OK) {
        cli_report("cannot render the template", st, o);
        goto done;
    }
    fwrite(out, 1, need, stdout);
    fflush(stdout);
    rc = CLI_OK;
done:
    free(out);
    llm_model_free(m);
    llm_options_free(o);
    free(vars);
    free(tmpl);
    free(messages);
    return rc;
}
