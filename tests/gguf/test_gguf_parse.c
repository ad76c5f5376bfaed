/* GGUF parser tests on generated files: every value type, arrays, versions, alignment, tensor
 * placement, lookup, and the malformed inputs (each must fail with the right status and a message
 * naming the failed check). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_sample.h"

#include "gguf_check.h"

/* Parses buf and expects `want` with a message containing `needle` (and `needle2` if given). */
static void expect_fail_at(int line, const gw *w, llm_status want, const char *needle, const char *needle2) {
    gguf_file *f = (gguf_file *)1;
    llm_err err;
    llm_err_clear(&err);
    llm_status st = gguf_parse(w->p, w->n, &f, &err);
    if (st != want || f != NULL || err.code != want || !strstr(err.msg, needle) ||
        (needle2 && !strstr(err.msg, needle2))) {
        fprintf(stderr, "line %d: expected status %d with '%s'%s%s, got %d: '%s'\n", line, want, needle,
                needle2 ? " and " : "", needle2 ? needle2 : "", st, err.msg);
        g_fail++;
    }
    if (st == LLM_OK) gguf_free(f);
}
#define EXPECT_FAIL(w, st, needle) expect_fail_at(__LINE__, (w), (st), (needle), NULL)
#define EXPECT_FAIL2(w, st, n1, n2) expect_fail_at(__LINE__, (w), (st), (n1), (n2))

static gguf_file *parse_ok(const gw *w) {
    gguf_file *f = NULL;
    llm_err err;
    llm_err_clear(&err);
    llm_status st = gguf_parse(w->p, w->n, &f, &err);
    if (st != LLM_OK) {
        fprintf(stderr, "unexpected parse failure %d: %s\n", st, err.msg);
        g_fail++;
        return NULL;
    }
    return f;
}

static int str_eq(gguf_str s, const char *z) { return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0; }

