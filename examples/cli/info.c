/* llm info: a model's properties and metadata. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "common.h"

#define INFO_GROUPS (CLI_G_MODEL | CLI_G_THREADS | CLI_G_CTX)

static void info_usage(FILE *f) {
    fprintf(f, "usage: llm info [-m MODEL] [-c N] [-t N]\n"
               "Prints the model's architecture, size and dimensions, the memory it needs with one\n"
               "session of N positions (llm_model_estimate_memory), then every metadata key\n"
               "with its value (arrays are shown as [array]), then the backends (CPU, and the CUDA\n"
               "plugin libllm-cuda.so: where it was loaded from or why not) and their devices.\n\n");
    cli_print_options(f, INFO_GROUPS);
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

static void print_value(const llm_model *m, const char *key) {
    int64_t iv;
    double fv;
    if (llm_model_meta_int(m, key, &iv) == LLM_OK) {
        printf("%" PRId64, iv);
        return;
    }
    if (llm_model_meta_float(m, key, &fv) == LLM_OK) {
        printf("%g", fv);
        return;
    }
    char small[512];
    size_t need = 0;
    llm_status st = llm_model_meta_str(m, key, small, sizeof small, &need);
    if (st == LLM_OK) {
        print_escaped(small, need);
        return;
    }
    if (st == LLM_ERR_BUFFER_TOO_SMALL) {
        char *buf = malloc(need + 1);
        if (buf && llm_model_meta_str(m, key, buf, need + 1, &need) == LLM_OK) {
            print_escaped(buf, need);
            free(buf);
            return;
        }
        free(buf);
    }
    fputs("[array]", stdout);
}

static void human_count(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.2f B", n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.2f M", n / 1e6);
    else if (n >= 1000ull) snprintf(buf, cap, "%.2f K", n / 1e3);
    else snprintf(buf, cap, "%" PRIu64, n);
}

/* The backends (CPU, CUDA plugin) and their devices; for an unavailable one, why. */
static void print_backends(void) {
    static const llm_backend list[] = {LLM_BACKEND_CPU, LLM_BACKEND_CUDA};
    printf("backends:\n");
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        char text[2048];
        size_t need = 0;
        if (llm_backend_describe(list[i], text, sizeof text, &need) != LLM_OK) text[0] = 0;
        printf("  %s: %s (%s)\n", llm_backend_name(list[i]),
               llm_backend_available(list[i]) ? "available" : "not available", text);
        for (int32_t d = 0; d < llm_backend_device_count(list[i]); d++) {
            uint64_t total = 0, free_b = 0;
            if (llm_backend_device_name(list[i], d, text, sizeof text, &need) != LLM_OK) text[0] = 0;
            llm_backend_device_memory(list[i], d, &total, &free_b);
            printf("    device %d: %s, %.0f MiB (%.0f MiB free)\n", (int)d, text, total / 1048576.0,
                   free_b / 1048576.0);
        }
    }
}

/* What the file needs with one context and one session that fills it (-c and -t apply). */
static void print_memory(const cli_args *a, llm_options *o) {
    char buf[4096];
    const char *path = cli_model_path(a, buf, sizeof buf);
    llm_memory_estimate e;
    memset(&e, 0, sizeof e);
    e.size = sizeof e;
    if (!path || llm_model_estimate_memory(path, o, &e) != LLM_OK) return;
    const double mb = 1048576.0;
    printf("memory:         %.1f MiB with one session of %d positions\n", e.total_bytes / mb,
           e.kv_bytes_per_token ? (int)(e.kv_bytes_per_session / e.kv_bytes_per_token) : 0);
    printf("  weights:      %.1f MiB resident of %.1f MiB, repacked copy %.1f MiB, other %.1f MiB\n",
           e.weights_resident / mb, e.weights_bytes / mb, e.repacked_bytes / mb, e.model_overhead_bytes / mb);
    printf("  per context:  %.1f MiB; per session: KV %.1f MiB (%.1f KiB per position), scratch %.1f MiB\n",
           e.context_bytes / mb, e.kv_bytes_per_session / mb, e.kv_bytes_per_token / 1024.0, e.scratch_bytes / mb);
}

int cli_info(int argc, char **argv) {
    cli_args a;
    int pr = cli_parse(argc, argv, INFO_GROUPS, &a);
    if (pr == 1) {
        info_usage(stdout);
        return CLI_OK;
    }
    if (pr < 0) return CLI_ERR_USAGE;
    llm_options *o = cli_make_options(&a);
    llm_model *m = o ? cli_load_model(&a, o) : NULL;
    if (!m) {
        llm_options_free(o);
        return CLI_ERR_RUNTIME;
    }
    char params[32];
    uint64_t np = llm_model_n_params(m), sz = llm_model_size_bytes(m);
    human_count(np, params, sizeof params);
    printf("architecture:   %s\n", llm_model_architecture(m));
    printf("name:           %s\n", llm_model_name(m));
    if (np == 0) {
        /* a file without tensors (e.g. a ggml-vocab-*.gguf): no network to describe */
        printf("weights:        none (vocabulary only: it can tokenize but not run)\n");
        printf("vocab:          %d\n", (int)llm_model_n_vocab(m));
    } else {
        printf("parameters:     %s (%" PRIu64 ")\n", params, np);
        printf("size:           %.2f MiB (%" PRIu64 " bytes, %.2f bits per weight)\n", sz / 1048576.0, sz,
               8.0 * (double)sz / (double)np);
        const uint64_t rp = llm_model_repacked_bytes(m);
        printf("repacked:       %.2f MiB (%" PRIu64 " bytes copied into the CPU kernels' layout%s)\n", rp / 1048576.0,
               rp, rp ? "; their mapped file pages released" : "");
        printf("vocab:          %d\n", (int)llm_model_n_vocab(m));
        printf("context length: %d\n", (int)llm_model_n_ctx_train(m));
        printf("layers:         %d\n", (int)llm_model_n_layer(m));
        printf("embedding size: %d\n", (int)llm_model_n_embd(m));
        print_memory(&a, o); /* llm_model_estimate_memory */
    }
    int32_t nk = llm_model_meta_count(m);
    printf("metadata:       %d keys\n", (int)nk);
    for (int32_t i = 0; i < nk; i++) {
        const char *key = llm_model_meta_key(m, i);
        if (!key) continue;
        printf("  %s = ", key);
        print_value(m, key);
        putchar('\n');
    }
    print_backends();
    llm_model_free(m);
    llm_options_free(o);
    return CLI_OK;
}
