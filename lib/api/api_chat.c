/* Chat templates on a model: choosing the template at load, and rendering conversations given as
 * role/content arrays (llm_chat_render) or as JSON (llm_chat_apply_template). Sessions keep their
 * own conversation (api_session.c). */
#include <string.h>

#include "api/internal.h"
#include "runtime/textout.h"

static int valid_model(const llm_model *m) { return m && m->h.magic == LLM_MAGIC_MODEL; }

void llm_tmpl_limits_from_options(const llm_options *o, llm_tmpl_limits *l) {
    l->max_steps = (size_t)llm_options_value(o, LLM_OPT_TEMPLATE_MAX_STEPS);
    l->max_depth = (size_t)llm_options_value(o, LLM_OPT_TEMPLATE_MAX_DEPTH);
    l->max_output = (size_t)llm_options_value(o, LLM_OPT_TEMPLATE_MAX_OUTPUT);
    l->max_memory = (size_t)llm_options_value(o, LLM_OPT_TEMPLATE_MAX_MEMORY);
}

static void token_text(const llm_tokenizer *tok, int32_t id, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    if (!tok || id < 0) return;
    const char *p = llm_tokenizer_piece(tok, id, 1, len);
    if (p) *text = p;
    else *len = 0;
}

void llm_model_chat_tokens(const llm_model *m, llm_chat_tokens *tk) {
    token_text(m ? m->tok : NULL, m && m->tok ? llm_tokenizer_bos(m->tok) : -1, &tk->bos, &tk->bos_len);
    token_text(m ? m->tok : NULL, m && m->tok ? llm_tokenizer_eos(m->tok) : -1, &tk->eos, &tk->eos_len);
}

llm_status llm_model_chat_init(llm_model *m, const llm_options *o, llm_err *err) {
    llm_tmpl_limits_from_options(o, &m->tmpl_limits);
    char warning[320];
    llm_status st = llm_chat_template_choose(m->gguf, m->tok, m->arch_name, &m->tmpl_limits, &m->chat_tmpl,
                                             &m->chat_source, warning, sizeof warning);
    if (st != LLM_OK) return llm_err_set(err, st, "cannot set up the chat template");
    if (warning[0]) llm_log(m, LLM_LOG_WARN, "%s; using %s", warning, m->chat_source);
    return LLM_OK;
}

llm_status llm_chat_render(const llm_model *m, const char *const *roles, const char *const *contents,
                           size_t n_messages, int add_generation_prompt, char *buffer, size_t capacity,
                           size_t *needed) {
    if (!valid_model(m) || (n_messages && (!roles || !contents))) return LLM_ERR_INVALID_ARGUMENT;
    if (!m->chat_tmpl) return LLM_ERR_UNSUPPORTED;
    llm_chat_conv conv = {0};
    llm_status st = LLM_OK;
    for (size_t i = 0; i < n_messages && st == LLM_OK; i++) {
        if (!roles[i] || !contents[i]) st = LLM_ERR_INVALID_ARGUMENT;
        else if (!llm_utf8_is_valid(roles[i], strlen(roles[i])) || !llm_utf8_is_valid(contents[i], strlen(contents[i])))
            st = LLM_ERR_INVALID_UTF8;
        else if (llm_chat_conv_add_text(&conv, roles[i], contents[i], strlen(contents[i])))
            st = LLM_ERR_OUT_OF_MEMORY;
    }
    llm_buf out = {0};
    llm_chat_tokens tk;
    llm_model_chat_tokens(m, &tk);
    if (st == LLM_OK)
        st = llm_chat_conv_render(&conv, m->chat_tmpl, &tk, &m->tmpl_limits, add_generation_prompt, &out, NULL, 0);
    if (st == LLM_OK) st = llm_copy_out(out.data ? out.data : "", out.len, buffer, capacity, needed);
    llm_buf_free(&out);
    llm_chat_conv_free(&conv);
    return st;
}

/* Records an error on options (when given) and returns it. */
static llm_status fail_on(llm_options *o, llm_status st, const char *what, const char *msg) {
    if (o) llm_fail(&o->h, st, "%s%s%s", what, msg && *msg ? ": " : "", msg ? msg : "");
    return st;
}

llm_status llm_chat_apply_template(const llm_model *m, const char *template_text, const char *messages_json,
                                   const char *vars_json, int add_generation_prompt, llm_options *o, char *buffer,
                                   size_t capacity, size_t *needed) {
    if (o && o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    if (m && !valid_model(m)) return fail_on(o, LLM_ERR_INVALID_ARGUMENT, "invalid model handle", NULL);
    if (!messages_json) return fail_on(o, LLM_ERR_INVALID_ARGUMENT, "messages_json is NULL", NULL);
    if (!m && !template_text) return fail_on(o, LLM_ERR_INVALID_ARGUMENT, "give a model or a template", NULL);
    llm_tmpl_limits limits;
    if (o) llm_tmpl_limits_from_options(o, &limits);
    else limits = m ? m->tmpl_limits : (llm_tmpl_limits){0};
    char msg[LLM_ERRMSG_MAX] = "";
    llm_tmpl *own = NULL;
    const llm_tmpl *t = m ? m->chat_tmpl : NULL;
    if (template_text) {
        llm_status st = llm_tmpl_parse(template_text, strlen(template_text), &limits, &own, msg, sizeof msg);
        if (st != LLM_OK) return fail_on(o, st, "the template does not parse", msg);
        t = own;
    } else if (!t) {
        return fail_on(o, LLM_ERR_NOT_FOUND, "the model has no chat template", NULL);
    }
    const size_t mlen = strlen(messages_json), vlen = vars_json ? strlen(vars_json) : 0;
    size_t vb = 0, vn = 0;
    llm_status st = llm_chat_check_messages(messages_json, mlen, msg, sizeof msg);
    if (st != LLM_OK) {
        fail_on(o, st, "messages_json", msg);
    } else if (vlen && (st = llm_chat_vars_members(vars_json, vlen, &vb, &vn, msg, sizeof msg)) != LLM_OK) {
        fail_on(o, st, "vars_json", msg);
    }
    llm_buf vars = {0}, out = {0};
    if (st == LLM_OK) {
        llm_chat_tokens tk;
        llm_model_chat_tokens(m, &tk);
        if (llm_chat_build_vars(&tk, vlen ? vars_json + vb : "", vn, messages_json, mlen, add_generation_prompt,
                                &vars))
            st = fail_on(o, LLM_ERR_OUT_OF_MEMORY, "out of memory", NULL);
    }
    if (st == LLM_OK) {
        st = llm_tmpl_render(t, vars.data, vars.len, &limits, &out, msg, sizeof msg);
        if (st != LLM_OK) fail_on(o, st, "the template failed", msg);
    }
    if (st == LLM_OK) st = llm_copy_out(out.data ? out.data : "", out.len, buffer, capacity, needed);
    llm_buf_free(&vars);
    llm_buf_free(&out);
    llm_tmpl_free(own);
    return st;
}