static void check_sample(uint32_t version, uint32_t alignment) {
    gw w = {0};
    sample_pos sp;
    sample_build(&w, version, alignment, &sp);
    gguf_file *f = parse_ok(&w);
    if (!f) {
        gw_free(&w);
        return;
    }
    CHECK(f->version == version);
    CHECK(f->alignment == (alignment ? alignment : 32));
    CHECK(f->data_offset == sp.data_offset);
    CHECK(f->data_offset % f->alignment == 0);
    CHECK(f->n_kv == 22 + (alignment ? 1u : 0u));

    int64_t i = 0;
    double d = 0;
    gguf_str s;
    CHECK(gguf_get_int(f, "t.u8", &i) == LLM_OK && i == 200);
    CHECK(gguf_get_int(f, "t.i8", &i) == LLM_OK && i == -100);
    CHECK(gguf_get_int(f, "t.u16", &i) == LLM_OK && i == 60000);
    CHECK(gguf_get_int(f, "t.i16", &i) == LLM_OK && i == -30000);
    CHECK(gguf_get_int(f, "t.u32", &i) == LLM_OK && i == 4000000000ll);
    CHECK(gguf_get_int(f, "t.i32", &i) == LLM_OK && i == -2000000000ll);
    CHECK(gguf_get_int(f, "t.bool", &i) == LLM_OK && i == 1);
    CHECK(gguf_get_int(f, "t.i64", &i) == LLM_OK && i == -5000000000ll);
    CHECK(gguf_get_int(f, "t.u64", &i) == LLM_ERR_TYPE_MISMATCH); /* above INT64_MAX */
    const gguf_kv *kv = gguf_find_kv(f, "t.u64");
    CHECK(kv && kv->val.type == GGUF_U64 && kv->val.v.u == 0xFFFFFFFFFFFFFFF0ull);
    CHECK(gguf_get_float(f, "t.f32", &d) == LLM_OK && d == 1.5);
    CHECK(gguf_get_float(f, "t.f64", &d) == LLM_OK && d == -2.25);
    CHECK(gguf_get_float(f, "t.i8", &d) == LLM_OK && d == -100.0); /* integers read as float */
    CHECK(gguf_get_int(f, "t.f32", &i) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_str(f, "t.str", &s) == LLM_OK && str_eq(s, "hello"));
    CHECK(gguf_get_str(f, "t.empty_str", &s) == LLM_OK && s.len == 0);
    CHECK(gguf_get_str(f, "general.architecture", &s) == LLM_OK && str_eq(s, "test"));
    CHECK(gguf_get_str(f, "t.after", &s) == LLM_OK && str_eq(s, "end")); /* nested array skipped right */
    CHECK(gguf_get_str(f, "t.u8", &s) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_int(f, "t.str", &i) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_int(f, "no.such.key", &i) == LLM_ERR_NOT_FOUND);
    CHECK(gguf_get_int(f, "t.u", &i) == LLM_ERR_NOT_FOUND);  /* prefix of a key */
    CHECK(gguf_get_int(f, "t.u88", &i) == LLM_ERR_NOT_FOUND); /* key is a prefix of it */
    CHECK(gguf_find_kv(f, "") == NULL);
    kv = gguf_find_kv(f, "t.i16");
    CHECK(kv && strcmp(kv->key_z, "t.i16") == 0 && str_eq(kv->key, "t.i16"));

    const gguf_value *a = NULL;
    CHECK(gguf_get_arr(f, "t.str", &a) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_arr(f, "t.arr_u8", &a) == LLM_OK && a->v.arr.elem_type == GGUF_U8 && a->v.arr.count == 3);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_OK && i == 1);
    CHECK(gguf_arr_int(a, 2, &i) == LLM_OK && i == 3);
    CHECK(gguf_arr_int(a, 3, &i) == LLM_ERR_INVALID_ARGUMENT);
    CHECK(gguf_arr_float(a, 1, &d) == LLM_OK && d == 2.0);
    CHECK(gguf_arr_str(a, 0, &s) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_arr(f, "t.arr_i32", &a) == LLM_OK && a->v.arr.count == 2);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_OK && i == -1);
    CHECK(gguf_arr_int(a, 1, &i) == LLM_OK && i == 7);
    CHECK(gguf_get_arr(f, "t.arr_f32", &a) == LLM_OK);
    CHECK(gguf_arr_float(a, 0, &d) == LLM_OK && d == 0.5);
    CHECK(gguf_arr_float(a, 1, &d) == LLM_OK && d == -4.0);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_arr(f, "t.arr_bool", &a) == LLM_OK && a->v.arr.elem_type == GGUF_BOOL);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_OK && i == 1);
    CHECK(gguf_arr_int(a, 1, &i) == LLM_OK && i == 0);
    CHECK(gguf_get_arr(f, "t.arr_str", &a) == LLM_OK && a->v.arr.elem_type == GGUF_STRING && a->v.arr.count == 3);
    CHECK(gguf_arr_str(a, 0, &s) == LLM_OK && str_eq(s, "a"));
    CHECK(gguf_arr_str(a, 1, &s) == LLM_OK && s.len == 0);
    CHECK(gguf_arr_str(a, 2, &s) == LLM_OK && str_eq(s, "xyz"));
    CHECK(gguf_arr_str(a, 3, &s) == LLM_ERR_INVALID_ARGUMENT);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_get_arr(f, "t.arr_empty", &a) == LLM_OK && a->v.arr.count == 0 && a->v.arr.elem_type == GGUF_U32);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_ERR_INVALID_ARGUMENT);
    CHECK(gguf_get_arr(f, "t.nested", &a) == LLM_OK && a->v.arr.elem_type == GGUF_ARRAY && a->v.arr.count == 3);
    CHECK(gguf_arr_int(a, 0, &i) == LLM_ERR_TYPE_MISMATCH);
    CHECK(gguf_arr_str(a, 0, &s) == LLM_ERR_TYPE_MISMATCH);

    CHECK(f->n_tensors == SAMPLE_N_TENSORS);
    for (int t = 0; t < SAMPLE_N_TENSORS; t++) {
        const gguf_tensor *ti = gguf_find_tensor(f, sample_tensor_names[t]);
        CHECK(ti == &f->tensors[t]);
        if (!ti) continue;
        CHECK(ti->offset == sp.t_off_val[t]);
        CHECK(ti->nbytes == sp.t_nbytes[t]);
        CHECK((const uint8_t *)ti->data == w.p + sp.data_offset + sp.t_off_val[t]);
        int same = 1;
        for (size_t j = 0; j < ti->nbytes; j++) same &= ((const uint8_t *)ti->data)[j] == sample_data_byte(t, j);
        CHECK(same);
    }
    const gguf_tensor *t0 = gguf_find_tensor(f, "w.f32");
    CHECK(t0 && t0->n_dims == 2 && t0->ne[0] == 4 && t0->ne[1] == 2 && t0->ne[2] == 1 && t0->ne[3] == 1 &&
          t0->type == 0);
    const gguf_tensor *t2 = gguf_find_tensor(f, "w.q4k");
    CHECK(t2 && t2->n_dims == 3 && t2->ne[0] == 256 && t2->type == 12);
    CHECK(gguf_find_tensor(f, "w") == NULL);
    CHECK(gguf_find_tensor(f, "w.q8x") == NULL);
    gguf_free(f);
    gw_free(&w);
}

