/* Getting a file's bytes into memory. mmap is preferred for models (pages load lazily and are
 * shared between processes); the heap paths exist for memory and reader-based loading. */
#include "gguf/gguf_source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reader chunk: large enough for few callback round trips, small enough for smooth progress. */
#define READ_CHUNK ((size_t)4 << 20)

static llm_status io_err(llm_err *err, const char *what, const char *path, int e) {
    return llm_err_set(err, LLM_ERR_IO, "cannot %s '%s': %s", what, path, strerror(e));
}

static llm_status read_fd(int fd, const char *path, size_t size, gguf_source *out, llm_err *err) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory reading '%s' (%zu bytes)", path, size);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            llm_status st = n < 0 ? io_err(err, "read", path, errno)
                                  : llm_err_set(err, LLM_ERR_IO, "cannot read '%s': file shrank to %zu bytes while reading",
                                                path, got);
            free(buf);
            return st;
        }
        got += (size_t)n;
    }
    out->data = size ? buf : NULL;
    out->size = size;
    out->owned = buf;
    return LLM_OK;
}

llm_status gguf_source_open_file(const char *path, int use_mmap, gguf_source *out, llm_err *err) {
    if (!out || !path) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL path or output");
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_err(err, "open", path, errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return io_err(err, "stat", path, e);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return llm_err_set(err, LLM_ERR_IO, "cannot load '%s': not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return llm_err_set(err, LLM_ERR_IO, "cannot load '%s': too large for this address space", path);
    }
    size_t size = (size_t)sb.st_size;
    llm_status st = LLM_OK;
    if (use_mmap && size > 0) { /* an empty mapping is an error, so empty files take the read path */
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = io_err(err, "map", path, errno);
        } else {
            out->data = m;
            out->size = size;
            out->is_mapped = 1;
            out->owned = m;
            out->map_size = size;
        }
    } else {
        st = read_fd(fd, path, size, out, err);
    }
    close(fd); /* a mapping stays valid after its descriptor is closed */
    return st;
}

llm_status gguf_source_from_memory(const void *data, size_t size, gguf_source *out, llm_err *err) {
    if (!out || (!data && size)) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL data or output");
    memset(out, 0, sizeof *out);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory copying %zu bytes", size);
    if (size) memcpy(buf, data, size);
    out->data = size ? buf : NULL;
    out->size = size;
    out->owned = buf;
    return LLM_OK;
}

/* Unknown total: grows the buffer geometrically until the reader returns 0. */
static llm_status read_unknown_size(llm_read_fn read, void *ud, gguf_source *out, llm_err *err) {
    size_t cap = READ_CHUNK, got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory reading the model");
    for (;;) {
        if (got == cap) {
            uint8_t *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory reading the model (%zu bytes)", got);
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - got < READ_CHUNK ? cap - got : READ_CHUNK;
        size_t n = read(ud, buf + got, want);
        if (n == 0) break;
        if (n > want) {
            free(buf);
            return llm_err_set(err, LLM_ERR_IO, "reader returned %zu bytes for a %zu-byte request", n, want);
        }
        got += n;
    }
    out->data = got ? buf : NULL;
    out->size = got;
    out->owned = buf;
    return LLM_OK;
}

llm_status gguf_source_from_reader(llm_read_fn read, llm_seek_fn seek, llm_size_fn size, void *user_data,
                                   llm_progress_fn progress, void *progress_ud, gguf_source *out, llm_err *err) {
    if (!out || !read) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL reader or output");
    memset(out, 0, sizeof *out);
    if (seek && seek(user_data, 0) != 0) return llm_err_set(err, LLM_ERR_IO, "reader: seek to offset 0 failed");
    llm_status st;
    if (!size) {
        st = read_unknown_size(read, user_data, out, err);
        if (st == LLM_OK && progress && !progress(progress_ud, 1.0f)) {
            gguf_source_close(out);
            return llm_err_set(err, LLM_ERR_ABORTED, "loading aborted by the progress callback");
        }
        return st;
    }
    uint64_t total64 = size(user_data);
    if (total64 > SIZE_MAX)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "reader: size %" PRIu64 " exceeds the address space", total64);
    size_t total = (size_t)total64;
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory reading %zu bytes", total);
    size_t got = 0;
    while (got < total) {
        size_t want = total - got < READ_CHUNK ? total - got : READ_CHUNK;
        size_t n = read(user_data, buf + got, want);
        if (n == 0 || n > want) {
            free(buf);
            return llm_err_set(err, LLM_ERR_IO, "reader: read failed at offset %zu of %zu (returned %zu)", got,
                               total, n);
        }
        got += n;
        if (progress && !progress(progress_ud, (float)((double)got / (double)total))) {
            free(buf);
            return llm_err_set(err, LLM_ERR_ABORTED, "loading aborted by the progress callback at %zu of %zu bytes",
                               got, total);
        }
    }
    if (total == 0 && progress && !progress(progress_ud, 1.0f)) {
        free(buf);
        return llm_err_set(err, LLM_ERR_ABORTED, "loading aborted by the progress callback");
    }
    out->data = total ? buf : NULL;
    out->size = total;
    out->owned = buf;
    return LLM_OK;
}

void gguf_source_close(gguf_source *src) {
    if (!src) return;
    if (src->is_mapped) munmap(src->owned, src->map_size);
    else free(src->owned);
    memset(src, 0, sizeof *src);
}
