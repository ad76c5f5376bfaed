/* A GGUF with a vocabulary and no tensors (llama.cpp's ggml-vocab-*.gguf) through the public API:
 * it loads from a path, from memory and through reader callbacks; tokenizes the shipped test
 * vectors (.inp strings, .out ids, made without BOS and with special tokens parsed) exactly;
 * detokenizes; answers the token, metadata and size calls (0 for the network it lacks); and
 * refuses a context with LLM_ERR_UNSUPPORTED and a message that says why.
 *   test_vocab_only VOCAB_DIR
 * (tests/tokenizer/test_tokenizer_unit.c checks the same vectors through the internal tokenizer.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llm.h>

#include "check.h"
#include "read_file.h"

typedef struct vocab_set {
    const char *file;    /* ggml-vocab-<file>.gguf */
    const char *vectors; /* ggml-vocab-<vectors>.gguf.inp/.out; NULL: none shipped */
    int lossless;        /* byte-level BPE without normalization: decode(encode(s)) == s */
} vocab_set;

/* gpt-neox is mpt's vocabulary without mpt's NFC step; the vectors are NFC, so mpt's hold
 * (tests/tokenizer/test_vectors.py checks that the two vocabularies are the same). */
static const vocab_set k_sets[] = {
    {"llama-spm", "llama-spm", 0}, {"phi-3", "phi-3", 0},           {"gpt-2", "gpt-2", 1},
    {"falcon", "falcon", 1},       {"deepseek-llm", "deepseek-llm", 1}, {"deepseek-coder", "deepseek-coder", 1},
    {"starcoder", "starcoder", 1}, {"refact", "refact", 1},         {"mpt", "mpt", 1},
    {"gpt-neox", "mpt", 1},        {"bert-bge", "bert-bge", 0},     {"baichuan", NULL, 0},
};

/* ---- the vectors ---- */

typedef struct vectors {
    char *inp, *out;     /* file contents, cut in place */
    const char **text;   /* NUL-terminated strings (none contains a NUL) */
    int32_t **ids;
    size_t *n_ids;
    size_t n;
} vectors;

static void vectors_free(vectors *v) {
    for (size_t i = 0; i < v->n; i++) free(v->ids ? v->ids[i] : NULL);
    free(v->text);
    free(v->ids);
    free(v->n_ids);
    free(v->inp);
    free(v->out);
    memset(v, 0, sizeof *v);
}

/* .inp: each string followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per string. */
static int vectors_load(const char *dir, const char *name, vectors *v) {
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char path[4096];
    size_t len = 0;
    memset(v, 0, sizeof *v);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    if (!(v->inp = test_read_file(path, &len))) return -1;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    if (!(v->out = test_read_file(path, &len))) return -1;
    size_t cap = 0;
    for (const char *p = v->inp; (p = strstr(p, sep)) != NULL; p += sizeof sep - 1) cap++;
    v->text = calloc(cap ? cap : 1, sizeof *v->text);
    v->ids = calloc(cap ? cap : 1, sizeof *v->ids);
    v->n_ids = calloc(cap ? cap : 1, sizeof *v->n_ids);
    if (!v->text || !v->ids || !v->n_ids) return -1;
    char *p = v->inp, *line = v->out;
    for (size_t i = 0; i < cap; i++) {
        char *end = strstr(p, sep);
        *end = '\0';
        v->text[i] = p;
        p = end + sizeof sep - 1;
        char *nl = strchr(line, '\n');
        if (!nl) return -1;
        *nl = '\0';
        size_t n = 0;
        for (const char *q = line; *q; q++) n += *q == ' ';
        v->ids[i] = malloc((n ? n : 1) * sizeof **v->ids);
        if (!v->ids[i]) return -1;
        for (char *q = line; *q == ' ';) v->ids[i][v->n_ids[i]++] = (int32_t)strtol(q + 1, &q, 10);
        line = nl + 1;
        v->n = i + 1;
    }
    return 0;
}

/* ---- loading through the three paths ---- */

