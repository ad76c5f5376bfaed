// Weight products of any batch size. Up to CU_MATVEC_MAX_TOKENS tokens (CU_BATCH_MATVEC_MAX for a
// batched decode step): the fused dequantize x vector kernel (matvec.cu), which reads the
// quantized weights once per 8 tokens and is bound by memory. Longer batches (prefill): the
// weights are dequantized tile by tile to f16 and multiplied by the f16 activations with cuBLAS on
// the tensor cores (f32 accumulation and output). F32 weights use cublasSgemm on the stored
// matrix (no conversion: exact f32, no TF32), F16 weights go to cuBLAS as stored, and BF16 tiles
// are dequantized to f32 (bf16's range exceeds f16's) for cublasSgemm.
//
// cuBLAS is column-major. The row-major W (rows x cols) is the column-major A (cols x rows), the
// row-major activations X (n x cols) the column-major B (cols x n), and the row-major output
// (n x rows) the column-major C (rows x n): C = A^T B.
#include "cuda_common.cuh"

int cu_matmul(llm_plugin_session *ss, const cu_tensor &w, const float *x, int32_t n, float *out, cu_err *e,
              int32_t matvec_max) {
    cudaStream_t s = ss->stream;
    if (n <= matvec_max) {
        cu_matvec(w, x, n, out, ss->generic_matvec, s);
        return CU_OK;
    }
    const float one = 1.0f, zero = 0.0f;
    const int rows = (int)w.rows, cols = (int)w.cols;
    if (w.type == DT_F32)
        return cu_check_blas(e, cublasSgemm(ss->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one,
                                            (const float *)w.d, cols, x, cols, &zero, out, rows),
                             "cublasSgemm");
    const bool f32_tile = w.type == DT_BF16;
    if (!f32_tile) cu_to_half(ss->act_h, x, (int64_t)n * cols, s);
    if (w.type == DT_F16)
        return cu_check_blas(e, cublasGemmEx(ss->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, w.d,
                                             CUDA_R_16F, cols, ss->act_h, CUDA_R_16F, cols, &zero, out, CUDA_R_32F,
                                             rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                             "cublasGemmEx (f16)");
    int64_t tile_rows = CU_TILE_ELEMS / cols;
    if (tile_rows < 1) tile_rows = 1;
    for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
        const int nr = (int)(rows - r0 < tile_rows ? rows - r0 : tile_rows);
        int st;
        if (f32_tile) {
            cu_dequant_rows(w, r0, nr, nullptr, (float *)ss->tile, s);
            st = cu_check_blas(e, cublasSgemm(ss->blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, n, cols, &one,
                                              (const float *)ss->tile, cols, x, cols, &zero, out + r0, rows),
                               "cublasSgemm (bf16 tile)");
        } else {
            cu_dequant_rows(w, r0, nr, (__half *)ss->tile, nullptr, s);
            st = cu_check_blas(e, cublasGemmEx(ss->blas, CUBLAS_OP_T, CUBLAS_OP_N, nr, n, cols, &one, ss->tile,
                                               CUDA_R_16F, cols, ss->act_h, CUDA_R_16F, cols, &zero, out + r0,
                                               CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                               "cublasGemmEx (dequantized tile)");
        }
        if (st != CU_OK) return st;
    }
    return CU_OK;
}
