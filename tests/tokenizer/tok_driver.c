/* Test driver for the tokenizer component (used by the pytest files of tests/tokenizer).
 *
 *   tok_driver [--bos] [--special] [--decode-special] MODEL.gguf IN OUT
 *
 * IN holds records: u32 little-endian byte length, then the bytes (binary safe).
 * OUT gets one record per input: i32 status, u32 n_ids, n_ids x i32 ids, u32 decoded length,
 * decoded bytes (the decode of the ids, empty when encoding failed).
 * Prints "load_ms <t>" and "encode_ms <t>" on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"
#include "tokenizer/tokenizer.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }

int main(int argc, char **argv) {
    int bos = 0, special = 0, dec_special = 0, argi = 1;
    for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
        if (!strcmp(argv[argi], "--bos")) bos = 1;
        else if (!strcmp(argv[argi], "--special")) special = 1;
        else if (!strcmp(argv[argi], "--decode-special")) dec_special = 1;
        else {
            fprintf(stderr, "unknown option %s\n", argv[argi]);
            return 2;
        }
    }
    if (argc - argi != 3) {
        fprintf(stderr, "usage: tok_driver [--bos] [--special] [--decode-special] MODEL IN OUT\n");
        return 2;
    }
    llm_err err = {0};
    gguf_source src = {0};
    gguf_file *gf = NULL;
    llm_tokenizer *tok = NULL;
    double t0 = now_ms();
    if (gguf_source_open_file(argv[argi], 1, &src, &err) != LLM_OK ||
        gguf_parse(src.data, src.size, &gf, &err) != LLM_OK || llm_tokenizer_new(gf, &tok, &err) != LLM_OK) {
        fprintf(stderr, "load failed (%d): %s\n", (int)err.code, err.msg);
        gguf_free(gf);
        gguf_source_close(&src);
        return 1;
    }
    double t1 = now_ms();
    printf("load_ms %.1f\n", t1 - t0);
    FILE *in = fopen(argv[argi + 1], "rb");
    FILE *out = fopen(argv[argi + 2], "wb");
    if (!in || !out) {
        fprintf(stderr, "cannot open input/output\n");
        return 1;
    }
    double enc_ms = 0;
    for (;;) {
        uint32_t len;
        if (fread(&len, 4, 1, in) != 1) break;
        char *s = malloc((size_t)len + 1);
        if (!s || fread(s, 1, len, in) != len) {
            fprintf(stderr, "truncated input\n");
            return 1;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        double a = now_ms();
        llm_status st = llm_tokenizer_encode(tok, s, len, bos, special, &ids, &n, &err);
        enc_ms += now_ms() - a;
        int32_t st32 = (int32_t)st;
        fwrite(&st32, 4, 1, out);
        if (st != LLM_OK) {
            put_u32(out, 0);
            put_u32(out, 0);
            fprintf(stderr, "encode status %d: %s\n", (int)st, err.msg);
            free(s);
            continue;
        }
        put_u32(out, (uint32_t)n);
        fwrite(ids, sizeof(int32_t), n, out);
        char *dec = NULL;
        size_t dl = 0;
        if (llm_tokenizer_decode(tok, ids, n, dec_special, &dec, &dl, &err) != LLM_OK) {
            fprintf(stderr, "decode failed: %s\n", err.msg);
            return 1;
        }
        put_u32(out, (uint32_t)dl);
        fwrite(dec, 1, dl, out);
        free(dec);
        free(ids);
        free(s);
    }
    printf("encode_ms %.1f\n", enc_ms);
    fclose(in);
    fclose(out);
    llm_tokenizer_free(tok);
    gguf_free(gf);
    gguf_source_close(&src);
    return 0;
}
