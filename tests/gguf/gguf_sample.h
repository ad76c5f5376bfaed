/* The reference test file: every value type, arrays (numeric, bool, string, empty, nested) and
 * three tensors of different types, built for a given version and alignment. The positions of
 * interesting fields are recorded so tests can bend exactly one of them. */
#ifndef TEST_GGUF_SAMPLE_H
#define TEST_GGUF_SAMPLE_H

#include "gguf/gguf_writer.h"

enum { S_U8 = 0, S_I8 = 1, S_U16 = 2, S_I16 = 3, S_U32 = 4, S_I32 = 5, S_F32 = 6, S_BOOL = 7, S_STRING = 8,
       S_ARRAY = 9, S_U64 = 10, S_I64 = 11, S_F64 = 12 };
enum { S_T_F32 = 0, S_T_Q8_0 = 8, S_T_Q4_K = 12 };

#define SAMPLE_N_TENSORS 3

typedef struct sample_pos {
    size_t key0_len;    /* length of the first key */
    size_t str_len;     /* length of the t.str value */
    size_t str_type;    /* value type of t.str */
    size_t arr_count;   /* count of t.arr_u8 */
    size_t arr_type;    /* element type of t.arr_u8 */
    size_t sarr_count;  /* count of t.arr_str */
    size_t nested_count;/* count of t.nested (outer) */
    size_t align_val;   /* value of general.alignment (0 when absent) */
    size_t t_name_len[SAMPLE_N_TENSORS];
    size_t t_ndims[SAMPLE_N_TENSORS];
    size_t t_dim0[SAMPLE_N_TENSORS];
    size_t t_type[SAMPLE_N_TENSORS];
    size_t t_offset[SAMPLE_N_TENSORS];
    uint64_t t_off_val[SAMPLE_N_TENSORS]; /* offsets relative to the data section */
    size_t t_nbytes[SAMPLE_N_TENSORS];
    size_t data_offset;
} sample_pos;

static const char *const sample_tensor_names[SAMPLE_N_TENSORS] = {"w.f32", "w.q8", "w.q4k"};

static inline uint8_t sample_data_byte(int tensor, size_t j) { return (uint8_t)(tensor * 50 + j * 7 + 1); }

/* alignment 0: no general.alignment key (default 32). The last tensor ends exactly at the end of
 * the file, so every proper prefix of the file is truncated. */