typedef struct mem_reader {
    const char *data;
    size_t size, pos;
} mem_reader;

static size_t rd_read(void *ud, void *buf, size_t n) {
    mem_reader *r = ud;
    if (n > r->size - r->pos) n = r->size - r->pos;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return n;
}

static int rd_seek(void *ud, uint64_t offset) {
    mem_reader *r = ud;
    if (offset > r->size) return -1;
    r->pos = (size_t)offset;
    return 0;
}

static uint64_t rd_size(void *ud) { return ((mem_reader *)ud)->size; }

enum { LOAD_FILE, LOAD_MEMORY, LOAD_READER, LOAD_WAYS };
static const char *const k_ways[] = {"file", "memory", "reader"};

static llm_model *load(int way, const char *path, const char *data, size_t size, llm_options *o) {
    llm_model *m = NULL;
    mem_reader r = {data, size, 0};
    llm_status st = way == LOAD_FILE     ? llm_model_load_file(path, o, &m)
                    : way == LOAD_MEMORY ? llm_model_load_memory(data, size, o, &m)
                                         : llm_model_load_reader(rd_read, rd_seek, rd_size, &r, o, &m);
    CHECK(st == LLM_OK && m, "%s through %s: %s (%s)", path, k_ways[way], llm_status_str(st), llm_last_error(o));
    return m;
}

/* ---- the checks on one loaded model ---- */

static void check_vectors(const llm_model *m, const vocab_set *s, const char *way, const vectors *v) {
    size_t bad = 0;
    for (size_t i = 0; i < v->n; i++) {
        int32_t got[1024];
        size_t n = 0;
        const llm_status st = llm_tokenize(m, v->text[i], -1, LLM_TOKENIZE_SPECIAL, got, 1024, &n);
        if (st != LLM_OK || n != v->n_ids[i] || (n && memcmp(got, v->ids[i], n * sizeof *got) != 0)) {
            if (bad++ < 3) fprintf(stderr, "%s/%s: vector %zu (%s): status %d, %zu ids\n", s->file, way, i,
                                   v->text[i], (int)st, n);
            continue;
        }
        char text[8192];
        size_t need = 0;
        const llm_status dst = llm_detokenize(m, got, n, 0, text, sizeof text, &need);
        if (dst != LLM_OK || (s->lossless && strcmp(text, v->text[i]) != 0)) {
            if (bad++ < 3) fprintf(stderr, "%s/%s: vector %zu decodes to '%s' (status %d)\n", s->file, way, i,
                                   dst == LLM_OK ? text : "", (int)dst);
        }
    }
    CHECK(bad == 0, "%s through %s: %zu of %zu vectors differ", s->file, way, bad, v->n);
}

static void check_metadata(const llm_model *m, const char *file) {
    CHECK(llm_model_n_params(m) == 0 && llm_model_size_bytes(m) == 0 && llm_model_repacked_bytes(m) == 0,
          "%s: no weights, yet %llu params, %llu bytes", file, (unsigned long long)llm_model_n_params(m),
          (unsigned long long)llm_model_size_bytes(m));
    CHECK(llm_model_n_layer(m) == 0 && llm_model_n_embd(m) == 0 && llm_model_n_ctx_train(m) == 0,
          "%s: network sizes %d %d %d", file, (int)llm_model_n_layer(m), (int)llm_model_n_embd(m),
          (int)llm_model_n_ctx_train(m));
    /* n_vocab is the tokenizer's: its last token has a piece, the next one does not */
    const int32_t nv = llm_model_n_vocab(m);
    char piece[256];
    size_t need = 0;
    CHECK(nv > 1000, "%s: n_vocab %d", file, (int)nv);
    CHECK(llm_token_to_piece(m, nv - 1, LLM_DETOKENIZE_SPECIAL, piece, sizeof piece, &need) == LLM_OK,
          "%s: token %d", file, (int)(nv - 1));
    CHECK(llm_token_to_piece(m, nv, LLM_DETOKENIZE_SPECIAL, piece, sizeof piece, &need) == LLM_ERR_INVALID_ARGUMENT,
          "%s: token n_vocab", file);
    int64_t id = -1;
    if (llm_model_meta_int(m, "tokenizer.ggml.bos_token_id", &id) == LLM_OK)
        CHECK(llm_token_bos(m) == (int32_t)id, "%s: bos %d, metadata %lld", file, (int)llm_token_bos(m), (long long)id);
    if (llm_model_meta_int(m, "tokenizer.ggml.eos_token_id", &id) == LLM_OK) {
        CHECK(llm_token_eos(m) == (int32_t)id, "%s: eos %d, metadata %lld", file, (int)llm_token_eos(m), (long long)id);
        CHECK(llm_token_is_eog(m, (int32_t)id), "%s: eos is not end-of-generation", file);
    }
    char arch[64];
    CHECK(llm_model_meta_count(m) > 3 && llm_model_meta_key(m, 0) != NULL, "%s: metadata keys", file);
    CHECK(llm_model_meta_str(m, "general.architecture", arch, sizeof arch, &need) == LLM_OK &&
              strcmp(arch, llm_model_architecture(m)) == 0,
          "%s: general.architecture", file);
}

