/* Which chat template a model uses: its own (tokenizer.chat_template, parsed by lib/template), or,
 * for a file without one (or whose template does not parse), a built-in template of one of the
 * well-known formats, chosen from the architecture and the special tokens of the vocabulary. */
#ifndef LLM_CHAT_CHAT_FORMAT_H
#define LLM_CHAT_CHAT_FORMAT_H

#include <stddef.h>

#include "gguf/gguf.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

typedef enum llm_chat_format {
    LLM_CHAT_NONE = 0,
    LLM_CHAT_GEMMA = 1,  /* <start_of_turn>user\n...<end_of_turn>\n, system folded into user */
    LLM_CHAT_LLAMA3 = 2, /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    LLM_CHAT_CHATML = 3, /* <|im_start|>role\n...<|im_end|>\n */
    LLM_CHAT_PHI3 = 4,   /* <|role|>\n...<|end|>\n (Phi-3 / 3.5) */
    LLM_CHAT_MISTRAL = 5 /* [INST]...[/INST] and the reply closed by eos; system folded into user */
} llm_chat_format;

/* The built-in format for a file without a usable template, from the architecture and the special
 * tokens of the vocabulary (LLM_CHAT_NONE when nothing fits). */
llm_chat_format llm_chat_guess_format(const llm_tokenizer *tok, const char *arch);
/* Jinja source of a built-in format ("" for LLM_CHAT_NONE). */
const char *llm_chat_builtin_template(llm_chat_format fmt);

/* The template a model's chats use: the file's own when it parses, else the built-in one.
 * *tmpl is NULL when there is none. *source describes the choice for logs and `llm info`
 * (static text or the file's: "the file's chat template", "built-in chatml", ...); when the
 * file's template does not parse, *warning (a buffer of warning_cap bytes) says why. */
llm_status llm_chat_template_choose(const gguf_file *f, const llm_tokenizer *tok, const char *arch,
                                    const llm_tmpl_limits *limits, llm_tmpl **tmpl, const char **source,
                                    char *warning, size_t warning_cap);

#endif