static inline void sample_build(gw *w, uint32_t version, uint32_t alignment, sample_pos *sp) {
    sample_pos dummy;
    if (!sp) sp = &dummy;
    memset(sp, 0, sizeof *sp);
    uint64_t n_kv = 22 + (alignment ? 1 : 0);
    gw_header(w, version, SAMPLE_N_TENSORS, n_kv);
    sp->key0_len = w->n;
    gw_key(w, "general.architecture", S_STRING); gw_str(w, "test");
    gw_key(w, "t.u8", S_U8); gw_u8(w, 200);
    gw_key(w, "t.i8", S_I8); gw_u8(w, (uint8_t)-100);
    gw_key(w, "t.u16", S_U16); gw_u16(w, 60000);
    gw_key(w, "t.i16", S_I16); gw_u16(w, (uint16_t)-30000);
    gw_key(w, "t.u32", S_U32); gw_u32(w, 4000000000u);
    gw_key(w, "t.i32", S_I32); gw_u32(w, (uint32_t)-2000000000);
    gw_key(w, "t.f32", S_F32); gw_f32(w, 1.5f);
    gw_key(w, "t.bool", S_BOOL); gw_u8(w, 1);
    gw_str(w, "t.str");
    sp->str_type = w->n;
    gw_u32(w, S_STRING);
    sp->str_len = w->n;
    gw_str(w, "hello");
    gw_key(w, "t.u64", S_U64); gw_u64(w, 0xFFFFFFFFFFFFFFF0ull);
    gw_key(w, "t.i64", S_I64); gw_u64(w, (uint64_t)-5000000000ll);
    gw_key(w, "t.f64", S_F64); gw_f64(w, -2.25);
    gw_key(w, "t.empty_str", S_STRING); gw_str(w, "");
    gw_key(w, "t.arr_u8", S_ARRAY);
    sp->arr_type = w->n;
    gw_u32(w, S_U8);
    sp->arr_count = w->n;
    gw_u64(w, 3); gw_u8(w, 1); gw_u8(w, 2); gw_u8(w, 3);
    gw_key(w, "t.arr_i32", S_ARRAY); gw_u32(w, S_I32); gw_u64(w, 2); gw_u32(w, (uint32_t)-1); gw_u32(w, 7);
    gw_key(w, "t.arr_f32", S_ARRAY); gw_u32(w, S_F32); gw_u64(w, 2); gw_f32(w, 0.5f); gw_f32(w, -4.0f);
    gw_key(w, "t.arr_bool", S_ARRAY); gw_u32(w, S_BOOL); gw_u64(w, 2); gw_u8(w, 1); gw_u8(w, 0);
    gw_key(w, "t.arr_str", S_ARRAY); gw_u32(w, S_STRING);
    sp->sarr_count = w->n;
    gw_u64(w, 3); gw_str(w, "a"); gw_str(w, ""); gw_str(w, "xyz");
    gw_key(w, "t.arr_empty", S_ARRAY); gw_u32(w, S_U32); gw_u64(w, 0);
    /* An array of arrays with inner arrays of different element types. */
    gw_key(w, "t.nested", S_ARRAY); gw_u32(w, S_ARRAY);
    sp->nested_count = w->n;
    gw_u64(w, 3);
    gw_u32(w, S_I32); gw_u64(w, 2); gw_u32(w, 1); gw_u32(w, 2);
    gw_u32(w, S_STRING); gw_u64(w, 2); gw_str(w, "p"); gw_str(w, "q");
    gw_u32(w, S_U8); gw_u64(w, 0);
    gw_key(w, "t.after", S_STRING); gw_str(w, "end");
    if (alignment) {
        gw_key(w, "general.alignment", S_U32);
        sp->align_val = w->n;
        gw_u32(w, alignment);
    }
    uint32_t align = alignment ? alignment : 32;
    static const uint32_t types[SAMPLE_N_TENSORS] = {S_T_F32, S_T_Q8_0, S_T_Q4_K};
    static const uint32_t ndims[SAMPLE_N_TENSORS] = {2, 1, 3};
    static const uint64_t ne[SAMPLE_N_TENSORS][3] = {{4, 2, 0}, {32, 0, 0}, {256, 1, 1}};
    static const size_t nbytes[SAMPLE_N_TENSORS] = {32, 34, 144};
    uint64_t off = 0;
    for (int t = 0; t < SAMPLE_N_TENSORS; t++) {
        sp->t_name_len[t] = w->n;
        gw_str(w, sample_tensor_names[t]);
        sp->t_ndims[t] = w->n;
        gw_u32(w, ndims[t]);
        sp->t_dim0[t] = w->n;
        for (uint32_t d = 0; d < ndims[t]; d++) gw_u64(w, ne[t][d]);
        sp->t_type[t] = w->n;
        gw_u32(w, types[t]);
        sp->t_offset[t] = w->n;
        gw_u64(w, off);
        sp->t_off_val[t] = off;
        sp->t_nbytes[t] = nbytes[t];
        off = (off + nbytes[t] + align - 1) / align * align;
    }
    gw_pad(w, align);
    sp->data_offset = w->n;
    for (int t = 0; t < SAMPLE_N_TENSORS; t++) {
        while (w->n < sp->data_offset + sp->t_off_val[t]) gw_u8(w, 0);
        for (size_t j = 0; j < nbytes[t]; j++) gw_u8(w, sample_data_byte(t, j));
    }
}

#endif
