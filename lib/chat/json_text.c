#include "chat/json_text.h"

#include "template/json_escape.h"

int llm_json_append_string(llm_buf *out, const char *s, size_t n) {
    int r = llm_buf_append(out, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n && r == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        char hex[LLM_JSON_ESCAPE_MAX];
        const char *esc = llm_json_escape_byte(c, false, hex);
        if (!esc) {
            run++;
            continue;
        }
        r |= llm_buf_append(out, s + i - run, run);
        r |= llm_buf_append_str(out, esc);
        run = 0;
    }
    if (r == 0) r |= llm_buf_append(out, s + n - run, run);
    if (r == 0) r |= llm_buf_append(out, "\"", 1);
    return r ? -1 : 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int llm_json_object_inside(const char *json, size_t n, size_t *begin, size_t *len) {
    size_t b = 0, e = n;
    while (b < e && is_space(json[b])) b++;
    while (e > b && is_space(json[e - 1])) e--;
    if (e - b < 2 || json[b] != '{' || json[e - 1] != '}') return -1;
    b++;
    e--;
    while (b < e && is_space(json[b])) b++;
    while (e > b && is_space(json[e - 1])) e--;
    *begin = b;
    *len = e - b;
    return 0;
}
