/* Deterministic mutation test: seeded random damage to valid files (bit flips, byte sets, huge
 * numbers at field-like positions, insertions, deletions, truncations). Each result is parsed in a
 * buffer of exactly its size, so a sanitizer build catches any read past the end; successful
 * parses are walked through every getter. Never a crash; bounded in time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "gguf/gguf_sample.h"

#define ITERATIONS 200000
#define TIME_LIMIT_S 15.0

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* splitmix64: small, seedable, good enough spread */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const uint64_t k_interesting[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 31, 32, 33, 255, 256, 0x7fff, 0xffff,
                                         0x7fffffff, 0x80000000u, 0xffffffffu, 1ull << 32, 1ull << 40,
                                         1ull << 60, 1ull << 62, 1ull << 63, UINT64_MAX, UINT64_MAX - 1,
                                         UINT64_MAX - 31};

/* Applies one random mutation to buf (length *n, capacity cap). */
static void mutate(uint8_t *buf, size_t *n, size_t cap) {
    size_t len = *n;
    switch (rnd_below(7)) {
    case 0: /* bit flip */
        if (len) buf[rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
        break;
    case 1: /* random byte */
        if (len) buf[rnd_below(len)] = (uint8_t)rnd();
        break;
    case 2: /* interesting u64 at an 8-byte (or any) position */
    case 3: {
        if (len < 8) break;
        size_t pos = rnd_below(len - 7);
        if (rnd() & 1) pos &= ~(size_t)7;
        uint64_t v = k_interesting[rnd_below(sizeof k_interesting / sizeof k_interesting[0])];
        int width = (rnd() & 1) ? 8 : 4;
        for (int i = 0; i < width; i++) buf[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
        break;
    }
    case 4: /* truncate */
        *n = rnd_below(len + 1);
        break;
    case 5: { /* insert 1..16 random bytes */
        size_t k = 1 + rnd_below(16);
        if (len + k > cap) break;
        size_t pos = rnd_below(len + 1);
        memmove(buf + pos + k, buf + pos, len - pos);
        for (size_t i = 0; i < k; i++) buf[pos + i] = (uint8_t)rnd();
        *n = len + k;
        break;
    }
    default: { /* delete 1..16 bytes */
        if (!len) break;
        size_t pos = rnd_below(len);
        size_t k = 1 + rnd_below(16);
        if (k > len - pos) k = len - pos;
        memmove(buf + pos, buf + pos + k, len - pos - k);
        *n = len - k;
        break;
    }
    }
}

/* Reads everything a parse exposes, so out-of-range pointers are caught by the sanitizer. */
static unsigned walk(const gguf_file *f) {
    unsigned acc = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        int64_t v;
        double d;
        gguf_str s;
        acc += gguf_find_kv(f, kv->key_z) != NULL;
        if (gguf_get_int(f, kv->key_z, &v) == LLM_OK) acc += (unsigned)v;
        if (gguf_get_float(f, kv->key_z, &d) == LLM_OK) acc += d > 0;
        if (gguf_get_str(f, kv->key_z, &s) == LLM_OK && s.len) acc += (unsigned char)s.ptr[s.len - 1];
        if (kv->val.type == GGUF_ARRAY && kv->val.v.arr.count) {
            const gguf_value *a = &kv->val;
            uint64_t last = a->v.arr.count - 1;
            if (gguf_arr_int(a, last, &v) == LLM_OK) acc += (unsigned)v;
            if (gguf_arr_float(a, last, &d) == LLM_OK) acc += d > 0;
            for (uint64_t j = 0; j < a->v.arr.count && j < 64; j++)
                if (gguf_arr_str(a, j, &s) == LLM_OK && s.len) acc += (unsigned char)s.ptr[s.len - 1];
            if (gguf_arr_str(a, last, &s) == LLM_OK && s.len) acc += (unsigned char)s.ptr[0];
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        acc += gguf_find_tensor(f, t->name) == t;
        const uint8_t *p = t->data;
        acc += p[0] + p[t->nbytes - 1];
    }
    return acc;
}

/* `--write-seeds DIR` writes the valid base files, as a seed corpus for tests/fuzz/fuzz_gguf. */
static int write_seeds(const char *dir, const gw *bases, int n) {
    for (int b = 0; b < n; b++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed%d.gguf", dir, b);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(bases[b].p, 1, bases[b].n, fp) != bases[b].n) {
            fprintf(stderr, "cannot write %s\n", path);
            if (fp) fclose(fp);
            return 1;
        }
        fclose(fp);
    }
    return 0;
}

int main(int argc, char **argv) {
    gw bases[3] = {{0}, {0}, {0}};
    sample_build(&bases[0], 3, 0, NULL);
    sample_build(&bases[1], 2, 64, NULL);
    sample_build(&bases[2], 3, 1, NULL);
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) return write_seeds(argv[2], bases, 3);
    size_t cap = 0;
    for (int b = 0; b < 3; b++) cap = bases[b].n > cap ? bases[b].n : cap;
    cap += 16 * 8;
    uint8_t *work = malloc(cap);
    if (!work) return 1;
    unsigned counts[16] = {0}, acc = 0;
    clock_t start = clock();
    int it;
    for (it = 0; it < ITERATIONS; it++) {
        if ((it & 255) == 0 && (double)(clock() - start) / CLOCKS_PER_SEC > TIME_LIMIT_S) break;
        const gw *b = &bases[rnd_below(3)];
        size_t n = b->n;
        memcpy(work, b->p, n);
        int n_mut = 1 + (int)rnd_below(4);
        for (int m = 0; m < n_mut; m++) mutate(work, &n, cap);
        /* An exact-size copy: any read past the end is a heap overflow the sanitizer reports. */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) return 1;
        memcpy(exact, work, n);
        gguf_file *f = NULL;
        llm_err err;
        llm_err_clear(&err);
        llm_status st = gguf_parse(exact, n, &f, &err);
        counts[st < 16 ? st : 15]++;
        if (st == LLM_OK) {
            acc += walk(f);
            gguf_free(f);
        } else if (f != NULL || err.code != st || err.msg[0] == '\0' ||
                   (st != LLM_ERR_FORMAT && st != LLM_ERR_UNSUPPORTED)) {
            fprintf(stderr, "iteration %d: status %d, out %p, message '%s'\n", it, st, (void *)f, err.msg);
            return 1;
        }
        free(exact);
    }
    printf("test_gguf_mutate: %d inputs: %u ok, %u format, %u unsupported (walk %u)\n", it, counts[LLM_OK],
           counts[LLM_ERR_FORMAT], counts[LLM_ERR_UNSUPPORTED], acc);
    free(work);
    for (int b = 0; b < 3; b++) gw_free(&bases[b]);
    return 0;
}
