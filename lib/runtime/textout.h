/* Releasing generated text: only whole UTF-8 code points, and never text that may still turn
 * into a stop string. */
#ifndef LLM_RUNTIME_TEXTOUT_H
#define LLM_RUNTIME_TEXTOUT_H

#include <stddef.h>

#include "util/buf.h"

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence which more
 * bytes could still complete. Invalid bytes do not stop the prefix (they are replaced when
 * released). */
size_t llm_utf8_complete_prefix(const char *s, size_t n);
/* Appends s[0..n) with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
 * Returns 0, or -1 on out of memory. */
int llm_utf8_append_valid(llm_buf *out, const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8. */
int llm_utf8_is_valid(const char *s, size_t n);

/* Earliest occurrence of any stop string in text: returns 1 and sets *pos, else 0. */
int llm_stops_find(char *const *stops, size_t n_stops, const char *text, size_t len, size_t *pos);
/* Length of the longest suffix of text that is a proper prefix of some stop string: the bytes
 * that must be held back because the next token could complete a stop string. */
size_t llm_stops_holdback(char *const *stops, size_t n_stops, const char *text, size_t len);

#endif
