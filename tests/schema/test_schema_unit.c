/* Unit tests of lib/schema (JSON Schema to GBNF): exact grammars of small schemas, the errors
 * with their status and message, bounds, and the public llm_json_schema_to_grammar (buffer
 * sizes, the error recorded on the options handle). The sampling test against Python jsonschema
 * is tests/schema/test_schema_grammar.py. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"
#include "schema/json_schema.h"

/* The grammar of a schema, or NULL with *st and err set. The caller frees. */
static char *convert(const char *schema, llm_status *st, llm_err *err) {
    llm_buf out = {0};
    memset(err, 0, sizeof *err);
    *st = llm_schema_to_gbnf(schema, strlen(schema), &out, err);
    if (*st != LLM_OK) {
        llm_buf_free(&out);
        return NULL;
    }
    return out.data ? out.data : strdup("");
}

/* The body of rule name in grammar g ("" when absent), in a static buffer. */
static const char *rule(const char *g, const char *name) {
    static char body[4096];
    size_t nl = strlen(name);
    body[0] = 0;
    for (const char *p = g; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl + 5 && strncmp(p, name, nl) == 0 && strncmp(p + nl, " ::= ", 5) == 0) {
            size_t bl = len - nl - 5 < sizeof body - 1 ? len - nl - 5 : sizeof body - 1;
            memcpy(body, p + nl + 5, bl);
            body[bl] = 0;
            break;
        }
        p = eol ? eol + 1 : NULL;
    }
    return body;
}

static void expect_root(const char *schema, const char *want) {
    llm_status st;
    llm_err err;
    char *g = convert(schema, &st, &err);
    CHECK(st == LLM_OK, "%s: status %d (%s)", schema, st, err.msg);
    if (g) {
        CHECK(strncmp(g, "root ::= ", 9) == 0, "%s: grammar does not start with root: %s", schema, g);
        CHECK(strcmp(rule(g, "root"), want) == 0, "%s:\n  root ::= %s\n  want     %s", schema, rule(g, "root"), want);
    }
    free(g);
}

