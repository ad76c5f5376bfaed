#include "runtime/chat.h"

#include <string.h>

/* Whitespace as Python's str.strip() sees it, which is what the templates' `| trim` does. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (n >= 2 && c == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3 && c == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
    if (n >= 3 && c == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) return 3;
    if (n >= 3 && c == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (n >= 3 && c == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

/* Length of the UTF-8 sequence that ends at s[end-1], if it is whitespace. */
static size_t trailing_space_len(const unsigned char *s, size_t end) {
    for (size_t k = 1; k <= 3 && k <= end; k++) {
        size_t l = space_len(s + end - k, k);
        if (l == k) return k;
    }
    return 0;
}

static int append_trimmed(llm_buf *out, const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), b = 0, e = n, l;
    while (b < e && (l = space_len(s + b, e - b)) > 0) b += l;
    while (e > b && (l = trailing_space_len(s, e)) > 0) e -= l;
    return llm_buf_append(out, text + b, e - b);
}

static int contains(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

llm_chat_format llm_chat_detect(const gguf_file *f, const llm_tokenizer *tok, const char *arch) {
    gguf_str t;
    if (f && gguf_get_str(f, "tokenizer.chat_template", &t) == LLM_OK) {
        if (contains(t.ptr, t.len, "<start_of_turn>")) return LLM_CHAT_GEMMA;
        if (contains(t.ptr, t.len, "<|start_header_id|>")) return LLM_CHAT_LLAMA3;
        if (contains(t.ptr, t.len, "<|im_start|>")) return LLM_CHAT_CHATML;
        if (contains(t.ptr, t.len, "<|user|>") && contains(t.ptr, t.len, "<|end|>")) return LLM_CHAT_PHI3;
        /* Mistral's tekken-style template ([INST]text[/INST]); Llama 2's (<<SYS>>) and the
         * older Mistral ones with spaces around the text render differently: not matched */
        if (contains(t.ptr, t.len, "[INST]") && !contains(t.ptr, t.len, "<<SYS>>") &&
            !contains(t.ptr, t.len, "[INST] ") && !contains(t.ptr, t.len, " [/INST]"))
            return LLM_CHAT_MISTRAL;
    }
    if (arch && strncmp(arch, "gemma", 5) == 0) return LLM_CHAT_GEMMA;
    if (arch && strcmp(arch, "phi3") == 0) return LLM_CHAT_PHI3;
    if (tok) {
        if (llm_tokenizer_find(tok, "<|start_header_id|>", 19) >= 0) return LLM_CHAT_LLAMA3;
        if (llm_tokenizer_find(tok, "<|im_start|>", 12) >= 0) return LLM_CHAT_CHATML;
        if (llm_tokenizer_find(tok, "<start_of_turn>", 15) >= 0) return LLM_CHAT_GEMMA;
        if (llm_tokenizer_find(tok, "<|user|>", 8) >= 0 && llm_tokenizer_find(tok, "<|end|>", 7) >= 0)
            return LLM_CHAT_PHI3;
    }
    return LLM_CHAT_NONE;
}

const char *llm_chat_format_name(llm_chat_format fmt) {
    switch (fmt) {
    case LLM_CHAT_GEMMA: return "gemma";
    case LLM_CHAT_LLAMA3: return "llama3";
    case LLM_CHAT_CHATML: return "chatml";
    case LLM_CHAT_PHI3: return "phi3";
    case LLM_CHAT_MISTRAL: return "mistral";
    case LLM_CHAT_NONE: break;
    }
    return "none";
}

int llm_chat_begin(llm_chat_format fmt, const llm_tokenizer *tok, llm_buf *out) {
    /* ChatML and Phi-3 templates write no BOS text of their own */
    if (fmt == LLM_CHAT_CHATML || fmt == LLM_CHAT_PHI3 || !tok) return 0;
    int32_t bos = llm_tokenizer_bos(tok);
    if (bos < 0) return 0;
    size_t n = 0;
    const char *p = llm_tokenizer_piece(tok, bos, 1, &n);
    return p ? llm_buf_append(out, p, n) : 0;
}

int llm_chat_message(llm_chat_format fmt, const char *role, const char *content,
                     const char *system_prefix, llm_buf *out) {
    int r = 0;
    switch (fmt) {
    case LLM_CHAT_GEMMA:
        r |= llm_buf_append_str(out, "<start_of_turn>");
        r |= llm_buf_append_str(out, strcmp(role, "assistant") == 0 ? "model" : role);
        r |= llm_buf_append_str(out, "\n");
        if (system_prefix) {
            r |= llm_buf_append_str(out, system_prefix);
            r |= llm_buf_append_str(out, "\n\n");
        }
        r |= append_trimmed(out, content);
        r |= llm_buf_append_str(out, "<end_of_turn>\n");
        break;
    case LLM_CHAT_LLAMA3:
        r |= llm_buf_append_str(out, "<|start_header_id|>");
        r |= llm_buf_append_str(out, role);
        r |= llm_buf_append_str(out, "<|end_header_id|>\n\n");
        r |= append_trimmed(out, content);
        r |= llm_buf_append_str(out, "<|eot_id|>");
        break;
    case LLM_CHAT_CHATML:
        r |= llm_buf_append_str(out, "<|im_start|>");
        r |= llm_buf_append_str(out, role);
        r |= llm_buf_append_str(out, "\n");
        r |= llm_buf_append_str(out, content);
        r |= llm_buf_append_str(out, "<|im_end|>\n");
        break;
    case LLM_CHAT_PHI3: /* the template skips empty system messages */
        if (strcmp(role, "system") == 0 && !*content) break;
        r |= llm_buf_append_str(out, "<|");
        r |= llm_buf_append_str(out, role);
        r |= llm_buf_append_str(out, "|>\n");
        r |= llm_buf_append_str(out, content);
        r |= llm_buf_append_str(out, "<|end|>\n");
        break;
    case LLM_CHAT_MISTRAL:
        /* Mistral's template puts the system message in front of the LAST user message; a live
         * session cannot move text it has already evaluated, so the system message goes in front
         * of the next user message (the same text for the usual system + first question). */
        if (strcmp(role, "assistant") == 0) {
            r |= llm_buf_append_str(out, content);
            r |= llm_buf_append_str(out, "</s>");
            break;
        }
        r |= llm_buf_append_str(out, "[INST]");
        if (system_prefix) {
            r |= llm_buf_append_str(out, system_prefix);
            r |= llm_buf_append_str(out, "\n\n");
        }
        r |= llm_buf_append_str(out, content);
        r |= llm_buf_append_str(out, "[/INST]");
        break;
    case LLM_CHAT_NONE:
        return -1;
    }
    return r ? -1 : 0;
}

const char *llm_chat_generation_prompt(llm_chat_format fmt) {
    switch (fmt) {
    case LLM_CHAT_GEMMA: return "<start_of_turn>model\n";
    case LLM_CHAT_LLAMA3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case LLM_CHAT_CHATML: return "<|im_start|>assistant\n";
    case LLM_CHAT_PHI3: return "<|assistant|>\n";
    case LLM_CHAT_MISTRAL: return ""; /* [/INST] already opened the reply */
    case LLM_CHAT_NONE: break;
    }
    return "";
}

const char *llm_chat_turn_end(llm_chat_format fmt) {
    switch (fmt) {
    case LLM_CHAT_GEMMA: return "<end_of_turn>\n";
    case LLM_CHAT_LLAMA3: return "<|eot_id|>";
    case LLM_CHAT_CHATML: return "<|im_end|>\n";
    case LLM_CHAT_PHI3: return "<|end|>\n";
    case LLM_CHAT_MISTRAL: return "</s>";
    case LLM_CHAT_NONE: break;
    }
    return "";
}

int llm_chat_folds_system(llm_chat_format fmt) { return fmt == LLM_CHAT_GEMMA || fmt == LLM_CHAT_MISTRAL; }
