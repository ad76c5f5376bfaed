/* Shared pieces of the `llm` command-line tool: option parsing, model discovery, loading. */
#ifndef LLM_CLI_COMMON_H
#define LLM_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llm.h"

/* Exit codes. */
enum { CLI_OK = 0, CLI_ERR_RUNTIME = 1, CLI_ERR_USAGE = 2 };

/* Option groups a subcommand accepts (bit mask). */
enum {
    CLI_G_MODEL = 1 << 0,    /* -m */
    CLI_G_THREADS = 1 << 1,  /* -t */
    CLI_G_CTX = 1 << 2,      /* -c / --ctx */
    CLI_G_SAMPLING = 1 << 3, /* --temp --seed --top-k --top-p --min-p --repeat-penalty ... -n */
    CLI_G_PROMPT = 1 << 4,   /* -p */
    CLI_G_SYSTEM = 1 << 5,   /* --system */
    CLI_G_TOKENIZE = 1 << 6, /* --ids --no-bos */
    CLI_G_SPECIAL = 1 << 7,  /* --special */
    CLI_G_PPL = 1 << 8,      /* -f --chunks */
    CLI_G_POSITIONAL = 1 << 9,
    CLI_G_NOSPECIAL = 1 << 10, /* --no-special */
    CLI_G_TEMPLATE = 1 << 11,  /* --template --messages --tools --var --add-generation-prompt */
    CLI_G_STATE = 1 << 12      /* --save --load (saved sessions) */
};

#define CLI_MAX_POSITIONAL 64

typedef struct cli_args {
    const char *model;  /* -m, NULL: default model */
    const char *prompt; /* -p */
    const char *file;   /* -f */
    const char *system; /* --system */
    const char *grammar_file, *schema_file; /* --grammar, --json-schema */
    const char *save_file, *load_file;      /* --save, --load */
    int threads;        /* -t, 0: library default */
    int ctx;            /* -c/--ctx, 0: library default (perplexity: 512) */
    int precision;      /* --precision: 0 library default, else 1 + llm_precision */
    int kv_type;        /* --kv-type: 0 library default, else 1 + llm_kv_type */
    int context_shift;  /* --context-shift: 0 default (chat: shift), else 1 + llm_context_shift */
    int n_predict;      /* -n, <= 0: until end of generation or context full */
    int has_n_predict;
    int chunks;         /* --chunks, 0: all */
    int verbose;
    int ids, no_bos, special, no_special;
    /* llm template */
    const char *template_file, *messages_file, *tools_file;
    const char *vars[CLI_MAX_POSITIONAL];
    int n_vars;
    int add_generation_prompt;
    /* set by the subcommand: which default model (chat: the instruction-tuned one), and whether
     * to keep quiet about it */
    int chat_default, quiet_default;
    /* sampling, each applied only when given */
    double temp, top_p, min_p, repeat_penalty, freq_penalty, presence_penalty;
    int64_t top_k, seed, repeat_last_n;
    int has_temp, has_top_p, has_min_p, has_repeat_penalty, has_freq_penalty, has_presence_penalty;
    int has_top_k, has_seed, has_repeat_last_n;
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
} cli_args;

/* Parses argv[1..argc) (argv[0] is the subcommand name). Returns -1 after printing an error,
 * 1 when --help was asked (usage is printed by the caller), 0 otherwise. */
int cli_parse(int argc, char **argv, unsigned groups, cli_args *out);

/* Text describing the options of the given groups, for usage messages. */
void cli_print_options(FILE *f, unsigned groups);

/* Finds the model path: args->model, else $LLM_MODEL, else the installed default model (SmolLM2
 * 135M Instruct when args->chat_default, else Gemma 3 270M), saying on stderr which file it took.
 * Prints how to install it and returns NULL when there is none. buf holds the result. */
const char *cli_model_path(const cli_args *args, char *buf, size_t cap);

/* Builds an llm_options with the parsed settings (threads, context, sampling, max tokens) and
 * a log callback printing warnings. Returns NULL after printing an error. */
llm_options *cli_make_options(const cli_args *args);

/* Loads the model named by args (or the default one); prints the error and returns NULL on
 * failure. */
llm_model *cli_load_model(const cli_args *args, llm_options *options);

/* Everything a generating subcommand needs, opened from args (session may be skipped by passing
 * want_session = 0). Returns 0, or -1 after printing the error (nothing stays open). */
typedef struct cli_env {
    llm_options *options;
    llm_model *model;
    llm_context *context;
    llm_session *session;
} cli_env;
int cli_open(const cli_args *args, int want_session, cli_env *env);
/* Frees whatever env holds (in the right order). */
void cli_close(cli_env *env);

/* Prints "llm: <what>: <status text>: <detail>" to stderr. */
void cli_report(const char *what, llm_status st, const void *handle);

/* Wall clock in seconds. */
double cli_now(void);

/* Reads a whole file (NUL-terminated); NULL after printing an error. */
char *cli_read_file(const char *path, size_t *len);

/* Subcommands. argv[0] is the subcommand name. */
int cli_run(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_perplexity(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_quantize(int argc, char **argv);
int cli_template(int argc, char **argv);

/* Splits "--name=value" into name (copied into name[0..cap), truncated) and returns a pointer to
 * value; any other argument is copied whole and NULL is returned. */
const char *cli_split_option(const char *arg, char *name, size_t cap);

#endif
