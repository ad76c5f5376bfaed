/* JSON Schema to GBNF: the grammar (start rule "root", in the notation of lib/grammar) of JSON
 * documents valid against a schema. This is what llm_json_schema_to_grammar and
 * llm_session_set_json_schema run.
 *
 * What the grammar generates is a subset of the valid documents, chosen so that every generated
 * document validates (checked against Python's jsonschema with its FormatChecker by
 * tests/schema/test_schema_grammar.py):
 *   - whitespace: none, or one space, or one newline and up to 16 spaces, after '{', '[', ',' and
 *     ':' and before '}' and ']' (bounded, so a model cannot ramble in whitespace);
 *   - object keys in the schema's order: "properties" first (optional ones may be absent), then
 *     required keys that "properties" does not list; other keys only where additionalProperties
 *     is given as true or as a schema (then any number of keys outside "properties"), or where an
 *     object schema names no properties at all (a free-form object). With additionalProperties
 *     absent and properties listed, no extra keys are generated (the spec allows them; generating
 *     none is valid);
 *   - numbers without exponents where bounds apply; at most 16 integer digits on an unbounded
 *     side, at most 16 fraction digits; bounds are exact for integers and exact or slightly
 *     inward for fractional bounds (never a number outside them);
 *   - strings: \u escapes never name surrogates (so each escape is one character for
 *     minLength/maxLength); "pattern" is a regular expression of the subset in schema_regex.c,
 *     unanchored ends mean "contains" (any characters may stand there); formats date, time,
 *     date-time, uuid, email, idn-email, ipv4, ipv6 (full form) are generated in a form the
 *     FormatChecker accepts (February 29 is never generated);
 *   - oneOf: the union of its branches, accepted only where each branch's generated documents
 *     provably fail every other branch (different types, a required key the other branch never
 *     generates or forbids, different const/enum values of a required key, ...); otherwise
 *     LLM_ERR_UNSUPPORTED.
 *   - minProperties/maxProperties only where the listed keys already satisfy them (extra keys are
 *     then counted: at most maxProperties minus the listed ones, at least one where minProperties
 *     is one above the required count); uniqueItems: true only with maxItems 0 or 1; "items" as
 *     an array with "additionalItems" (drafts before 2020-12) as prefixItems and items;
 *   - $ref siblings apply too (2020-12; in older drafts they are ignored, so applying them only
 *     narrows what is generated); $ref only to "#..." JSON pointers inside the schema.
 * Refused with LLM_ERR_UNSUPPORTED: multipleOf, not, if (other than true), patternProperties,
 * propertyNames, dependentRequired/dependentSchemas/dependencies, contains and min/maxContains,
 * unevaluatedProperties/Items, $dynamicRef/$recursiveRef, formats that jsonschema checks but that
 * are not generated (uri, hostname, ...), two different patterns on one string, pattern with
 * format. Unknown keywords and annotations are ignored, as jsonschema ignores them.
 * Repetition bounds (maxLength, maxItems) above SCHEMA_MAX_REPEAT are lowered to it; a minimum
 * above it is LLM_ERR_LIMIT. */
#ifndef LLM_SCHEMA_JSON_SCHEMA_H
#define LLM_SCHEMA_JSON_SCHEMA_H

#include <stddef.h>

#include "util/buf.h"
#include "util/common.h"

/* Bounds on what an untrusted schema may cost (exceeding one: LLM_ERR_LIMIT). */
#define SCHEMA_MAX_INPUT (1u << 20)   /* bytes of schema JSON */
#define SCHEMA_MAX_JSON_DEPTH 128     /* nesting of the JSON text */
#define SCHEMA_MAX_DEPTH 64           /* nesting of schemas walked at once (through $ref too) */
#define SCHEMA_MAX_REPEAT 10000       /* repetition counts in the grammar (= LLM_GRAMMAR_MAX_REPEAT) */
#define SCHEMA_MAX_OUTPUT (4u << 20)  /* bytes of grammar (= LLM_GRAMMAR_MAX_TEXT) */
#define SCHEMA_MAX_RULES 20000        /* rules of the grammar */
#define SCHEMA_MAX_NODES 200000       /* schema nodes, after allOf/anyOf distribution */
#define SCHEMA_MAX_PATTERN 4096       /* bytes of one "pattern" */

/* Converts the schema json[0..len) and appends the grammar to out (on failure out holds
 * nothing new). Errors (message in err): LLM_ERR_INVALID_ARGUMENT for malformed JSON or a
 * malformed schema ("at /properties/x: ..."), LLM_ERR_UNSUPPORTED naming the keyword,
 * LLM_ERR_LIMIT, LLM_ERR_OUT_OF_MEMORY. */
llm_status llm_schema_to_gbnf(const char *json, size_t len, llm_buf *out, llm_err *err);

#endif
