/* llm chat: a conversation read line by line from stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define CHAT_GROUPS (CLI_G_MODEL | CLI_G_THREADS | CLI_G_CTX | CLI_G_SAMPLING | CLI_G_SYSTEM | CLI_G_STATE)

static void chat_usage(FILE *f) {
    fprintf(f, "usage: llm chat [-m MODEL] [--system TEXT] [sampling options] [-t THREADS] [-c CTX]\n"
               "                [--load FILE] [--save FILE]\n"
               "Reads one user message per line from stdin and streams the replies to stdout.\n"
               "'/reset' starts a new conversation, '/exit' or end of input quits.\n"
               "--save FILE keeps the conversation in FILE; --load FILE resumes it (same model).\n\n");
    cli_print_options(f, CHAT_GROUPS);
}

static int print_piece(void *user_data, const char *text, size_t len, int32_t token) {
    (void)user_data;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int start_conversation(llm_session *s, const char *system) {
    if (!system) return 0;
    llm_status st = llm_session_chat(s, "system", system);
    if (st != LLM_OK) {
        cli_report("cannot add the system message", st, s);
        return -1;
    }
    return 0;
}

/* --save: writes the session's state (a failure is reported, the chat goes on). */
static int save_state(llm_session *s, const char *path) {
    if (!path) return 0;
    llm_status st = llm_session_save_file(s, path);
    if (st != LLM_OK) {
        cli_report("cannot save the conversation", st, s);
        return -1;
    }
    return 0;
}

int cli_chat(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, CHAT_GROUPS, &a);
    if (pr == 1) {
        chat_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    a.chat_default = 1;

    cli_env env;
    if (cli_open(&a, 1, &env)) return CLI_ERR_RUNTIME;
    int rc = CLI_OK;
    const int interactive = isatty(STDIN_FILENO);
    if (a.load_file) {
        llm_status st = llm_session_load_file(env.session, a.load_file);
        if (st != LLM_OK) {
            cli_report("cannot resume the conversation", st, env.session);
            cli_close(&env);
            return CLI_ERR_RUNTIME;
        }
        fprintf(stderr, "llm chat: resumed the conversation saved in %s (%d tokens)\n", a.load_file,
                (int)llm_session_n_past(env.session));
    } else if (start_conversation(env.session, a.system)) {
        cli_close(&env);
        return CLI_ERR_RUNTIME;
    }

    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (interactive) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            llm_status st = llm_session_reset(env.session);
            if (st != LLM_OK) {
                cli_report("cannot reset the session", st, env.session);
                rc = CLI_ERR_RUNTIME;
                break;
            }
            if (start_conversation(env.session, a.system)) {
                rc = CLI_ERR_RUNTIME;
                break;
            }
            if (interactive) fputs("(new conversation)\n", stderr);
            continue;
        }
        llm_status st = llm_session_chat(env.session, "user", line);
        if (st == LLM_ERR_CONTEXT_FULL) {
            fprintf(stderr, "llm chat: the conversation no longer fits in the context; "
                            "type /reset to start a new one\n");
            continue;
        }
        if (st != LLM_OK) {
            cli_report("cannot add the message", st, env.session);
            rc = CLI_ERR_RUNTIME;
            break;
        }
        llm_finish finish = LLM_FINISH_NONE;
        st = llm_session_generate(env.session, print_piece, NULL, &finish);
        fputc('\n', stdout);
        fflush(stdout);
        if (st != LLM_OK) {
            cli_report("generation failed", st, env.session);
            rc = CLI_ERR_RUNTIME;
            break;
        }
        if (finish == LLM_FINISH_CONTEXT)
            fprintf(stderr, "llm chat: context full; type /reset to start a new conversation\n");
        save_state(env.session, a.save_file);
    }
    if (rc == CLI_OK && save_state(env.session, a.save_file)) rc = CLI_ERR_RUNTIME;
    free(line);
    cli_close(&env);
    return rc;
}