/* Thousands of keys and tensors: every one must be found through the sorted index. */
static void check_many(void) {
    enum { N = 3000 };
    gw w = {0};
    gw_header(&w, 3, N, N);
    char name[64];
    for (int k = N - 1; k >= 0; k--) { /* reverse order: the index must sort */
        snprintf(name, sizeof name, "key.%d", k);
        gw_key(&w, name, S_I32);
        gw_u32(&w, (uint32_t)(k * 3));
    }
    for (int t = 0; t < N; t++) {
        snprintf(name, sizeof name, "blk.%d.weight", t);
        uint64_t ne = 8;
        gw_tensor_info(&w, name, 1, &ne, S_T_F32, (uint64_t)t * 32);
    }
    gw_pad(&w, 32);
    gw_zeros(&w, (size_t)N * 32);
    gguf_file *f = parse_ok(&w);
    if (f) {
        int ok = 1;
        for (int k = 0; k < N; k++) {
            int64_t v = -1;
            snprintf(name, sizeof name, "key.%d", k);
            ok &= gguf_get_int(f, name, &v) == LLM_OK && v == k * 3;
            snprintf(name, sizeof name, "blk.%d.weight", k);
            const gguf_tensor *t = gguf_find_tensor(f, name);
            ok &= t != NULL && t->offset == (uint64_t)k * 32;
        }
        CHECK(ok);
        CHECK(gguf_find_kv(f, "key.3000") == NULL && gguf_find_tensor(f, "blk.3000.weight") == NULL);
        gguf_free(f);
    }
    gw_free(&w);
}

static void check_empty_file_kinds(void) {
    /* No tensors and no padding after the KVs: valid (vocab-only files end like this). */
    gw w = {0};
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "a", S_U8);
    gw_u8(&w, 5);
    gguf_file *f = parse_ok(&w);
    CHECK(f && f->n_tensors == 0 && f->n_kv == 1);
    gguf_free(f);
    gw_free(&w);
    gw_header(&w, 2, 0, 0);
    f = parse_ok(&w);
    CHECK(f && f->n_kv == 0 && gguf_find_kv(f, "a") == NULL && gguf_find_tensor(f, "a") == NULL);
    gguf_free(f);
    gw_free(&w);
    gguf_free(NULL);
    CHECK(gguf_find_kv(NULL, "a") == NULL);
}

/* Every proper prefix of a valid file is truncated and must say so. */
static void check_truncations(uint32_t version, uint32_t alignment) {
    gw w = {0};
    sample_build(&w, version, alignment, NULL);
    int bad = 0;
    for (size_t len = 0; len < w.n; len++) {
        gguf_file *f = NULL;
        llm_err err;
        llm_err_clear(&err);
        llm_status st = gguf_parse(len ? w.p : NULL, len, &f, &err);
        if (st != LLM_ERR_FORMAT || f || !strstr(err.msg, "truncated")) {
            if (bad++ < 5) fprintf(stderr, "prefix %zu of %zu: status %d '%s'\n", len, w.n, st, err.msg);
            gguf_free(f);
        }
    }
    CHECK(bad == 0);
    gw_free(&w);
}

static void build(gw *w, sample_pos *sp) {
    gw_free(w);
    sample_build(w, 3, 0, sp);
}