static void expect_error(const char *schema, llm_status want, const char *needle) {
    llm_status st;
    llm_err err;
    char *g = convert(schema, &st, &err);
    CHECK(st == want, "%s: status %d, want %d (%s)", schema, st, want, err.msg);
    CHECK(g == NULL, "%s: produced a grammar", schema);
    CHECK(strstr(err.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", schema, err.msg, needle);
    free(g);
}

static void test_exact_grammars(void) {
    expect_root("{\"type\": \"string\"}", "string");
    expect_root("{\"type\": \"integer\"}", "integer");
    expect_root("{\"type\": \"number\"}", "number");
    expect_root("{\"type\": \"boolean\"}", "boolean");
    expect_root("{\"type\": \"null\"}", "\"null\"");
    expect_root("{}", "value");
    expect_root("true", "value");
    expect_root("{\"title\": \"x\", \"description\": \"y\", \"examples\": [1]}", "value");
    expect_root("{\"const\": \"a\\\"b\"}", "\"\\\"a\\\\\\\"b\\\"\"");
    expect_root("{\"enum\": [1, null, [true]]}", "\"1\" | \"null\" | \"[true]\"");
    expect_root("{\"enum\": [1, \"x\"], \"type\": \"string\"}", "\"\\\"x\\\"\"");
    expect_root("{\"type\": [\"string\", \"null\"]}", "\"null\" | string");
    expect_root("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 5}", "\"\\\"\" char{2,5} \"\\\"\"");
    expect_root("{\"type\": \"string\", \"maxLength\": 0}", "\"\\\"\\\"\"");
    expect_root("{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 150}",
                "( \"0\" | [1-9] [0-9]? | \"1\" ( [0-4] [0-9] | \"5\" \"0\" ) )");
    expect_root("{\"type\": \"integer\", \"exclusiveMinimum\": -1, \"exclusiveMaximum\": 10}", "( \"0\" | [1-9] )");
    expect_root("{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"minItems\": 1, \"maxItems\": 3}",
                "\"[\" ws boolean ( \",\" ws boolean ){0,2} ws \"]\"");
    expect_root("{\"type\": \"array\", \"maxItems\": 0}", "\"[\" ws \"]\"");
    expect_root("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"], "
                "\"additionalProperties\": false}",
                "\"{\" ws \"\\\"a\\\"\" \":\" ws integer ws \"}\"");
    expect_root("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"null\"}}, \"additionalProperties\": false}",
                "\"{\" ws ( \"\\\"a\\\"\" \":\" ws \"null\" ws )? \"}\"");
    expect_root("{\"type\": \"string\", \"pattern\": \"^[a-c]x?$\"}", "\"\\\"\" [a-c] \"x\"? \"\\\"\"");
    expect_root("{\"type\": \"string\", \"pattern\": \"^ab{2}|c$\"}", "\"\\\"\" ( \"a\" \"b\"{2} char* | char* \"c\" ) \"\\\"\"");
    expect_root("{\"type\": \"string\", \"pattern\": \"^\\\\d+$\", \"maxLength\": 4}", "\"\\\"\" [0-9]{1,4} \"\\\"\"");
    expect_root("{\"$defs\": {\"b\": {\"type\": \"boolean\"}}, \"$ref\": \"#/$defs/b\"}", "b");
    expect_root("{\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"boolean\"}]}", "\"null\" | boolean");
    expect_root("{\"allOf\": [{\"type\": \"integer\", \"minimum\": 1}, {\"maximum\": 3}]}", "( [1-3] )");
}

static void test_recursion(void) {
    llm_status st;
    llm_err err;
    char *g = convert("{\"$defs\": {\"node\": {\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#/$defs/node\"}}}},"
                      " \"$ref\": \"#/$defs/node\"}",
                      &st, &err);
    CHECK(st == LLM_OK, "recursive: %s", err.msg);
    if (g) {
        CHECK(strcmp(rule(g, "root"), "node") == 0, "root is %s", rule(g, "root"));
        CHECK(strstr(rule(g, "node"), "node") != NULL, "node does not recurse: %s", rule(g, "node"));
    }
    free(g);
    /* an optional property whose schema has no finite document is left out */
    g = convert("{\"$defs\": {\"l\": {\"type\": \"object\", \"properties\": {\"n\": {\"$ref\": \"#/$defs/l\"}}, \"required\": "
                "[\"n\"]}}, \"type\": \"object\", \"properties\": {\"x\": {\"$ref\": \"#/$defs/l\"}}, \"additionalProperties\": false}",
                &st, &err);
    CHECK(st == LLM_OK, "unproductive optional: %s", err.msg);
    if (g) CHECK(strcmp(rule(g, "root"), "\"{\" ws \"}\"") == 0, "root is %s", rule(g, "root"));
    free(g);
}

static void test_errors(void) {
    /* unsupported keywords name themselves */
    expect_error("{\"type\": \"integer\", \"multipleOf\": 2}", LLM_ERR_UNSUPPORTED, "\"multipleOf\"");
    expect_error("{\"not\": {}}", LLM_ERR_UNSUPPORTED, "\"not\"");
    expect_error("{\"properties\": {\"a\": {\"patternProperties\": {}}}}", LLM_ERR_UNSUPPORTED, "/properties/a");
    expect_error("{\"type\": \"string\", \"format\": \"uri\"}", LLM_ERR_UNSUPPORTED, "format \"uri\"");
    expect_error("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 3}]}", LLM_ERR_UNSUPPORTED, "oneOf: branches 0 and 1");
    expect_error("{\"type\": \"array\", \"uniqueItems\": true}", LLM_ERR_UNSUPPORTED, "uniqueItems");
    expect_error("{\"pattern\": \"(?<=a)b\"}", LLM_ERR_UNSUPPORTED, "lookahead and lookbehind");
    expect_error("{\"$ref\": \"http://example.com/s.json\"}", LLM_ERR_UNSUPPORTED, "only references inside");
    /* malformed */
    expect_error("{\"type\": \"str\"}", LLM_ERR_INVALID_ARGUMENT, "unknown type \"str\"");
    expect_error("{\"properties\": {\"a\": {\"minLength\": \"2\"}}}", LLM_ERR_INVALID_ARGUMENT,
                 "minLength must be a non-negative integer (at /properties/a)");
    expect_error("{\"items\": [1]}", LLM_ERR_INVALID_ARGUMENT, "a schema must be an object or a boolean (at /items/0)");
    expect_error("{\"pattern\": \"a)\"}", LLM_ERR_INVALID_ARGUMENT, "unbalanced parenthesis");
    expect_error("{\"$ref\": \"#/nowhere\"}", LLM_ERR_INVALID_ARGUMENT, "names nothing");
    expect_error("{\"type\": \"string\", \"minLength\": 3, \"maxLength\": 2}", LLM_ERR_INVALID_ARGUMENT, "allows no JSON document");
    expect_error("{\"type\": \"integer\", \"minimum\": 0.5, \"maximum\": 0.7}", LLM_ERR_INVALID_ARGUMENT, "allows no JSON document");
    expect_error("{\"a\": ", LLM_ERR_INVALID_ARGUMENT, "not valid JSON");
    expect_error("{\"enum\": [Infinity]}", LLM_ERR_INVALID_ARGUMENT, "NaN or Infinity");
    expect_error("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}",
                 LLM_ERR_INVALID_ARGUMENT, "refers to itself");
    /* limits */
    expect_error("{\"type\": \"array\", \"minItems\": 10001}", LLM_ERR_LIMIT, "minItems 10001");
    expect_error("{\"type\": \"string\", \"pattern\": \"x{10001}\"}", LLM_ERR_LIMIT, "10001 times");
    llm_buf deep = {0};
    for (int i = 0; i < 70; i++) llm_buf_append_str(&deep, "{\"items\": ");
    llm_buf_append_str(&deep, "{}");
    for (int i = 0; i < 70; i++) llm_buf_append_str(&deep, "}");
    expect_error(deep.data, LLM_ERR_LIMIT, "nested deeper than 64");
    llm_buf_free(&deep);
    /* NULL and size */
    llm_buf out = {0};
    llm_err err = {0};
    CHECK(llm_schema_to_gbnf(NULL, 0, &out, &err) == LLM_ERR_INVALID_ARGUMENT, "NULL schema");
    CHECK(llm_schema_to_gbnf("{}", 2, NULL, &err) == LLM_ERR_INVALID_ARGUMENT, "NULL output");
    CHECK(llm_schema_to_gbnf("{}", SCHEMA_MAX_INPUT + 1, &out, &err) == LLM_ERR_LIMIT, "input size");
    CHECK(out.len == 0, "output written on failure");
    /* a repeated maximum is lowered, not refused */
    expect_root("{\"type\": \"array\", \"items\": {\"type\": \"null\"}, \"maxItems\": 100000}",
                "\"[\" ws ( \"null\" ( \",\" ws \"null\" ){0,9999} ws )? \"]\"");
}

static void test_public_api(void) {
    llm_options *o = llm_options_new();
    size_t needed = 0;
    const char *schema = "{\"type\": \"boolean\"}";
    CHECK(llm_json_schema_to_grammar(schema, o, NULL, 0, &needed) == LLM_ERR_BUFFER_TOO_SMALL, "size query");
    CHECK(needed > 10, "needed %zu", needed);
    char *buf = malloc(needed + 1);
    size_t n2 = 0;
    CHECK(llm_json_schema_to_grammar(schema, o, buf, needed + 1, &n2) == LLM_OK, "convert");
    CHECK(n2 == needed && strlen(buf) == needed, "length %zu vs %zu", n2, needed);
    CHECK(strncmp(buf, "root ::= boolean\n", 17) == 0, "grammar %s", buf);
    CHECK(llm_json_schema_to_grammar(schema, o, buf, needed, &n2) == LLM_ERR_BUFFER_TOO_SMALL && buf[0] == 0,
          "one byte short");
    free(buf);
    CHECK(llm_json_schema_to_grammar("{\"not\": {}}", o, NULL, 0, &needed) == LLM_ERR_UNSUPPORTED, "unsupported");
    CHECK(strstr(llm_last_error(o), "\"not\"") != NULL, "error on options: %s", llm_last_error(o));
    CHECK(llm_json_schema_to_grammar("{\"type\": 1}", o, NULL, 0, &needed) == LLM_ERR_INVALID_ARGUMENT, "invalid");
    CHECK(strstr(llm_last_error(o), "type must be") != NULL, "error on options: %s", llm_last_error(o));
    CHECK(llm_json_schema_to_grammar(NULL, o, NULL, 0, &needed) == LLM_ERR_INVALID_ARGUMENT, "NULL schema");
    CHECK(strstr(llm_last_error(o), "NULL") != NULL, "error on options: %s", llm_last_error(o));
    CHECK(llm_json_schema_to_grammar("{}", NULL, NULL, 0, &needed) == LLM_ERR_BUFFER_TOO_SMALL, "NULL options");
    CHECK(llm_json_schema_to_grammar("{]", NULL, NULL, 0, NULL) == LLM_ERR_INVALID_ARGUMENT, "NULL everything");
    llm_options_free(o);
}

int main(void) {
    test_exact_grammars();
    test_recursion();
    test_errors();
    test_public_api();
    return check_summary("test_schema_unit");
}