/* A context needs weights: LLM_ERR_UNSUPPORTED, with or without options, and nothing created. */
static void check_no_context(const llm_model *m, const char *file) {
    llm_options *o = llm_options_new();
    llm_context *c = (llm_context *)(uintptr_t)1;
    llm_status st = llm_context_new(m, o, &c);
    CHECK(st == LLM_ERR_UNSUPPORTED && c == NULL, "%s: llm_context_new gave %s", file, llm_status_str(st));
    CHECK(strstr(llm_last_error(o), "no weights (vocabulary only)") != NULL, "%s: message '%s'", file,
          llm_last_error(o));
    llm_options_free(o);
    st = llm_context_new(m, NULL, &c);
    CHECK(st == LLM_ERR_UNSUPPORTED && c == NULL, "%s: llm_context_new (no options) gave %s", file,
          llm_status_str(st));
}

/* phi-3's architecture picks the built-in Phi-3 chat format; the others have no template and no
 * format to guess, which is a status, not a failure of the vocabulary-only model. */
static void check_chat(const llm_model *m, const char *file) {
    const char *roles[] = {"user"}, *contents[] = {"Hi"};
    char buf[256];
    size_t need = 0;
    const llm_status st = llm_chat_render(m, roles, contents, 1, 1, buf, sizeof buf, &need);
    if (strcmp(file, "phi-3") == 0)
        CHECK(st == LLM_OK && strstr(buf, "<|user|>") && strstr(buf, "<|assistant|>"), "%s: chat render %s '%s'",
              file, llm_status_str(st), st == LLM_OK ? buf : "");
    else
        CHECK(st == LLM_OK || st == LLM_ERR_UNSUPPORTED, "%s: chat render %s", file, llm_status_str(st));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_vocab_only VOCAB_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    for (size_t k = 0; k < sizeof k_sets / sizeof k_sets[0]; k++) {
        const vocab_set *s = &k_sets[k];
        char path[4096];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, s->file);
        size_t size = 0;
        char *data = test_read_file(path, &size);
        CHECK(data != NULL, "cannot read %s", path);
        if (!data) continue;
        vectors v;
        if (s->vectors) CHECK(vectors_load(dir, s->vectors, &v) == 0 && v.n > 0, "%s: vectors", s->vectors);
        else memset(&v, 0, sizeof v);
        for (int way = 0; way < LOAD_WAYS; way++) {
            llm_options *o = llm_options_new();
            llm_model *m = load(way, path, data, size, o);
            llm_options_free(o);
            if (!m) continue;
            check_vectors(m, s, k_ways[way], &v);
            if (way == LOAD_FILE) {
                check_metadata(m, s->file);
                check_no_context(m, s->file);
                check_chat(m, s->file);
            }
            llm_model_free(m);
        }
        printf("%s: %zu vectors\n", s->file, v.n);
        vectors_free(&v);
        free(data);
    }
    return check_summary("test_vocab_only");
}
