/* Command-line driver of the kernel layer for the Python tests (tests/kernels/test_kernels.py).
 * All files are raw little-endian arrays (float32 for floats, the stored blocks for weights).
 *
 *   llm_kern_driver info
 *   llm_kern_driver f16 out.bin          all 65536 halves: llm_f16_to_f32_inline, then llm_f16_to_f32
 *   llm_kern_driver dequant TYPE N in.bin out.bin                 one row of N elements
 *   llm_kern_driver vecdot TYPE ROWS COLS w.bin x.bin out.bin      out[r] = vec_dot(W[r], x)
 *   llm_kern_driver matmul TYPE ROWS COLS NTOK NTHREADS w.bin x.bin out.bin
 *   llm_kern_driver rmsnorm N EPS x.bin (w.bin|-) out.bin
 *   llm_kern_driver softmax|silu|gelu N x.bin out.bin
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util/common.h"

static void *read_file(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    void *p = malloc(want ? want : 1);
    if (!p || fread(p, 1, want, f) != want) {
        fprintf(stderr, "short read on %s (wanted %zu bytes)\n", path, want);
        exit(2);
    }
    fclose(f);
    return p;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static size_t row_bytes_or_die(uint32_t type, int64_t n) {
    size_t rb = llm_dtype_row_bytes(type, n);
    if (!rb && n) {
        fprintf(stderr, "bad type %u / length %lld\n", type, (long long)n);
        exit(2);
    }
    return rb;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) {
        printf("%s\n%s\n", llm_isa_name(llm_isa_best()), llm_kernels_blas_info());
        return 0;
    }
    if (!strcmp(cmd, "f16") && argc == 3) {
        float *out = malloc(sizeof(float) * 2 * 65536);
        if (!out) return 3;
        for (uint32_t h = 0; h < 65536; h++) {
            out[h] = llm_f16_to_f32_inline((uint16_t)h);
            out[65536 + h] = llm_f16_to_f32((uint16_t)h);
        }
        write_file(argv[2], out, sizeof(float) * 2 * 65536);
        free(out);
        return 0;
    }
    if (!strcmp(cmd, "dequant") && argc == 6) {
        uint32_t type = (uint32_t)atoi(argv[2]);
        int64_t n = atoll(argv[3]);
        size_t rb = row_bytes_or_die(type, n);
        void *src = read_file(argv[4], rb);
        float *dst = malloc(sizeof(float) * (size_t)(n ? n : 1));
        llm_dequantize_row(type, src, dst, n);
        write_file(argv[5], dst, sizeof(float) * (size_t)n);
        free(src);
        free(dst);
        return 0;
    }
    if (!strcmp(cmd, "vecdot") && argc == 8) {
        uint32_t type = (uint32_t)atoi(argv[2]);
        int64_t rows = atoll(argv[3]), cols = atoll(argv[4]);
        size_t rb = row_bytes_or_die(type, cols);
        uint8_t *w = read_file(argv[5], rb * (size_t)rows);
        float *x = read_file(argv[6], sizeof(float) * (size_t)cols);
        float *out = malloc(sizeof(float) * (size_t)(rows ? rows : 1));
        for (int64_t r = 0; r < rows; r++) out[r] = llm_vec_dot(type, w + (size_t)r * rb, x, cols);
        write_file(argv[7], out, sizeof(float) * (size_t)rows);
        free(w);
        free(x);
        free(out);
        return 0;
    }
    if (!strcmp(cmd, "matmul") && argc == 10) {
        uint32_t type = (uint32_t)atoi(argv[2]);
        int64_t rows = atoll(argv[3]), cols = atoll(argv[4]), ntok = atoll(argv[5]);
        int nth = atoi(argv[6]);
        size_t rb = row_bytes_or_die(type, cols);
        uint8_t *w = read_file(argv[7], rb * (size_t)rows);
        float *x = read_file(argv[8], sizeof(float) * (size_t)(cols * ntok));
        float *out = malloc(sizeof(float) * (size_t)(rows * ntok));
        llm_matrix m = {type, rows, cols, w, rb, NULL};
        /* nth == 0: no pool at all (the NULL-pool path) */
        llm_pool *pool = nth > 0 ? llm_pool_new(nth) : NULL;
        if (nth > 0 && !pool) return 3;
        llm_matmul(&m, x, ntok, out, pool);
        /* a second call on the same pool reuses its scratch and must give the same bits */
        float *out2 = malloc(sizeof(float) * (size_t)(rows * ntok));
        llm_matmul(&m, x, ntok, out2, pool);
        if (memcmp(out, out2, sizeof(float) * (size_t)(rows * ntok)) != 0) {
            fprintf(stderr, "second matmul call differs\n");
            return 4;
        }
        llm_pool_free(pool);
        write_file(argv[9], out, sizeof(float) * (size_t)(rows * ntok));
        free(w);
        free(x);
        free(out);
        free(out2);
        return 0;
    }
    if (!strcmp(cmd, "rmsnorm") && argc == 7) {
        int64_t n = atoll(argv[2]);
        float eps = strtof(argv[3], NULL);
        float *x = read_file(argv[4], sizeof(float) * (size_t)n);
        float *wt = strcmp(argv[5], "-") ? read_file(argv[5], sizeof(float) * (size_t)n) : NULL;
        float *out = malloc(sizeof(float) * (size_t)n);
        llm_rmsnorm(out, x, wt, n, eps);
        write_file(argv[6], out, sizeof(float) * (size_t)n);
        free(x);
        free(wt);
        free(out);
        return 0;
    }
    if ((!strcmp(cmd, "softmax") || !strcmp(cmd, "silu") || !strcmp(cmd, "gelu")) && argc == 5) {
        int64_t n = atoll(argv[2]);
        float *x = read_file(argv[3], sizeof(float) * (size_t)n);
        if (!strcmp(cmd, "softmax")) {
            llm_softmax(x, n);
        } else {
            for (int64_t i = 0; i < n; i++) x[i] = cmd[0] == 's' ? llm_silu(x[i]) : llm_gelu_tanh(x[i]);
        }
        write_file(argv[4], x, sizeof(float) * (size_t)n);
        free(x);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of kern_driver.c\n");
    return 2;
}
