/* A conversation as a chat template sees it: the messages (JSON objects in the OpenAI shape), the
 * caller's extra variables, and the assistant reply being generated. Rendering builds the
 * template's variables as one JSON object and runs the template engine on it. */
#ifndef LLM_CHAT_CHAT_CONV_H
#define LLM_CHAT_CHAT_CONV_H

#include <stddef.h>

#include "llm.h"
#include "template/template.h"
#include "util/buf.h"

typedef struct llm_chat_conv {
    llm_buf messages;   /* the elements of a JSON array, comma-separated */
    size_t n_messages;
    llm_buf vars;       /* the members of a JSON object, without braces ("" when none) */
} llm_chat_conv;

/* The special-token texts a template may write (bos_token, eos_token; "" when absent). */
typedef struct llm_chat_tokens {
    const char *bos;
    size_t bos_len;
    const char *eos;
    size_t eos_len;
} llm_chat_tokens;

void llm_chat_conv_free(llm_chat_conv *c);
void llm_chat_conv_clear(llm_chat_conv *c); /* forgets the messages, keeps the variables */

/* Appends {"role": role, "content": content} (both valid UTF-8). 0, or -1 on out of memory. */
int llm_chat_conv_add_text(llm_chat_conv *c, const char *role, const char *content, size_t content_len);
/* Appends a message given as JSON object text (checked by llm_chat_message_role first). */
int llm_chat_conv_add_json(llm_chat_conv *c, const char *json, size_t len);
/* Removes the last message (undoing an append whose rendering failed); mark is messages.len and
 * n_messages before it. */
void llm_chat_conv_truncate(llm_chat_conv *c, size_t mark_len, size_t mark_n);
/* Replaces the variables with the members of vars_json (an object; NULL or "" clears).
 * LLM_ERR_INVALID_ARGUMENT when it is not a JSON object. */
llm_status llm_chat_conv_set_vars(llm_chat_conv *c, const char *vars_json, char *msg, size_t msg_cap);

/* Builds the template's variables: bos_token, eos_token, the caller's variables (which may
 * override those two), messages (JSON array text) and add_generation_prompt. */
int llm_chat_build_vars(const llm_chat_tokens *tk, const char *vars_inside, size_t vars_len,
                        const char *messages, size_t messages_len, int add_generation_prompt, llm_buf *out);

/* Renders the conversation (appended to *out). */
llm_status llm_chat_conv_render(const llm_chat_conv *c, const llm_tmpl *t, const llm_chat_tokens *tk,
                                const llm_tmpl_limits *limits, int add_generation_prompt, llm_buf *out, char *msg,
                                size_t msg_cap);

/* Checks that JSON text is an object (template variables) and gives where its members are
 * (json[*begin .. *begin + *members_len), without the braces), as llm_chat_build_vars takes them.
 * LLM_OK or LLM_ERR_INVALID_ARGUMENT with a message. */
llm_status llm_chat_vars_members(const char *json, size_t len, size_t *begin, size_t *members_len, char *msg,
                                 size_t msg_cap);
/* Checks that JSON text is an array of objects each with a string "role" (messages). LLM_OK or
 * LLM_ERR_INVALID_ARGUMENT with a message. */
llm_status llm_chat_check_messages(const char *json, size_t len, char *msg, size_t msg_cap);
/* Checks that JSON text is one message (an object with a string "role") and appends its role to
 * *role: LLM_OK, LLM_ERR_INVALID_ARGUMENT with a message, or LLM_ERR_OUT_OF_MEMORY. */
llm_status llm_chat_message_role(const char *json, size_t len, llm_buf *role, char *msg, size_t msg_cap);

#endif
