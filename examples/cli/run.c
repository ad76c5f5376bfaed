/* llm run: continue a prompt, streaming the text to stdout. */
#include <stdio.h>
#include <string.h>

#include "common.h"

#define RUN_GROUPS (CLI_G_MODEL | CLI_G_THREADS | CLI_G_CTX | CLI_G_SAMPLING | CLI_G_PROMPT | CLI_G_NOSPECIAL)
#define RUN_DEFAULT_N 256

static void run_usage(FILE *f) {
    fprintf(f, "usage: llm run [-m MODEL] -p TEXT [-n N] [--temp T] [--seed S] [--top-k K] [--top-p P]\n"
               "               [--min-p P] [--repeat-penalty R] [-t THREADS] [-c CTX]\n"
               "Prints the continuation of TEXT as it is generated (default -n %d), then\n"
               "token counts and speeds on stderr. Special-token text in TEXT (e.g. <|im_start|>)\n"
               "becomes those tokens, so a prompt formatted for a chat model can be pasted;\n"
               "--no-special takes it as plain text. With --grammar or --json-schema the output\n"
               "is a string of that grammar (without -n: generated until it is complete).\n\n",
            RUN_DEFAULT_N);
    cli_print_options(f, RUN_GROUPS);
}

int cli_run(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, RUN_GROUPS, &a);
    if (pr == 1) {
        run_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    if (!a.prompt) {
        fprintf(stderr, "llm run: missing -p TEXT\n\n");
        run_usage(stderr);
        return CLI_ERR_USAGE;
    }
    if (a.grammar_file && a.schema_file) {
        fprintf(stderr, "llm run: give --grammar or --json-schema, not both\n");
        return CLI_ERR_USAGE;
    }
    /* a constrained output is wanted whole: without -n it runs until the grammar's string is
     * complete (or the context is full), not to the default length */
    if (!a.has_n_predict && !a.grammar_file && !a.schema_file) {
        a.n_predict = RUN_DEFAULT_N;
        a.has_n_predict = 1;
    }

    cli_env env;
    if (cli_open(&a, 1, &env)) return CLI_ERR_RUNTIME;
    int rc = CLI_OK;
    int flags = LLM_FEED_ADD_BOS | (a.no_special ? 0 : LLM_FEED_SPECIAL);

    double t0 = cli_now();
    llm_status st = llm_session_feed_text(env.session, a.prompt, -1, flags);
    double t1 = cli_now();
    if (st != LLM_OK) {
        cli_report("cannot evaluate the prompt", st, env.session);
        cli_close(&env);
        return CLI_ERR_RUNTIME;
    }
    int32_t n_prompt = llm_session_n_past(env.session);

    int n_gen = 0;
    llm_finish finish = LLM_FINISH_NONE;
    while (finish == LLM_FINISH_NONE) {
        int32_t tok = -1;
        const char *text = NULL;
        size_t len = 0;
        st = llm_session_step(env.session, &tok, &text, &len, &finish);
        if (st != LLM_OK) {
            fflush(stdout);
            fprintf(stderr, "\n");
            cli_report("generation failed", st, env.session);
            rc = CLI_ERR_RUNTIME;
            break;
        }
        if (tok >= 0) n_gen++;
        if (text && len) {
            fwrite(text, 1, len, stdout);
            fflush(stdout);
        }
        if (a.n_predict > 0 && n_gen >= a.n_predict && finish == LLM_FINISH_NONE) {
            finish = LLM_FINISH_LENGTH;
            break;
        }
    }
    double t2 = cli_now();
    fputc('\n', stdout);
    fflush(stdout);

    double pre = t1 - t0, dec = t2 - t1;
    static const char *reasons[] = {"none",         "end of text", "length (-n)",
                                    "stop string",  "context full", "aborted",
                                    "the grammar allows no token here"};
    fprintf(stderr,
            "prompt: %d tokens, generated: %d tokens, prefill: %.2f t/s, decode: %.2f t/s (%s)\n",
            (int)n_prompt, n_gen, pre > 0 ? n_prompt / pre : 0.0, dec > 0 ? n_gen / dec : 0.0,
            (unsigned)finish < sizeof reasons / sizeof reasons[0] ? reasons[finish] : "?");
    cli_close(&env);
    return rc;
}
