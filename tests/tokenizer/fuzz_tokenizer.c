/* libFuzzer target for the tokenizer: the first input byte picks one of the shipped vocab files
 * (every tokenizer kind and pre-tokenizer) and the encode flags, the rest is the text, valid
 * UTF-8 or not. Encoding must succeed or report invalid UTF-8, and what it gives must decode.
 * The text is copied to an exact-size heap buffer so that AddressSanitizer sees any read past its
 * end. Build with -DLLM_FUZZ=ON using clang; run with LLM_FUZZ_VOCAB_DIR set to
 * ../shared/testdata/tokenizers/gguf-vocab. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const k_vocabs[] = {"llama-spm", "phi-3", "baichuan", "gpt-2", "falcon", "deepseek-llm",
                                       "deepseek-coder", "starcoder", "refact", "mpt", "gpt-neox", "bert-bge"};
enum { N_VOCABS = sizeof k_vocabs / sizeof k_vocabs[0] };

typedef struct loaded {
    gguf_source src;
    gguf_file *gf;
    llm_tokenizer *tok;
} loaded;

/* Loaded once for the whole run (never freed: the process ends with the fuzzer). */
static loaded g_vocab[N_VOCABS];

static llm_tokenizer *vocab(size_t i) {
    loaded *l = &g_vocab[i];
    if (l->tok) return l->tok;
    const char *dir = getenv("LLM_FUZZ_VOCAB_DIR");
    char path[1024];
    llm_err err;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir ? dir : "../shared/testdata/tokenizers/gguf-vocab",
             k_vocabs[i]);
    if (gguf_source_open_file(path, 1, &l->src, &err) != LLM_OK || gguf_parse(l->src.data, l->src.size, &l->gf, &err) != LLM_OK ||
        llm_tokenizer_new(l->gf, &l->tok, &err) != LLM_OK) {
        fprintf(stderr, "cannot load %s: %s (set LLM_FUZZ_VOCAB_DIR)\n", path, err.msg);
        abort();
    }
    return l->tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    llm_tokenizer *tok = vocab(data[0] % N_VOCABS);
    int add_bos = (data[0] / N_VOCABS) & 1, special = (data[0] / N_VOCABS / 2) & 1;
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    int32_t *ids = NULL;
    size_t n = 0;
    llm_err err;
    llm_status st = llm_tokenizer_encode(tok, text, size - 1, add_bos, special, &ids, &n, &err);
    if (st == LLM_OK) {
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= llm_tokenizer_n_vocab(tok)) abort();
        }
        char *out = NULL;
        if (llm_tokenizer_decode(tok, ids, n, special, &out, NULL, &err) != LLM_OK) abort();
        free(out);
    } else if (st != LLM_ERR_INVALID_UTF8) {
        abort();
    }
    free(ids);
    free(text);
    return 0;
}
