/* libFuzzer target for the Jinja template engine (lib/template). Build with -DLLM_FUZZ=ON using
 * clang (tests/template_jinja.cmake).
 *
 * Input: TEMPLATE NUL VARS_JSON. Without a NUL byte the whole input is the template and the
 * variables are DEFAULT_VARS (a small chat with a system message, a tool call and a tool result),
 * so that template-only inputs (the real templates of the seed corpus) exercise their paths.
 * tests/fuzz/template_regressions/ holds inputs in the same format; test_template_jinja.py runs
 * them through tests/template/tmpl_render and splits them the same way.
 *
 * Both parts are copied to exact-size heap buffers (no NUL terminator) so that AddressSanitizer
 * sees any read past their ends. The limits are small so that one input stays fast. Checked
 * besides "no crash, no leak, no UB": the status is one the header allows, the message is
 * NUL-terminated inside its buffer, a second render of the same parsed template gives the
 * same status and bytes (a parsed template is read-only; renders share it between threads), the
 * output stays within max_output, and valid UTF-8 in gives valid UTF-8 out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep equal to DEFAULT_FUZZ_VARS in tests/template/test_template_jinja.py (a test compares). */
static const char DEFAULT_VARS[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"Hi\"}, "
    "{\"role\": \"assistant\", \"content\": \"Hello\", \"tool_calls\": [{\"id\": \"abc123456\", \"type\": "
    "\"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]}, {\"role\": \"tool\", "
    "\"tool_call_id\": \"abc123456\", \"content\": \"42\"}], \"tools\": [{\"type\": \"function\", "
    "\"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": "
    "{\"type\": \"integer\"}}}}}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\", "
    "\"eos_token\": \"</s>\"}";

#define MSG_CAP 96

/* 1 when p[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void check_message(const char *msg) {
    if (!memchr(msg, 0, MSG_CAP)) abort(); /* not NUL-terminated inside its buffer */
}

static int parse_status_ok(llm_status st) {
    return st == LLM_OK || st == LLM_ERR_FORMAT || st == LLM_ERR_INVALID_UTF8 || st == LLM_ERR_LIMIT ||
           st == LLM_ERR_OUT_OF_MEMORY;
}

static int render_status_ok(llm_status st) {
    return st == LLM_OK || st == LLM_ERR_FORMAT || st == LLM_ERR_INVALID_ARGUMENT || st == LLM_ERR_LIMIT ||
           st == LLM_ERR_OUT_OF_MEMORY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64 * 1024) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    const char *vsrc = nul ? (const char *)nul + 1 : DEFAULT_VARS;
    size_t vlen = nul ? size - tlen - 1 : sizeof DEFAULT_VARS - 1;

    char *tcopy = malloc(tlen ? tlen : 1);
    char *vcopy = malloc(vlen ? vlen : 1);
    if (!tcopy || !vcopy) {
        free(tcopy);
        free(vcopy);
        return 0;
    }
    if (tlen) memcpy(tcopy, data, tlen);
    if (vlen) memcpy(vcopy, vsrc, vlen);

    llm_tmpl_limits lim = {.max_steps = 20000, .max_depth = 24, .max_output = 64 * 1024, .max_memory = 8 << 20};
    char msg[MSG_CAP];
    memset(msg, 'x', sizeof msg);
    llm_tmpl *t = NULL;
    llm_status st = llm_tmpl_parse(tcopy, tlen, &lim, &t, msg, sizeof msg);
    check_message(msg);
    if (!parse_status_ok(st)) abort();
    if ((st == LLM_OK) != (t != NULL)) abort();
    if (st == LLM_OK) {
        llm_buf a = {0}, b = {0};
        memset(msg, 'x', sizeof msg);
        llm_status s1 = llm_tmpl_render(t, vcopy, vlen, &lim, &a, msg, sizeof msg);
        check_message(msg);
        if (!render_status_ok(s1)) abort();
        /* strftime_now may change between the two renders (a second rollover) */
        int clock = memmem(tcopy, tlen, "strftime", 8) != NULL;
        if (!clock) {
            llm_status s2 = llm_tmpl_render(t, vcopy, vlen, &lim, &b, msg, sizeof msg);
            if (s1 != s2) abort();
            if (s1 == LLM_OK && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))) abort();
        }
        if (s1 == LLM_OK && a.len > lim.max_output) abort();
        /* a template and variables of valid UTF-8 render valid UTF-8 (strings are code points) */
        if (s1 == LLM_OK && utf8_valid((const unsigned char *)tcopy, tlen) &&
            utf8_valid((const unsigned char *)vcopy, vlen) && !utf8_valid((const unsigned char *)a.data, a.len))
            abort();
        llm_buf_free(&a);
        llm_buf_free(&b);
    }
    llm_tmpl_free(t);
    /* a small message buffer truncates without overflowing */
    if (tlen < 256) {
        char small[3];
        llm_tmpl *t2 = NULL;
        llm_status st2 = llm_tmpl_parse(tcopy, tlen, &lim, &t2, small, sizeof small);
        if (st2 != st) abort();
        if (!memchr(small, 0, sizeof small)) abort();
        llm_tmpl_free(t2);
    }
    free(tcopy);
    free(vcopy);
    return 0;
}
