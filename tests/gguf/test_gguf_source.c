/* gguf_source: file (mmap and read), memory copy, reader with progress/abort, and I/O errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_sample.h"
#include "gguf/gguf_source.h"

#include "gguf_check.h"

typedef struct mem_reader {
    const uint8_t *p;
    size_t size, pos, max_chunk;
    int seeks;
    int fail_at_half; /* read returns 0 once half is read */
} mem_reader;

static size_t mr_read(void *ud, void *buf, size_t n) {
    mem_reader *m = ud;
    if (m->fail_at_half && m->pos >= m->size / 2) return 0;
    size_t k = m->size - m->pos;
    if (k > n) k = n;
    if (k > m->max_chunk) k = m->max_chunk; /* short reads must be tolerated */
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return k;
}
static int mr_seek(void *ud, uint64_t off) {
    mem_reader *m = ud;
    m->seeks++;
    if (off > m->size) return -1;
    m->pos = (size_t)off;
    return 0;
}
static uint64_t mr_size(void *ud) { return ((mem_reader *)ud)->size; }

typedef struct prog {
    int calls, stop_after;
    float last;
    int monotonic;
} prog;
static int on_progress(void *ud, float p) {
    prog *g = ud;
    if (p < g->last || p < 0 || p > 1) g->monotonic = 0;
    g->last = p;
    g->calls++;
    return !(g->stop_after && g->calls >= g->stop_after);
}

static void expect_same(const gguf_source *s, const gw *w) {
    CHECK(s->size == w->n && s->data && memcmp(s->data, w->p, w->n) == 0);
    gguf_file *f = NULL;
    llm_err err;
    CHECK(gguf_parse(s->data, s->size, &f, &err) == LLM_OK);
    gguf_free(f);
}

int main(void) {
    gw w = {0};
    sample_build(&w, 3, 0, NULL);
    /* A large filler tensor-free tail is not needed: chunking is tested with small max_chunk. */
    llm_err err;
    gguf_source s;

    CHECK(gguf_source_from_memory(w.p, w.n, &s, &err) == LLM_OK);
    CHECK(s.data != w.p && !s.is_mapped);
    expect_same(&s, &w);
    gguf_source_close(&s);
    CHECK(s.data == NULL && s.size == 0);
    gguf_source_close(&s); /* twice is harmless */
    gguf_source_close(NULL);

    char path[] = "/tmp/test_gguf_source_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, w.p, w.n) == (ssize_t)w.n);
        close(fd);
        for (int use_mmap = 0; use_mmap <= 1; use_mmap++) {
            CHECK(gguf_source_open_file(path, use_mmap, &s, &err) == LLM_OK);
            CHECK(s.is_mapped == use_mmap);
            expect_same(&s, &w);
            gguf_source_close(&s);
        }
        /* An empty file opens (as zero bytes) and then fails to parse as truncated. */
        fd = open(path, O_WRONLY | O_TRUNC);
        close(fd);
        CHECK(gguf_source_open_file(path, 1, &s, &err) == LLM_OK && s.size == 0);
        gguf_file *f = NULL;
        CHECK(gguf_parse(s.data, s.size, &f, &err) == LLM_ERR_FORMAT && strstr(err.msg, "truncated"));
        gguf_source_close(&s);
        unlink(path);
    }
    CHECK(gguf_source_open_file("/nonexistent/dir/model.gguf", 1, &s, &err) == LLM_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/dir/model.gguf") && strstr(err.msg, strerror(ENOENT)));
    CHECK(gguf_source_open_file("/tmp", 0, &s, &err) == LLM_ERR_IO && strstr(err.msg, "/tmp"));

    mem_reader m = {w.p, w.n, 0, 37, 0, 0};
    prog g = {0, 0, 0.0f, 1};
    m.pos = 5; /* the source must rewind first */
    CHECK(gguf_source_from_reader(mr_read, mr_seek, mr_size, &m, on_progress, &g, &s, &err) == LLM_OK);
    CHECK(m.seeks == 1);
    expect_same(&s, &w);
    CHECK(g.calls >= 1 && g.monotonic && g.last == 1.0f);
    gguf_source_close(&s);

    /* Without size and seek: read until the reader returns 0. */
    m.pos = 0;
    CHECK(gguf_source_from_reader(mr_read, NULL, NULL, &m, NULL, NULL, &s, &err) == LLM_OK);
    expect_same(&s, &w);
    gguf_source_close(&s);

    /* Abort from progress. The default chunk is large, so make the reader chunky and stop at once. */
    m.pos = 0;
    g = (prog){0, 1, 0.0f, 1};
    llm_status st = gguf_source_from_reader(mr_read, mr_seek, mr_size, &m, on_progress, &g, &s, &err);
    CHECK(st == LLM_ERR_ABORTED && s.data == NULL && strstr(err.msg, "abort"));

    /* A reader that stops early is an I/O error. */
    m.pos = 0;
    m.fail_at_half = 1;
    st = gguf_source_from_reader(mr_read, mr_seek, mr_size, &m, NULL, NULL, &s, &err);
    CHECK(st == LLM_ERR_IO && strstr(err.msg, "offset"));
    CHECK(gguf_source_from_reader(NULL, NULL, NULL, NULL, NULL, NULL, &s, &err) == LLM_ERR_INVALID_ARGUMENT);

    gw_free(&w);
    if (g_fail) {
        fprintf(stderr, "test_gguf_source: %d failures\n", g_fail);
        return 1;
    }
    printf("test_gguf_source: ok\n");
    return 0;
}
