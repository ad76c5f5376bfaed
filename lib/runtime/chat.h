/* Built-in chat formats (the full template engine comes later). Each format is described by the
 * text pieces around a message, so the same pieces render a whole conversation (llm_chat_render)
 * and feed a live session one message at a time (they are prefix-stable by construction). */
#ifndef LLM_RUNTIME_CHAT_H
#define LLM_RUNTIME_CHAT_H

#include <stddef.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/buf.h"

typedef enum llm_chat_format {
    LLM_CHAT_NONE = 0,
    LLM_CHAT_GEMMA = 1,  /* <start_of_turn>user\n...<end_of_turn>\n, system folded into user */
    LLM_CHAT_LLAMA3 = 2, /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    LLM_CHAT_CHATML = 3, /* <|im_start|>role\n...<|im_end|>\n */
    LLM_CHAT_PHI3 = 4,   /* <|role|>\n...<|end|>\n (Phi-3 / 3.5) */
    LLM_CHAT_MISTRAL = 5 /* [INST]...[/INST] and the reply closed by </s>; system folded into user */
} llm_chat_format;

/* Chooses the format from tokenizer.chat_template when present, else from the architecture
 * and the special tokens of the vocabulary. */
llm_chat_format llm_chat_detect(const gguf_file *f, const llm_tokenizer *tok, const char *arch);
const char *llm_chat_format_name(llm_chat_format fmt);

/* Text that opens a conversation (the BOS token's text where the format writes it). */
int llm_chat_begin(llm_chat_format fmt, const llm_tokenizer *tok, llm_buf *out);
/* One complete message. system_prefix (may be NULL) is a pending system message that a format
 * folds into the user turn (Gemma). role is "system", "user" or "assistant" (other roles are
 * passed through as written). Returns 0, or -1 on out of memory. */
int llm_chat_message(llm_chat_format fmt, const char *role, const char *content,
                     const char *system_prefix, llm_buf *out);
/* The header of the assistant's turn, and the text that closes a finished assistant turn. */
const char *llm_chat_generation_prompt(llm_chat_format fmt);
const char *llm_chat_turn_end(llm_chat_format fmt);
/* 1 when the format folds system messages into the next user message instead of rendering a
 * turn of their own. */
int llm_chat_folds_system(llm_chat_format fmt);

#endif
