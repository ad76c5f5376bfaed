/* Quantization: float rows to the GGUF storage types, and the type plan of llm_quantize (which
 * type each tensor gets).
 *
 * Row kernels. llm_quantize_row writes n floats as `type` (n a multiple of the type's block
 * size) and returns the bytes written (llm_dtype_row_bytes(type, n)), 0 for a type it cannot
 * write or a bad n. Each row is encoded on its own, by a fixed sequence of f32 operations, so the
 * result depends only on the row (not on threads or the machine).
 *   - F32 copy; F16 round to nearest even (overflow to inf); BF16 round to nearest even with
 *     NaNs made quiet.
 *   - Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: bit-identical to the reference algorithm of the gguf Python
 *     package (gguf.quants.quantize), see quant_legacy.c.
 *   - Q4_K, Q5_K, Q6_K: our own searches for the sub-block scales (quant_kmin.c, quant_q6k.c). */
#ifndef LLM_QUANTIZE_H
#define LLM_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype.h"

int llm_quantize_can_write(uint32_t type);
size_t llm_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The block encoders (one block of the type's block size; dst gets type_size bytes). */
void llm_quant_block_q4_0(const float *x, uint8_t *dst);
void llm_quant_block_q4_1(const float *x, uint8_t *dst);
void llm_quant_block_q5_0(const float *x, uint8_t *dst);
void llm_quant_block_q5_1(const float *x, uint8_t *dst);
void llm_quant_block_q8_0(const float *x, uint8_t *dst);
void llm_quant_block_q4_k(const float *x, uint8_t *dst);
void llm_quant_block_q5_k(const float *x, uint8_t *dst);
void llm_quant_block_q6_k(const float *x, uint8_t *dst);

/* ---- the plan (recipe.c) ---- */
typedef struct llm_quant_target {
    const char *name;   /* "Q4_K_M" */
    uint32_t base;      /* llm_dtype of most matrices */
    uint32_t high;      /* llm_dtype of the matrices a mix keeps at higher precision (= base when
                           the target is not a mix) */
    uint32_t file_type; /* general.file_type value */
} llm_quant_target;

/* NULL for an unknown name. */
const llm_quant_target *llm_quant_target_find(const char *name);
/* "F32, F16, ..." (a static string). */
const char *llm_quant_target_names(void);

/* The type of one weight matrix. name is the tensor name, n_layer the model's block count
 * (0 when unknown), tied 1 when the model has no output.weight (token_embd is the output). */
uint32_t llm_quant_choose(const llm_quant_target *t, const char *name, int64_t n_layer, int tied);
/* The type actually written for a matrix with rows of ne0 elements: want when ne0 is a multiple
 * of its block size, else the fallback chain Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and any
 * 32-element type -> F16 (each step re-checked). */
uint32_t llm_quant_fit(uint32_t want, int64_t ne0);

#endif
