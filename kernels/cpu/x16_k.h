/* The x16 layouts of the K-quants (Q4_K, Q5_K, Q6_K): internal to kernels/cpu/x16.c, which
 * dispatches to these, and to the kernels that read them (kernels/cpu/avx512/avx512_fast_x16k.c,
 * kernels/cpu/avx2/avx2_fast_x16k.c).
 * The layouts themselves are described in kernels/cpu/x16_k.c. */
#ifndef LLM_KERNELS_CPU_X16_K_H
#define LLM_KERNELS_CPU_X16_K_H

#include <stddef.h>
#include <stdint.h>

/* Byte offsets inside the x16 form of one super-block (256 columns) of 16 rows; the kernels and
 * the packing code share them. Q4_K / Q5_K: one super-block after another, X16K_SB_Q4K /
 * X16K_SB_Q5K bytes each. */
#define X16K_D 0     /* 16 x f16 d */
#define X16K_DMIN 32 /* 16 x f16 dmin */
#define X16K_SC 64   /* 3 x 64 bytes: the scale words a, m, c of the 16 rows */
#define X16K_Q4 256  /* Q4_K quants: 4 chunks of 8 steps of 64 bytes */
#define X16K_Q5 256  /* Q5_K: 4 chunks of 640 bytes: 8 x 16 bytes of fifth-bit masks, then 8 steps */
#define X16K_CHUNK_Q4K 512
#define X16K_CHUNK_Q5K 640
#define X16K_SB_Q4K 2304
#define X16K_SB_Q5K 2816
/* Q6_K: super-blocks in pairs of X16K_PAIR_Q6K bytes (the last odd one X16K_BODY_Q6K + 64): a
 * 64-byte header with the 16 f16 d of the pair's first super-block (bytes 0..31) and of its
 * second one (32..63), then one body per super-block: 16 x 16 int8 scales, then 16 sub-blocks
 * of 3 x 64 bytes of quants. */
#define X16K_Q6_SC 0
#define X16K_Q6_Q 256
#define X16K_BODY_Q6K 3328
#define X16K_PAIR_Q6K (64 + 2 * X16K_BODY_Q6K)

/* Bytes of one group of 16 rows of cols elements (a multiple of 64; exactly the 16 rows' GGUF
 * bytes, plus 32 bytes of padding for Q6_K with an odd number of super-blocks); 0 when type is
 * not a K-quant or cols is not a positive multiple of 256. */
size_t llm_x16k_group_bytes(uint32_t type, int64_t cols);
/* Writes group g (rows 16g .. 16g+15 of the rows x cols matrix src, row stride row_bytes) to
 * group (llm_x16k_group_bytes bytes); rows past `rows` are zero rows. */
void llm_x16k_pack_group(uint32_t type, const uint8_t *src, size_t row_bytes, int64_t rows, int64_t cols,
                         uint8_t *group, int64_t g);
/* Row i (0..15) of a group back in the GGUF layout, bit for bit. */
void llm_x16k_unpack_row(uint32_t type, const uint8_t *group, int64_t cols, int i, uint8_t *row);

#endif
