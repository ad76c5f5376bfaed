#include "chat/chat_conv.h"

#include <stdio.h>
#include <string.h>

#include "chat/json_text.h"

void llm_chat_conv_free(llm_chat_conv *c) {
    llm_buf_free(&c->messages);
    llm_buf_free(&c->vars);
    c->n_messages = 0;
}

void llm_chat_conv_clear(llm_chat_conv *c) {
    llm_buf_clear(&c->messages);
    c->n_messages = 0;
}

static int begin_message(llm_chat_conv *c) { return c->n_messages ? llm_buf_append(&c->messages, ", ", 2) : 0; }

int llm_chat_conv_add_text(llm_chat_conv *c, const char *role, const char *content, size_t content_len) {
    const size_t mark = c->messages.len;
    int r = begin_message(c);
    r |= llm_buf_append_str(&c->messages, "{\"role\": ");
    r |= llm_json_append_string(&c->messages, role, strlen(role));
    r |= llm_buf_append_str(&c->messages, ", \"content\": ");
    r |= llm_json_append_string(&c->messages, content, content_len);
    r |= llm_buf_append(&c->messages, "}", 1);
    if (r) {
        c->messages.len = mark;
        return -1;
    }
    c->n_messages++;
    return 0;
}

int llm_chat_conv_add_json(llm_chat_conv *c, const char *json, size_t len) {
    const size_t mark = c->messages.len;
    if (begin_message(c) || llm_buf_append(&c->messages, json, len)) {
        c->messages.len = mark;
        return -1;
    }
    c->n_messages++;
    return 0;
}

void llm_chat_conv_truncate(llm_chat_conv *c, size_t mark_len, size_t mark_n) {
    if (mark_len <= c->messages.len) c->messages.len = mark_len;
    if (c->messages.data) c->messages.data[c->messages.len] = '\0';
    c->n_messages = mark_n;
}

llm_status llm_chat_conv_set_vars(llm_chat_conv *c, const char *vars_json, char *msg, size_t msg_cap) {
    if (!vars_json || !*vars_json) {
        llm_buf_clear(&c->vars);
        return LLM_OK;
    }
    size_t n = strlen(vars_json), b, len;
    llm_status st = llm_chat_check_object(vars_json, n, msg, msg_cap);
    if (st != LLM_OK) return st;
    if (llm_json_object_inside(vars_json, n, &b, &len)) return LLM_ERR_INVALID_ARGUMENT;
    llm_buf_clear(&c->vars);
    if (llm_buf_append(&c->vars, vars_json + b, len)) return LLM_ERR_OUT_OF_MEMORY;
    return LLM_OK;
}

int llm_chat_build_vars(const llm_chat_tokens *tk, const char *vars_inside, size_t vars_len,
                        const char *messages, size_t messages_len, int add_generation_prompt, llm_buf *out) {
    int r = llm_buf_append_str(out, "{\"bos_token\": ");
    r |= llm_json_append_string(out, tk->bos ? tk->bos : "", tk->bos ? tk->bos_len : 0);
    r |= llm_buf_append_str(out, ", \"eos_token\": ");
    r |= llm_json_append_string(out, tk->eos ? tk->eos : "", tk->eos ? tk->eos_len : 0);
    if (vars_len) {
        r |= llm_buf_append(out, ", ", 2);
        r |= llm_buf_append(out, vars_inside, vars_len);
    }
    r |= llm_buf_append_str(out, ", \"messages\": ");
    r |= llm_buf_append(out, messages, messages_len);
    r |= llm_buf_append_str(out, add_generation_prompt ? ", \"add_generation_prompt\": true}"
                                                       : ", \"add_generation_prompt\": false}");
    return r ? -1 : 0;
}

llm_status llm_chat_conv_render(const llm_chat_conv *c, const llm_tmpl *t, const llm_chat_tokens *tk,
                                const llm_tmpl_limits *limits, int add_generation_prompt, llm_buf *out, char *msg,
                                size_t msg_cap) {
    llm_buf list = {0}, vars = {0};
    int r = llm_buf_append(&list, "[", 1);
    r |= llm_buf_append(&list, c->messages.data ? c->messages.data : "", c->messages.len);
    r |= llm_buf_append(&list, "]", 1);
    r |= llm_chat_build_vars(tk, c->vars.data ? c->vars.data : "", c->vars.len, list.data ? list.data : "[]",
                             list.len, add_generation_prompt, &vars);
    llm_status st = r ? LLM_ERR_OUT_OF_MEMORY : llm_tmpl_render(t, vars.data, vars.len, limits, out, msg, msg_cap);
    if (r && msg_cap) snprintf(msg, msg_cap, "out of memory");
    llm_buf_free(&list);
    llm_buf_free(&vars);
    return st;
}

/* The shape checks run a small template on the JSON: the engine's reader is the one JSON parser
 * of the library, and its messages say where the text is malformed. */
static llm_status run_on(const char *src, const char *json, size_t len, llm_buf *out, char *msg, size_t msg_cap) {
    llm_tmpl *t = NULL;
    llm_status st = llm_tmpl_parse(src, strlen(src), NULL, &t, msg, msg_cap);
    if (st != LLM_OK) return st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_INTERNAL;
    llm_buf vars = {0};
    int r = llm_buf_append_str(&vars, "{\"x\": ");
    r |= llm_buf_append(&vars, json, len);
    r |= llm_buf_append(&vars, "}", 1);
    st = r ? LLM_ERR_OUT_OF_MEMORY : llm_tmpl_render(t, vars.data, vars.len, NULL, out, msg, msg_cap);
    /* a malformed value makes the whole object malformed; a failed check raises */
    if (st == LLM_ERR_FORMAT || st == LLM_ERR_LIMIT || st == LLM_ERR_INVALID_UTF8) st = LLM_ERR_INVALID_ARGUMENT;
    llm_buf_free(&vars);
    llm_tmpl_free(t);
    return st;
}

static llm_status check_with(const char *src, const char *json, size_t len, char *msg, size_t msg_cap) {
    llm_buf out = {0};
    llm_status st = run_on(src, json, len, &out, msg, msg_cap);
    llm_buf_free(&out);
    return st;
}

llm_status llm_chat_message_role(const char *json, size_t len, llm_buf *role) {
    return run_on("{{ x.role }}", json, len, role, NULL, 0);
}

llm_status llm_chat_check_message(const char *json, size_t len, char *msg, size_t msg_cap) {
    return check_with("{% if x is not mapping %}{{ raise_exception('a message must be a JSON object') }}"
                      "{% elif x.role is not string %}{{ raise_exception('a message needs a string \"role\"') }}"
                      "{% endif %}",
                      json, len, msg, msg_cap);
}

llm_status llm_chat_check_object(const char *json, size_t len, char *msg, size_t msg_cap) {
    return check_with("{% if x is not mapping %}{{ raise_exception('expected a JSON object') }}{% endif %}", json,
                      len, msg, msg_cap);
}

llm_status llm_chat_check_messages(const char *json, size_t len, char *msg, size_t msg_cap) {
    return check_with("{% if x is string or x is mapping or x is not iterable %}"
                      "{{ raise_exception('messages must be a JSON array') }}{% endif %}"
                      "{% for m in x %}{% if m is not mapping %}"
                      "{{ raise_exception('each message must be a JSON object') }}"
                      "{% elif m.role is not string %}{{ raise_exception('each message needs a string \"role\"') }}"
                      "{% endif %}{% endfor %}",
                      json, len, msg, msg_cap);
}
