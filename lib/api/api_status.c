/* Versions, status strings and the per-handle error text. */
#include <stdarg.h>
#include <stdio.h>

#include "api/internal.h"

const char *llm_version(void) { return LLM_VERSION_STRING; }
int llm_version_number(void) { return LLM_VERSION_NUMBER; }

const char *llm_status_str(llm_status status) {
    switch (status) {
    case LLM_OK: return "ok";
    case LLM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case LLM_ERR_OUT_OF_MEMORY: return "out of memory";
    case LLM_ERR_IO: return "input/output error";
    case LLM_ERR_FORMAT: return "malformed input (model file, template or grammar)";
    case LLM_ERR_UNSUPPORTED: return "unsupported model feature";
    case LLM_ERR_ABORTED: return "aborted";
    case LLM_ERR_CONTEXT_FULL: return "context full";
    case LLM_ERR_INVALID_UTF8: return "invalid UTF-8";
    case LLM_ERR_NOT_FOUND: return "not found";
    case LLM_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case LLM_ERR_TYPE_MISMATCH: return "type mismatch";
    case LLM_ERR_LIMIT: return "limit reached";
    case LLM_ERR_BACKEND: return "backend not available";
    case LLM_ERR_STATE: return "invalid state for this call";
    case LLM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

static int known_magic(uint32_t m) {
    return m == LLM_MAGIC_OPTIONS || m == LLM_MAGIC_MODEL || m == LLM_MAGIC_CONTEXT ||
           m == LLM_MAGIC_SESSION;
}

const char *llm_last_error(const void *handle) {
    if (!handle) return "invalid handle";
    const llm_handle_header *h = handle;
    if (!known_magic(h->magic)) return "invalid handle";
    return h->err.msg;
}

llm_status llm_fail(llm_handle_header *h, llm_status code, const char *fmt, ...) {
    if (h) {
        h->err.code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->err.msg, sizeof h->err.msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void llm_log(const llm_model *m, llm_log_level level, const char *fmt, ...) {
    if (!m || !m->log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    m->log(m->log_ud, level, buf);
}
