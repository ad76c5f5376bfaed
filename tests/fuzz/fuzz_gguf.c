/* libFuzzer target for the GGUF parser. The input is copied to an exact-size heap buffer so that
 * AddressSanitizer sees any read past its end; successful parses are walked so that bad pointers
 * they hold are touched too. Build with -DLLM_FUZZ=ON using clang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    gguf_file *f = NULL;
    llm_err err;
    if (gguf_parse(copy, size, &f, &err) == LLM_OK) {
        volatile unsigned acc = 0;
        for (uint64_t i = 0; i < f->n_kv; i++) {
            const gguf_kv *kv = &f->kv[i];
            int64_t v;
            double d;
            gguf_str s;
            if (gguf_find_kv(f, kv->key_z) != kv) abort(); /* the index must find every key */
            if (gguf_get_int(f, kv->key_z, &v) == LLM_OK) acc += (unsigned)v;
            if (gguf_get_float(f, kv->key_z, &d) == LLM_OK) acc += d > 0;
            if (kv->val.type == GGUF_STRING && kv->val.v.str.len) acc += (unsigned char)kv->val.v.str.ptr[0];
            if (kv->val.type == GGUF_ARRAY && kv->val.v.arr.count) {
                uint64_t last = kv->val.v.arr.count - 1;
                if (gguf_arr_int(&kv->val, last, &v) == LLM_OK) acc += (unsigned)v;
                if (gguf_arr_float(&kv->val, last, &d) == LLM_OK) acc += d > 0;
                if (gguf_arr_str(&kv->val, last, &s) == LLM_OK && s.len) acc += (unsigned char)s.ptr[s.len - 1];
            }
        }
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            if (gguf_find_tensor(f, t->name) != t) abort();
            acc += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)acc;
        gguf_free(f);
    }
    free(copy);
    return 0;
}
