/* llm quantize: write a copy of a GGUF model with its weight matrices in another type. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"


#define QUANT_GROUPS (CLI_G_THREADS | CLI_G_POSITIONAL)

static void quant_usage(FILE *f) {
    fprintf(f, "usage: llm quantize IN OUT TYPE [-t THREADS]\n"
               "Writes a copy of the GGUF model IN to OUT with its weight matrices converted to TYPE:\n"
               "  F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K, or the mixes Q4_K_M Q5_K_M\n"
               "  (output matrix and about half of the attn_v / ffn_down matrices at Q6_K).\n"
               "1-D tensors (norms) and metadata are copied as they are; a matrix whose rows do not\n"
               "fit the type's block size gets a type that fits (Q4_K->Q5_0, Q5_K->Q5_1,\n"
               "Q6_K->Q8_0, else F16) with a warning.\n\n");
    cli_print_options(f, QUANT_GROUPS);
}

typedef struct quant_ui {
    int verbose;
    int tty;
    int last_pct;
} quant_ui;

/* Errors are printed once, by cli_report; warnings and the summary always; debug with -v. */
static void quant_log(void *user_data, llm_log_level level, const char *message) {
    const quant_ui *ui = user_data;
    if (level == LLM_LOG_ERROR || (level > LLM_LOG_INFO && !ui->verbose)) return;
    if (ui->tty && ui->last_pct >= 0) fputc('\n', stderr);
    size_t n = strlen(message);
    fprintf(stderr, "llm quantize: %s%s", message, n && message[n - 1] == '\n' ? "" : "\n");
}

static int quant_progress(void *user_data, float p) {
    quant_ui *ui = user_data;
    const int pct = (int)(p * 100.0f);
    if (ui->tty && pct != ui->last_pct) {
        fprintf(stderr, "\rquantizing: %3d%%", pct);
        if (pct >= 100) fputc('\n', stderr);
        fflush(stderr);
        ui->last_pct = pct >= 100 ? -1 : pct;
    }
    return 1;
}

int cli_quantize(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, QUANT_GROUPS, &a);
    if (pr == 1) {
        quant_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    if (a.n_positional != 3) {
        fprintf(stderr, "llm quantize: expected IN OUT TYPE, got %d argument%s\n\n", a.n_positional,
                a.n_positional == 1 ? "" : "s");
        quant_usage(stderr);
        return CLI_ERR_USAGE;
    }
    llm_options *o = llm_options_new();
    if (!o) {
        fprintf(stderr, "llm: out of memory\n");
        return CLI_ERR_RUNTIME;
    }
    quant_ui ui = {a.verbose, isatty(2), -1};
    llm_options_set_log(o, quant_log, &ui);
    llm_options_set_progress(o, quant_progress, &ui);
    llm_status st = LLM_OK;
    if (a.threads > 0) st = llm_options_set_int(o, LLM_OPT_THREADS, a.threads);
    if (st != LLM_OK) {
        cli_report("--threads", st, o);
        llm_options_free(o);
        return CLI_ERR_USAGE;
    }
    st = llm_quantize(a.positional[0], a.positional[1], a.positional[2], o);
    if (st != LLM_OK) {
        if (ui.tty && ui.last_pct >= 0) fputc('\n', stderr);
        cli_report("quantize", st, o);
    }
    llm_options_free(o);
    return st == LLM_OK ? CLI_OK : st == LLM_ERR_INVALID_ARGUMENT ? CLI_ERR_USAGE : CLI_ERR_RUNTIME;
}
