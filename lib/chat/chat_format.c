#include "chat/chat_format.h"

#include <stdio.h>
#include <string.h>

llm_chat_format llm_chat_guess_format(const llm_tokenizer *tok, const char *arch) {
    if (arch && strncmp(arch, "gemma", 5) == 0) return LLM_CHAT_GEMMA;
    if (arch && strcmp(arch, "phi3") == 0) return LLM_CHAT_PHI3;
    if (tok) {
        if (llm_tokenizer_find(tok, "<|start_header_id|>", 19) >= 0) return LLM_CHAT_LLAMA3;
        if (llm_tokenizer_find(tok, "<|im_start|>", 12) >= 0) return LLM_CHAT_CHATML;
        if (llm_tokenizer_find(tok, "<start_of_turn>", 15) >= 0) return LLM_CHAT_GEMMA;
        if (llm_tokenizer_find(tok, "<|user|>", 8) >= 0 && llm_tokenizer_find(tok, "<|end|>", 7) >= 0)
            return LLM_CHAT_PHI3;
        if (llm_tokenizer_find(tok, "[INST]", 6) >= 0) return LLM_CHAT_MISTRAL;
    }
    return LLM_CHAT_NONE;
}

/* The built-in formats, written as templates so that every chat goes through one engine. Each
 * writes its newlines as '\n' inside expressions: no text between tags, so trim_blocks and
 * lstrip_blocks cannot change them. A null content (an assistant turn that only calls tools)
 * renders as empty. */
static const char k_gemma[] =
    "{{ bos_token }}{% set ns = namespace(sys='') %}"
    "{% for m in messages %}"
    "{% if loop.first and m.role == 'system' %}{% set ns.sys = (m.content or '') ~ '\\n\\n' %}"
    "{% else %}{{ '<start_of_turn>' ~ ('model' if m.role == 'assistant' else m.role) ~ '\\n' ~ ns.sys"
    " ~ ((m.content or '') | trim) ~ '<end_of_turn>\\n' }}{% set ns.sys = '' %}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

static const char k_llama3[] =
    "{{ bos_token }}{% for m in messages %}"
    "{{ '<|start_header_id|>' ~ m.role ~ '<|end_header_id|>\\n\\n' ~ ((m.content or '') | trim) ~ '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

static const char k_chatml[] =
    "{% for m in messages %}{{ '<|im_start|>' ~ m.role ~ '\\n' ~ (m.content or '') ~ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* Phi-3's own template skips empty system messages. */
static const char k_phi3[] =
    "{% for m in messages %}{% if m.role != 'system' or m.content %}"
    "{{ '<|' ~ m.role ~ '|>\\n' ~ (m.content or '') ~ '<|end|>\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/* [INST]...[/INST] opens the reply itself; a system message goes in front of the next user one. */
static const char k_mistral[] =
    "{{ bos_token }}{% set ns = namespace(sys='') %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{% set ns.sys = (m.content or '') ~ '\\n\\n' %}"
    "{% elif m.role == 'assistant' %}{{ (m.content or '') ~ eos_token }}"
    "{% else %}{{ '[INST]' ~ ns.sys ~ (m.content or '') ~ '[/INST]' }}{% set ns.sys = '' %}{% endif %}"
    "{% endfor %}";

const char *llm_chat_builtin_template(llm_chat_format fmt) {
    switch (fmt) {
    case LLM_CHAT_GEMMA: return k_gemma;
    case LLM_CHAT_LLAMA3: return k_llama3;
    case LLM_CHAT_CHATML: return k_chatml;
    case LLM_CHAT_PHI3: return k_phi3;
    case LLM_CHAT_MISTRAL: return k_mistral;
    case LLM_CHAT_NONE: break;
    }
    return "";
}

static const char *const k_builtin_source[] = {
    "none", "built-in gemma", "built-in llama3", "built-in chatml", "built-in phi3", "built-in mistral",
};

llm_status llm_chat_template_choose(const gguf_file *f, const llm_tokenizer *tok, const char *arch,
                                    const llm_tmpl_limits *limits, llm_tmpl **tmpl, const char **source,
                                    char *warning, size_t warning_cap) {
    *tmpl = NULL;
    *source = "none";
    if (warning_cap) warning[0] = '\0';
    gguf_str t;
    if (f && gguf_get_str(f, "tokenizer.chat_template", &t) == LLM_OK) {
        char msg[256] = "";
        llm_status st = llm_tmpl_parse(t.ptr, (size_t)t.len, limits, tmpl, msg, sizeof msg);
        if (st == LLM_OK) {
            *source = "the file's chat template";
            return LLM_OK;
        }
        if (st == LLM_ERR_OUT_OF_MEMORY) return st;
        if (warning_cap) snprintf(warning, warning_cap, "the file's chat template cannot be used (%s)", msg);
    }
    llm_chat_format fmt = llm_chat_guess_format(tok, arch);
    if (fmt == LLM_CHAT_NONE) return LLM_OK;
    const char *src = llm_chat_builtin_template(fmt);
    char msg[256] = "";
    llm_status st = llm_tmpl_parse(src, strlen(src), NULL, tmpl, msg, sizeof msg);
    if (st != LLM_OK) return st == LLM_ERR_OUT_OF_MEMORY ? st : LLM_ERR_INTERNAL;
    *source = k_builtin_source[fmt];
    return LLM_OK;
}