static void check_bad_inputs(void) {
    gw w = {0};
    sample_pos sp;

    build(&w, &sp);
    w.p[3] = 'X';
    EXPECT_FAIL(&w, LLM_ERR_FORMAT, "magic");
    build(&w, &sp);
    gw_put_u32(&w, 4, 1);
    EXPECT_FAIL2(&w, LLM_ERR_UNSUPPORTED, "version", "1");
    gw_put_u32(&w, 4, 4);
    EXPECT_FAIL2(&w, LLM_ERR_UNSUPPORTED, "version", "4");
    gw_put_u32(&w, 4, 0);
    EXPECT_FAIL(&w, LLM_ERR_UNSUPPORTED, "version");
    gw_put_u32(&w, 4, 0x03000000u);
    EXPECT_FAIL(&w, LLM_ERR_UNSUPPORTED, "big-endian");

    /* Absurd counts fail fast (before allocating) with FORMAT. */
    static const uint64_t huge[] = {1ull << 32, 1ull << 60, 1ull << 63, UINT64_MAX, 100000};
    for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
        build(&w, &sp);
        gw_put_u64(&w, 16, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "n_kv", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, 8, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "n_tensors", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.key0_len, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "key length", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.str_len, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "string length", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.arr_count, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "array count", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.sarr_count, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "array count", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.nested_count, huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "array count", "truncated");
        build(&w, &sp);
        gw_put_u64(&w, sp.t_name_len[1], huge[h]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "tensor name length", "truncated");
    }
    /* The message names the byte offset of the bad length. */
    build(&w, &sp);
    gw_put_u64(&w, sp.str_len, 4294967296ull);
    char at[64];
    snprintf(at, sizeof at, "at offset %zu", sp.str_len);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "4294967296", at);

    static const uint32_t bad_ndims[] = {0, 5, 0x80000000u, UINT32_MAX};
    for (size_t k = 0; k < sizeof bad_ndims / sizeof bad_ndims[0]; k++) {
        build(&w, &sp);
        gw_put_u32(&w, sp.t_ndims[0], bad_ndims[k]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "n_dims", "w.f32");
    }
    static const uint64_t bad_dims[] = {0, 1ull << 63, UINT64_MAX};
    for (size_t k = 0; k < sizeof bad_dims / sizeof bad_dims[0]; k++) {
        build(&w, &sp);
        gw_put_u64(&w, sp.t_dim0[0], bad_dims[k]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "dimension", "w.f32");
    }
    /* Each dim fits but their product does not. */
    build(&w, &sp);
    gw_put_u64(&w, sp.t_dim0[0], 1ull << 40);
    gw_put_u64(&w, sp.t_dim0[0] + 8, 1ull << 40);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "overflow", "w.f32");
    /* A huge but representable tensor does not fit in the file. */
    build(&w, &sp);
    gw_put_u64(&w, sp.t_dim0[0], 1ull << 30);
    gw_put_u64(&w, sp.t_dim0[0] + 8, 1ull << 30);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "beyond", "w.f32");

    static const uint64_t bad_offsets[] = {1ull << 63, UINT64_MAX - 31, 1ull << 32, 4096};
    for (size_t k = 0; k < sizeof bad_offsets / sizeof bad_offsets[0]; k++) {
        build(&w, &sp);
        gw_put_u64(&w, sp.t_offset[2], bad_offsets[k]);
        EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "beyond", "w.q4k");
    }
    build(&w, &sp);
    gw_put_u64(&w, sp.t_offset[1], sp.t_off_val[1] + 4);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "misaligned", "w.q8");
    build(&w, &sp);
    gw_put_u64(&w, sp.t_offset[2], sp.t_off_val[2] + 32); /* aligned, but ends past the file */
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "beyond", "w.q4k");
    build(&w, &sp);
    w.n -= 1; /* last tensor's last byte missing */
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "beyond", "w.q4k");

    build(&w, &sp);
    gw_put_u32(&w, sp.t_type[1], 99);
    EXPECT_FAIL2(&w, LLM_ERR_UNSUPPORTED, "w.q8", "99");
    build(&w, &sp);
    gw_put_u32(&w, sp.t_type[1], 0x7fffffffu);
    EXPECT_FAIL2(&w, LLM_ERR_UNSUPPORTED, "w.q8", "2147483647");
    build(&w, &sp); /* Q4_K needs ne[0] a multiple of 256 */
    gw_put_u64(&w, sp.t_dim0[2], 128);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "block size", "w.q4k");

    build(&w, &sp);
    gw_put_u32(&w, sp.str_type, 13);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "unknown value type", "13");
    build(&w, &sp);
    gw_put_u32(&w, sp.str_type, UINT32_MAX);
    EXPECT_FAIL(&w, LLM_ERR_FORMAT, "unknown value type");
    build(&w, &sp);
    gw_put_u32(&w, sp.arr_type, 77);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "unknown array element type", "77");

    /* Alignment: nonzero power of two, u32. */
    static const uint32_t bad_align[] = {0, 3, 48, 0x80000001u};
    for (size_t k = 0; k < sizeof bad_align / sizeof bad_align[0]; k++) {
        gw_free(&w);
        sample_build(&w, 3, 64, &sp);
        gw_put_u32(&w, sp.align_val, bad_align[k]);
        EXPECT_FAIL(&w, LLM_ERR_FORMAT, "alignment");
    }
    gw_free(&w);
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "general.alignment", S_U64);
    gw_u64(&w, 32);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "alignment", "u64");

    /* Duplicates. */
    gw_free(&w);
    gw_header(&w, 3, 0, 3);
    gw_key(&w, "x.a", S_U8); gw_u8(&w, 1);
    gw_key(&w, "x.b", S_U8); gw_u8(&w, 1);
    gw_key(&w, "x.a", S_STRING); gw_str(&w, "again");
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "duplicate key", "x.a");
    gw_free(&w);
    uint64_t ne = 8;
    gw_header(&w, 3, 2, 0);
    gw_tensor_info(&w, "t", 1, &ne, S_T_F32, 0);
    gw_tensor_info(&w, "t", 1, &ne, S_T_F32, 32);
    gw_pad(&w, 32);
    gw_zeros(&w, 64);
    EXPECT_FAIL2(&w, LLM_ERR_FORMAT, "duplicate tensor", "'t'");

    /* Names: empty or with a NUL byte are refused (they are looked up as C strings). */
    gw_free(&w);
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "", S_U8); gw_u8(&w, 1);
    EXPECT_FAIL(&w, LLM_ERR_FORMAT, "empty key");
    gw_free(&w);
    gw_header(&w, 3, 0, 1);
    gw_u64(&w, 3); gw_bytes(&w, "a\0b", 3); gw_u32(&w, S_U8); gw_u8(&w, 1);
    EXPECT_FAIL(&w, LLM_ERR_FORMAT, "NUL");

    /* Arrays nested past the depth bound are refused, not recursed into. */
    gw_free(&w);
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "deep", S_ARRAY);
    for (int k = 0; k < 100; k++) { gw_u32(&w, S_ARRAY); gw_u64(&w, 1); }
    gw_u32(&w, S_U8); gw_u64(&w, 0);
    EXPECT_FAIL(&w, LLM_ERR_FORMAT, "nested");
    /* ... while a few levels are fine. */
    gw_free(&w);
    gw_header(&w, 3, 0, 2);
    gw_key(&w, "deep", S_ARRAY);
    for (int k = 0; k < 5; k++) { gw_u32(&w, S_ARRAY); gw_u64(&w, 1); }
    gw_u32(&w, S_STRING); gw_u64(&w, 1); gw_str(&w, "leaf");
    gw_key(&w, "next", S_U8); gw_u8(&w, 9);
    gguf_file *f = parse_ok(&w);
    int64_t v = 0;
    CHECK(f && gguf_get_int(f, "next", &v) == LLM_OK && v == 9);
    gguf_free(f);

    /* Bad arguments. */
    llm_err err;
    CHECK(gguf_parse(w.p, w.n, NULL, &err) == LLM_ERR_INVALID_ARGUMENT);
    gw_free(&w);
}

int main(void) {
    check_sample(3, 0);
    check_sample(2, 0);
    check_sample(3, 64);
    check_sample(3, 1);
    check_sample(2, 256);
    check_many();
    check_empty_file_kinds();
    check_truncations(3, 0);
    check_truncations(2, 64);
    check_truncations(3, 1);
    check_bad_inputs();
    if (g_fail) {
        fprintf(stderr, "test_gguf_parse: %d failures\n", g_fail);
        return 1;
    }
    printf("test_gguf_parse: ok\n");
    return 0;
}
