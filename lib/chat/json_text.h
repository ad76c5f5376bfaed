/* Writing JSON text: strings escaped the way Python's json.dumps(ensure_ascii=False) escapes
 * them, so that what the chat code builds reads back as the same Python strings in a template. */
#ifndef LLM_CHAT_JSON_TEXT_H
#define LLM_CHAT_JSON_TEXT_H

#include <stddef.h>

#include "util/buf.h"

/* Appends s (n bytes of valid UTF-8) as a quoted JSON string. Returns 0, or -1 on out of memory. */
int llm_json_append_string(llm_buf *out, const char *s, size_t n);

/* The members of a JSON object text, without its braces and surrounding space: {"a": 1} gives
 * "\"a\": 1", {} gives "". Returns 0 and sets *begin and *len, or -1 when the text does not start
 * with '{' and end with '}' (its inside is checked by the JSON reader when used). */
int llm_json_object_inside(const char *json, size_t n, size_t *begin, size_t *len);

#endif
