/* llm_model_estimate_memory's error paths and a file without weights (a vocabulary):
 *   test_memory_errors TESTDATA_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm.h"

static int g_fail = 0;
#define CHECK(cond, ...)                                                                                             \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
            fprintf(stderr, __VA_ARGS__);                                                                            \
            fprintf(stderr, "\n");                                                                                   \
            g_fail = 1;                                                                                              \
        }                                                                                                            \
    } while (0)

int main(int argc, char **argv) {
    const char *testdata = argc > 1 ? argv[1] : "../shared/testdata";
    llm_options *o = llm_options_new();
    llm_memory_estimate e;
    memset(&e, 0, sizeof e);
    e.size = sizeof e;

    CHECK(llm_model_estimate_memory("x.gguf", o, NULL) == LLM_ERR_INVALID_ARGUMENT, "NULL estimate");
    CHECK(strstr(llm_last_error(o), "NULL") != NULL, "message: %s", llm_last_error(o));
    CHECK(llm_model_estimate_memory(NULL, o, &e) == LLM_ERR_INVALID_ARGUMENT, "NULL path");
    CHECK(llm_model_estimate_memory(NULL, NULL, &e) == LLM_ERR_INVALID_ARGUMENT, "NULL path, NULL options");
    e.size = 8;
    CHECK(llm_model_estimate_memory("x.gguf", o, &e) == LLM_ERR_INVALID_ARGUMENT, "size too small");
    CHECK(strstr(llm_last_error(o), "size") != NULL, "message: %s", llm_last_error(o));
    e.size = sizeof e;
    CHECK(llm_model_estimate_memory("/nonexistent/dir/model.gguf", o, &e) == LLM_ERR_IO, "missing file");
    CHECK(llm_last_error(o)[0] != 0, "missing file: no message");

    /* a file that is not GGUF */
    char path[4096];
    snprintf(path, sizeof path, "memory_errors_%d.bin", (int)getpid());
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        for (int i = 0; i < 1000; i++) fputs("not a model ", f);
        fclose(f);
        CHECK(llm_model_estimate_memory(path, o, &e) == LLM_ERR_FORMAT, "not GGUF: %s", llm_last_error(o));
        remove(path);
    }

    /* a vocabulary without weights: the header's and the tokenizer's bytes only */
    snprintf(path, sizeof path, "%s/tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf", testdata);
    memset(&e, 0xff, sizeof e);
    e.size = sizeof e + 16; /* a newer caller's struct: the fields the library does not know are zeroed */
    unsigned char bigger[sizeof e + 16];
    memset(bigger, 0xff, sizeof bigger);
    memcpy(bigger, &e, sizeof e);
    llm_memory_estimate *eb = (llm_memory_estimate *)(void *)bigger;
    if (llm_model_estimate_memory(path, o, eb) == LLM_OK) {
        CHECK(eb->size == sizeof e + 16, "size kept");
        CHECK(eb->weights_bytes == 0 && eb->repacked_bytes == 0 && eb->kv_bytes_per_session == 0, "no weights");
        CHECK(eb->model_overhead_bytes > 32000u * 16 && eb->total_bytes == eb->model_overhead_bytes,
              "vocabulary: overhead %llu total %llu", (unsigned long long)eb->model_overhead_bytes,
              (unsigned long long)eb->total_bytes);
        for (size_t i = sizeof e; i < sizeof bigger; i++) CHECK(bigger[i] == 0, "byte %zu past the struct not zeroed", i);
    } else {
        printf("SKIP the vocabulary file: %s\n", llm_last_error(o));
    }
    /* options of another handle type */
    CHECK(llm_model_estimate_memory(path, (llm_options *)(void *)bigger, &e) == LLM_ERR_INVALID_ARGUMENT, "bad options");
    llm_options_free(o);
    if (!g_fail) printf("OK\n");
    return g_fail;
}
