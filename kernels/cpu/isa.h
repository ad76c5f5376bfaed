/* CPU instruction-set paths and their kernel tables.
 *
 * Every path computes exactly what the scalar reference computes: the dot kernels follow the
 * reference summation order of kernels/cpu/scalar/scalar.h (16 lanes over groups of 32, no
 * fused multiply-add), so results are bit-identical whatever path runs. Wider registers make
 * them faster, not different; tests compare each path with the scalar one for equality. */
#ifndef LLM_KERNELS_CPU_ISA_H
#define LLM_KERNELS_CPU_ISA_H

#include <stdint.h>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16.h"

typedef enum llm_isa {
    LLM_ISA_SCALAR = 0,
    LLM_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    LLM_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ (+VNNI where present) */
    LLM_ISA_AMX = 3,    /* AVX-512 + AMX tiles */
    LLM_ISA_NEON = 4    /* AArch64 Advanced SIMD */
} llm_isa;

#define LLM_DT_SLOTS 32 /* type ids are < LLM_DT_SLOTS for every computable type */

/* Dot of one stored row (n elements of the table slot's type) with float x. */
typedef float (*llm_dot_fn)(const void *row, const float *x, int64_t n);

/* dst[0..n) = the row dequantized, bit for bit what llm_dequantize_row gives (n a multiple of
 * the type's block size). */
typedef void (*llm_dequant_fn)(const void *row, float *dst, int64_t n);

typedef struct llm_cpu_kernels {
    llm_isa isa;
    const char *name;
    llm_dot_fn dot[LLM_DT_SLOTS]; /* NULL: this path falls back to the scalar kernel */
    /* FAST-precision dots with 8-bit activations (kernels/cpu/fast.h), bit-identical to
     * llm_fast_dot_scalar; NULL: the scalar one. Read them through llm_cpu_fast_dot, which
     * checks the CPU features they need beyond the path's own (AVX-512 VNNI). */
    llm_fast_dot_fn fast[LLM_DT_SLOTS];
    /* FAST dots of 16 rows at once on the row-interleaved x16 layout (kernels/cpu/x16.h), bit
     * for bit the fast dots above; NULL: the type is not repacked for this path. Read them
     * through llm_cpu_fast_dot16 (same CPU-feature check as llm_cpu_fast_dot). */
    llm_fast_dot16_fn x16[LLM_DT_SLOTS];
    /* the same for up to LLM_X16_MAX_TOK tokens at once (NULL: token by token with x16) */
    llm_fast_dot16n_fn x16n[LLM_DT_SLOTS];
} llm_cpu_kernels;

const char *llm_isa_name(llm_isa isa);
/* "scalar", "avx2", "avx512", "amx", "neon" -> the isa; -1 for anything else. */
int llm_isa_parse(const char *name);
/* The best path this CPU and OS can run (cpuid + enabled register state). */
llm_isa llm_isa_best(void);
int llm_isa_runnable(llm_isa isa);

/* The kernel table of a path (never NULL: paths not compiled in this build give the scalar
 * table). */
const llm_cpu_kernels *llm_cpu_kernels_for(llm_isa isa);

/* The fast dot kernel of a type on a path (never NULL for a type with llm_qx_kind_of != NONE;
 * NULL for the others). The AVX-512 fast kernels use vpdpbusd (AVX-512 VNNI): on an AVX-512 CPU
 * without VNNI the AVX2 ones serve instead (same bits). llm_cpu_fast_dot_vnni takes the VNNI
 * answer as an argument, so that tests can check the choice for both kinds of CPU. */
llm_fast_dot_fn llm_cpu_fast_dot(const llm_cpu_kernels *k, uint32_t type);
llm_fast_dot_fn llm_cpu_fast_dot_vnni(const llm_cpu_kernels *k, uint32_t type, int has_vnni);
/* The 16-row kernel of a type on a path, NULL where there is none (no x16 layout for the type on
 * this path). On an AVX-512 CPU without VNNI the AVX2 table's kernel (NULL where it has none). */
llm_fast_dot16_fn llm_cpu_fast_dot16(const llm_cpu_kernels *k, uint32_t type);
/* The multi-token 16-row kernel of a type on a path, NULL where there is none (then
 * llm_cpu_fast_dot16 serves token by token). */
llm_fast_dot16n_fn llm_cpu_fast_dot16n(const llm_cpu_kernels *k, uint32_t type);
/* Whether the CPU (and OS) can run AVX-512 VNNI instructions. */
int llm_cpu_has_avx512_vnni(void);

/* Per-path tables, defined in kernels/cpu/<isa>/ (the scalar one in kernels/cpu/isa.c). */
extern const llm_cpu_kernels llm_kernels_scalar;
#if defined(__x86_64__)
extern const llm_cpu_kernels llm_kernels_avx2;
extern const llm_cpu_kernels llm_kernels_avx512;
/* Dequantization kernels of the AVX-512 path, used by the prefill path (kernels/cpu/matmul.c) to
 * fill its f32 tiles; NULL: the scalar llm_dequantize_row. Only written where the measurements
 * (kernels/cpu/avx512/avx512_dequant.c) show the dequantization matters. A table of its own, not
 * a field of llm_cpu_kernels, so that the other paths' tables need no change. */
extern const llm_dequant_fn llm_dequant_avx512[LLM_DT_SLOTS];
#endif
#if defined(__aarch64__)
extern const llm_cpu_kernels llm_kernels_neon;
#endif

#endif
