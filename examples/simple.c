/* The smallest complete use of libllm: load a model, continue a prompt, stream the text.
 *   simple MODEL.gguf "Once upon a time" */
#include <llm.h>
#include <stdio.h>

static int print_piece(void *user_data, const char *text, size_t len, int32_t token) {
    (void)user_data, (void)token;
    fwrite(text, 1, len, stdout); /* always whole UTF-8 code points */
    fflush(stdout);
    return 0;                     /* non-zero would stop the generation */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
        return 2;
    }
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 32);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.0); /* greedy */
    llm_model *m = NULL;
    llm_context *c = NULL;
    llm_session *s = NULL;
    llm_finish why = LLM_FINISH_NONE;
    llm_status st = llm_model_load_file(argv[1], o, &m);
    if (st == LLM_OK) st = llm_context_new(m, o, &c);
    if (st == LLM_OK) st = llm_session_new(c, o, &s);
    if (st == LLM_OK) st = llm_session_feed_text(s, argv[2], -1, LLM_FEED_ADD_BOS);
    if (st == LLM_OK) st = llm_session_generate(s, print_piece, NULL, &why);
    if (st != LLM_OK)
        fprintf(stderr, "error: %s: %s\n", llm_status_str(st), s ? llm_last_error(s) : llm_last_error(o));
    else
        printf("\n[finish reason %d]\n", (int)why);
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
    llm_options_free(o);
    return st == LLM_OK ? 0 : 1;
}
