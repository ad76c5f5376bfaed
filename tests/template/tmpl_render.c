/* tmpl_render TEMPLATE_FILE VARS_JSON_FILE: prints the rendering to stdout exactly (exit 0), or
 * "STATUS_NAME: message" to stderr (exit 2). Used by the differential tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0) break;
        n += k;
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *status_name(llm_status st) {
    switch (st) {
    case LLM_OK: return "LLM_OK";
    case LLM_ERR_INVALID_ARGUMENT: return "LLM_ERR_INVALID_ARGUMENT";
    case LLM_ERR_OUT_OF_MEMORY: return "LLM_ERR_OUT_OF_MEMORY";
    case LLM_ERR_FORMAT: return "LLM_ERR_FORMAT";
    case LLM_ERR_INVALID_UTF8: return "LLM_ERR_INVALID_UTF8";
    case LLM_ERR_LIMIT: return "LLM_ERR_LIMIT";
    default: return "LLM_ERR_OTHER";
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tmpl_render TEMPLATE_FILE VARS_JSON_FILE\n");
        return 2;
    }
    size_t tlen = 0, vlen = 0;
    char *tsrc = slurp(argv[1], &tlen), *vsrc = slurp(argv[2], &vlen);
    if (!tsrc || !vsrc) {
        fprintf(stderr, "LLM_ERR_IO: cannot read %s\n", tsrc ? argv[2] : argv[1]);
        free(tsrc);
        free(vsrc);
        return 2;
    }
    char msg[512];
    llm_tmpl *t = NULL;
    llm_buf out = {0};
    llm_status st = llm_tmpl_parse(tsrc, tlen, NULL, &t, msg, sizeof msg);
    if (st == LLM_OK) st = llm_tmpl_render(t, vsrc, vlen, NULL, &out, msg, sizeof msg);
    int rc = 0;
    if (st == LLM_OK) {
        if (out.len) fwrite(out.data, 1, out.len, stdout);
    } else {
        fprintf(stderr, "%s: %s\n", status_name(st), msg);
        rc = 2;
    }
    llm_buf_free(&out);
    llm_tmpl_free(t);
    free(tsrc);
    free(vsrc);
    return rc;
}
