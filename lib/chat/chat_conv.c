#include "chat/chat_conv.h"

#include <stdio.h>
#include <string.h>

#include "chat/json_text.h"
#include "template/json_read.h"

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
    size_t b, len;
    llm_status st = llm_chat_vars_members(vars_json, strlen(vars_json), &b, &len, msg, msg_cap);
    if (st != LLM_OK) return st;
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

/* The shape checks read the JSON with the template engine's reader, the one JSON parser of the
 * library (its messages say where the text is malformed), and check the type of the whole:
 * want_type, described by what for the message when it is another. */
static llm_status parse(const char *json, size_t len, llm_json_type want_type, const char *what, llm_json_doc **doc,
                        const llm_json **root, char *msg, size_t msg_cap) {
    llm_status st = llm_json_parse(json, len, 0, 0, doc, root, msg, msg_cap);
    if (st != LLM_OK) return st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_INVALID_ARGUMENT;
    if ((*root)->type == want_type) return LLM_OK;
    if (msg_cap) snprintf(msg, msg_cap, "%s", what);
    return LLM_ERR_INVALID_ARGUMENT;
}

static const llm_json *member(const llm_json *obj, const char *key) {
    const size_t n = strlen(key);
    for (size_t i = 0; i < obj->u.obj.n; i++)
        if (obj->u.obj.members[i].key_len == n && memcmp(obj->u.obj.members[i].key, key, n) == 0)
            return obj->u.obj.members[i].value;
    return NULL;
}

/* A message: an object whose "role" is a string. */
static llm_status check_one(const llm_json *m, const char *what, char *msg, size_t msg_cap) {
    if (m->type != LLM_JSON_OBJECT) {
        if (msg_cap) snprintf(msg, msg_cap, "%s must be a JSON object", what);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    const llm_json *role = member(m, "role");
    if (!role || role->type != LLM_JSON_STRING) {
        if (msg_cap) snprintf(msg, msg_cap, "%s needs a string \"role\"", what);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    return LLM_OK;
}

llm_status llm_chat_vars_members(const char *json, size_t len, size_t *begin, size_t *members_len, char *msg,
                                 size_t msg_cap) {
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    llm_status st = parse(json, len, LLM_JSON_OBJECT, "expected a JSON object", &doc, &root, msg, msg_cap);
    llm_json_doc_free(doc);
    /* a JSON object's text starts with '{' and ends with '}' once space is trimmed */
    if (st == LLM_OK && llm_json_object_inside(json, len, begin, members_len)) st = LLM_ERR_INTERNAL;
    return st;
}

llm_status llm_chat_check_messages(const char *json, size_t len, char *msg, size_t msg_cap) {
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    llm_status st = parse(json, len, LLM_JSON_ARRAY, "messages must be a JSON array", &doc, &root, msg, msg_cap);
    for (size_t i = 0; st == LLM_OK && i < root->u.arr.n; i++) st = check_one(root->u.arr.items[i], "each message", msg, msg_cap);
    llm_json_doc_free(doc);
    return st;
}

llm_status llm_chat_message_role(const char *json, size_t len, llm_buf *role, char *msg, size_t msg_cap) {
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    llm_status st = parse(json, len, LLM_JSON_OBJECT, "a message must be a JSON object", &doc, &root, msg, msg_cap);
    if (st == LLM_OK) st = check_one(root, "a message", msg, msg_cap);
    if (st == LLM_OK) {
        const llm_json *r = member(root, "role");
        if (llm_buf_append(role, r->u.str.s, r->u.str.len)) {
            if (msg_cap) snprintf(msg, msg_cap, "out of memory");
            st = LLM_ERR_OUT_OF_MEMORY;
        }
    }
    llm_json_doc_free(doc);
    return st;
}
