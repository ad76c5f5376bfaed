/* Escaping a byte of a JSON string the way Python's json.dumps does: shared by the template's
 * tojson (json_write.c) and the chat code's JSON text (lib/chat/json_text.c). */
#ifndef LLM_TEMPLATE_JSON_ESCAPE_H
#define LLM_TEMPLATE_JSON_ESCAPE_H

#include <stdbool.h>

#define LLM_JSON_ESCAPE_MAX 8 /* room for "\\u00XX" and its NUL */

/* The escape sequence json.dumps writes for byte c of a UTF-8 string: '"', '\\' and the control
 * characters, and DEL too when ensure_ascii (bytes >= 0x80 are not handled here). Returns a
 * NUL-terminated string (a literal, or buf, which holds LLM_JSON_ESCAPE_MAX bytes), or NULL when
 * c is written as it is. */
const char *llm_json_escape_byte(unsigned char c, bool ensure_ascii, char *buf);

#endif
