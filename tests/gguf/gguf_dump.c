/* gguf_dump: prints what the parser sees in a GGUF file, one fact per line, so that an independent
 * reader (the Python gguf package, see test_gguf_vs_python.py) can check it line by line.
 *
 *   version V | alignment A | data_offset D
 *   kv KEY TYPE VALUE                        strings as hex, floats with %.17g, bools as 0/1
 *   kv KEY array ELEMTYPE COUNT [FIRST LAST]  FIRST/LAST formatted like scalars (not for nested)
 *   tensor NAME TYPEID NE0,NE1,.. ABS_OFFSET NBYTES
 *
 * Usage: gguf_dump [--read] FILE   (--read: heap read instead of mmap) */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"

static void print_hex(const gguf_str *s) {
    if (s->len == 0) fputs("-", stdout); /* keeps the field count fixed for empty strings */
    for (uint64_t i = 0; i < s->len; i++) printf("%02x", (unsigned char)s->ptr[i]);
}

static void print_scalar(const gguf_value *v) {
    switch (v->type) {
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64: printf("%" PRId64, v->v.i); break;
    case GGUF_F32: case GGUF_F64: printf("%.17g", v->v.f); break;
    case GGUF_STRING: print_hex(&v->v.str); break;
    default: printf("%" PRIu64, v->v.u); break;
    }
}

static void print_elem(const gguf_value *arr, uint64_t i) {
    gguf_vtype t = arr->v.arr.elem_type;
    if (t == GGUF_STRING) {
        gguf_str s;
        if (gguf_arr_str(arr, i, &s) == LLM_OK) print_hex(&s);
    } else if (t == GGUF_F32 || t == GGUF_F64) {
        double d = 0;
        gguf_arr_float(arr, i, &d);
        printf("%.17g", d);
    } else if (t == GGUF_U64) {
        /* u64 above INT64_MAX is not an int64: read the raw little-endian bytes instead. */
        const uint8_t *p = arr->v.arr.data + i * 8;
        uint64_t u = 0;
        for (int b = 7; b >= 0; b--) u = (u << 8) | p[b];
        printf("%" PRIu64, u);
    } else {
        int64_t x = 0;
        gguf_arr_int(arr, i, &x);
        printf("%" PRId64, x);
    }
}

int main(int argc, char **argv) {
    int use_mmap = 1;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--read") == 0) use_mmap = 0;
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: gguf_dump [--read] FILE\n");
        return 2;
    }
    llm_err err;
    llm_err_clear(&err);
    gguf_source src;
    if (gguf_source_open_file(path, use_mmap, &src, &err) != LLM_OK) {
        fprintf(stderr, "error %d %s\n", err.code, err.msg);
        return 1;
    }
    gguf_file *f = NULL;
    if (gguf_parse(src.data, src.size, &f, &err) != LLM_OK) {
        fprintf(stderr, "error %d %s\n", err.code, err.msg);
        gguf_source_close(&src);
        return 1;
    }
    printf("version %" PRIu32 "\nalignment %" PRIu64 "\ndata_offset %" PRIu64 "\n", f->version, f->alignment,
           f->data_offset);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("kv %s %s ", kv->key_z, gguf_vtype_name(kv->val.type));
        if (kv->val.type == GGUF_ARRAY) {
            printf("%s %" PRIu64, gguf_vtype_name(kv->val.v.arr.elem_type), kv->val.v.arr.count);
            if (kv->val.v.arr.count > 0 && kv->val.v.arr.elem_type != GGUF_ARRAY) {
                putchar(' ');
                print_elem(&kv->val, 0);
                putchar(' ');
                print_elem(&kv->val, kv->val.v.arr.count - 1);
            }
        } else {
            print_scalar(&kv->val);
        }
        putchar('\n');
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        printf("tensor %s %" PRIu32 " ", t->name, t->type);
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? "," : "", t->ne[d]);
        printf(" %zu %zu\n", (size_t)((const uint8_t *)t->data - f->base), t->nbytes);
    }
    gguf_free(f);
    gguf_source_close(&src);
    return 0;
}
