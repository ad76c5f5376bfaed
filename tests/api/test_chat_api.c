/* The chat-template calls of the public API on the real Gemma 3 270M (built with ASan+UBSan in the
 * second pass): llm_chat_apply_template's inputs, errors and limits; a session's chat that feeds
 * only what the cache lacks (counted with llm_session_n_evaluated); whole JSON messages and template
 * variables; a message the template cannot render leaving the conversation as it was. (The Gemma 3
 * 270M file has no template of its own: its chats use the built-in Gemma template.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

static llm_model *g_model;

/* Renders into a static buffer; returns the status. */
static char g_out[16384];
static llm_status apply(const char *tmpl, const char *messages, const char *vars, int agp, llm_options *o) {
    size_t need = 0;
    g_out[0] = '\0';
    return llm_chat_apply_template(g_model, tmpl, messages, vars, agp, o, g_out, sizeof g_out, &need);
}

static void test_apply_template(void) {
    llm_options *o = llm_options_new();
    const char *msgs = "[{\"role\": \"user\", \"content\": \"Hi \\u00e9\"}]";
    /* the file's template (Gemma 3's): BOS, the turn, the generation prompt */
    CHECK(apply(NULL, msgs, NULL, 1, o) == LLM_OK, "apply: %s", llm_last_error(o));
    CHECK(strcmp(g_out, "<bos><start_of_turn>user\nHi \xc3\xa9<end_of_turn>\n<start_of_turn>model\n") == 0, "got '%s'", g_out);
    /* a template of the caller's, with variables; bos_token from the model unless overridden */
    CHECK(apply("{{ bos_token }}|{{ greeting }}|{{ messages | length }}|{{ add_generation_prompt }}", msgs,
                "{\"greeting\": \"hello\"}", 0, o) == LLM_OK, "custom: %s", llm_last_error(o));
    CHECK(strcmp(g_out, "<bos>|hello|1|False") == 0, "got '%s'", g_out);
    CHECK(apply("{{ bos_token }}", "[]", "{\"bos_token\": \"B\"}", 0, o) == LLM_OK && strcmp(g_out, "B") == 0, "override '%s'", g_out);
    /* the buffer protocol: too small says how much */
    size_t need = 0;
    char small[4];
    CHECK(llm_chat_apply_template(g_model, NULL, msgs, NULL, 1, o, small, sizeof small, &need) == LLM_ERR_BUFFER_TOO_SMALL &&
              need == strlen("<bos><start_of_turn>user\nHi \xc3\xa9<end_of_turn>\n<start_of_turn>model\n"),
          "need %zu", need);
    /* bad inputs: statuses and messages, never a crash */
    CHECK(llm_chat_apply_template(NULL, NULL, msgs, NULL, 1, o, g_out, sizeof g_out, &need) == LLM_ERR_INVALID_ARGUMENT, "no model, no template");
    CHECK(llm_chat_apply_template(g_model, NULL, NULL, NULL, 1, o, g_out, sizeof g_out, &need) == LLM_ERR_INVALID_ARGUMENT, "NULL messages");
    CHECK(llm_chat_apply_template(NULL, "x", "[]", NULL, 1, NULL, g_out, sizeof g_out, &need) == LLM_OK && strcmp(g_out, "x") == 0, "no model, no options");
    CHECK(apply(NULL, "[{\"role\": ", NULL, 1, o) == LLM_ERR_INVALID_ARGUMENT, "malformed messages");
    CHECK(strstr(llm_last_error(o), "messages") != NULL, "message names the argument: %s", llm_last_error(o));
    CHECK(apply(NULL, "{\"role\": \"user\"}", NULL, 1, o) == LLM_ERR_INVALID_ARGUMENT, "messages not an array");
    CHECK(apply(NULL, "[{\"content\": \"x\"}]", NULL, 1, o) == LLM_ERR_INVALID_ARGUMENT, "message without role");
    CHECK(apply(NULL, msgs, "[1]", 1, o) == LLM_ERR_INVALID_ARGUMENT, "vars not an object");
    CHECK(apply(NULL, msgs, "{\"a\": }", 1, o) == LLM_ERR_INVALID_ARGUMENT, "malformed vars");
    CHECK(apply(NULL, "[{\"role\": \"user\", \"content\": \"\xff\"}]", NULL, 1, o) != LLM_OK, "invalid UTF-8");
    CHECK(apply("line one\n{% if %}", msgs, NULL, 1, o) == LLM_ERR_FORMAT, "syntax error");
    CHECK(strstr(llm_last_error(o), "line 2") != NULL, "names the line: %s", llm_last_error(o));
    CHECK(apply("{{ raise_exception('no system role') }}", msgs, NULL, 1, o) == LLM_ERR_FORMAT &&
              strstr(llm_last_error(o), "no system role") != NULL, "raise_exception: %s", llm_last_error(o));
    /* limits, from the options */
    llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_STEPS, 1000);
    CHECK(apply("{% for i in range(100000) %}x{% endfor %}", msgs, NULL, 1, o) == LLM_ERR_LIMIT, "steps: %s", llm_last_error(o));
    llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_STEPS, 1000000);
    llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_OUTPUT, 100);
    CHECK(apply("{% for i in range(1000) %}xx{% endfor %}", msgs, NULL, 1, o) == LLM_ERR_LIMIT, "output: %s", llm_last_error(o));
    llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_OUTPUT, 1 << 20);
    llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_DEPTH, 8);
    char deep[512] = "{{ "; /* 200 nested parentheses */
    for (int i = 0; i < 200; i++) strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 200; i++) strcat(deep, ")");
    strcat(deep, " }}");
    CHECK(apply(deep, msgs, NULL, 1, o) == LLM_ERR_LIMIT, "depth: %s", llm_last_error(o));
    CHECK(apply("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", msgs, NULL, 1, o) == LLM_ERR_LIMIT,
          "recursion: %s", llm_last_error(o));
    CHECK(llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_DEPTH, 100000) == LLM_ERR_INVALID_ARGUMENT, "depth bound");
    llm_options_free(o);
}

static llm_session *new_session(llm_context **c, int64_t max_output) {
    llm_options *o = llm_options_new();
    if (max_output) llm_options_set_int(o, LLM_OPT_TEMPLATE_MAX_OUTPUT, max_output);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 1024);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 8);
    llm_session *s = NULL;
    if (llm_context_new(g_model, o, c) == LLM_OK) llm_session_new(*c, o, &s);
    CHECK(s != NULL, "session");
    llm_options_free(o);
    return s;
}

static int32_t count_tokens(const char *text) {
    size_t n = 0;
    llm_tokenize(g_model, text, -1, LLM_TOKENIZE_SPECIAL, NULL, 0, &n);
    return (int32_t)n;
}

static void test_session_chat(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 0);
    if (!s) return;
    CHECK(llm_session_n_evaluated(NULL) == 0, "NULL session");
    CHECK(llm_session_chat(s, "user", "Name a colour.") == LLM_OK, "chat: %s", llm_last_error(s));
    int64_t e0 = llm_session_n_evaluated(s);
    CHECK(e0 == count_tokens("<bos><start_of_turn>user\nName a colour.<end_of_turn>\n"), "first turn: %lld", (long long)e0);
    llm_finish why;
    CHECK(llm_session_generate(s, NULL, NULL, &why) == LLM_OK, "reply: %s", llm_last_error(s));
    int32_t past = llm_session_n_past(s);
    int64_t e1 = llm_session_n_evaluated(s);
    /* the next message: only its turn (and the reply's end, and a pending token after a length
     * finish) goes through the model */
    CHECK(llm_session_chat(s, "user", "Another one.") == LLM_OK, "second: %s", llm_last_error(s));
    int64_t fed = llm_session_n_evaluated(s) - e1;
    int32_t turn = count_tokens("<end_of_turn>\n<start_of_turn>user\nAnother one.<end_of_turn>\n");
    CHECK(fed == turn + (why == LLM_FINISH_LENGTH), "second turn fed %lld tokens, its turn is %d", (long long)fed, (int)turn);
    CHECK(llm_session_n_past(s) == past + fed, "the cache grew by what was fed");
    /* a whole message as JSON, and variables */
    CHECK(llm_session_chat_vars(s, "{\"tools\": []}") == LLM_OK, "vars");
    CHECK(llm_session_chat_vars(s, "[]") == LLM_ERR_INVALID_ARGUMENT, "vars not an object");
    CHECK(llm_session_chat_vars(s, NULL) == LLM_OK, "clear vars");
    CHECK(llm_session_chat_message(s, "{\"role\": \"assistant\", \"content\": \"Blue.\"}") == LLM_OK, "json message: %s",
          llm_last_error(s));
    CHECK(llm_session_chat_message(s, "{\"role\": 3}") == LLM_ERR_INVALID_ARGUMENT, "role not a string");
    CHECK(llm_session_chat_message(s, "not json") == LLM_ERR_INVALID_ARGUMENT, "not JSON");
    CHECK(llm_session_chat_message(s, NULL) == LLM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK(llm_session_chat(s, "user", "Thanks.") == LLM_OK, "the conversation goes on: %s", llm_last_error(s));
    CHECK(llm_session_generate(s, NULL, NULL, &why) == LLM_OK, "reply");
    /* text fed outside the conversation is replaced by the next message's rendering */
    int32_t before_feed = llm_session_n_past(s);
    CHECK(llm_session_feed_text(s, " stray", -1, 0) == LLM_OK, "feed");
    CHECK(llm_session_chat(s, "user", "Bye.") == LLM_OK, "chat after feed: %s", llm_last_error(s));
    CHECK(llm_session_n_past(s) > before_feed, "cache %d", (int)llm_session_n_past(s));
    /* reset forgets the conversation */
    CHECK(llm_session_reset(s) == LLM_OK && llm_session_n_evaluated(s) == 0, "reset");
    /* the same first message again: its prompt's whole pages come from the context's prefix cache */
    CHECK(llm_session_chat(s, "user", "Name a colour.") == LLM_OK &&
              llm_session_n_evaluated(s) + llm_session_n_reused(s) == e0,
          "fresh start: %lld evaluated + %d reused, %lld the first time", (long long)llm_session_n_evaluated(s),
          (int)llm_session_n_reused(s), (long long)e0);
    llm_session_free(s);
    llm_context_free(c);
}

/* A message the template cannot render (here: past the session's output limit) is refused, and
 * the conversation and the cache stay as they were. */
static void test_session_chat_refused(void) {
    llm_context *c = NULL;
    llm_session *s = new_session(&c, 200);
    if (!s) return;
    CHECK(llm_session_chat(s, "user", "Name a colour.") == LLM_OK, "chat: %s", llm_last_error(s));
    int32_t past = llm_session_n_past(s);
    char long_msg[400];
    memset(long_msg, 'a', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    CHECK(llm_session_chat(s, "user", long_msg) == LLM_ERR_LIMIT, "refused: %s", llm_last_error(s));
    CHECK(strstr(llm_last_error(s), "output") != NULL, "says which limit: %s", llm_last_error(s));
    CHECK(llm_session_n_past(s) == past, "nothing fed");
    llm_finish why;
    CHECK(llm_session_generate(s, NULL, NULL, &why) == LLM_OK, "the conversation goes on: %s", llm_last_error(s));
    CHECK(llm_session_chat(s, "user", "Thanks.") == LLM_OK, "next message: %s", llm_last_error(s));
    llm_session_free(s);
    llm_context_free(c);
}

int main(int argc, char **argv) {
    if (argc < 2 || !*argv[1]) {
        printf("usage: test_chat_api GEMMA3.gguf\n");
        return 1;
    }
    llm_options *o = llm_options_new();
    CHECK(llm_model_load_file(argv[1], o, &g_model) == LLM_OK, "load: %s", llm_last_error(o));
    llm_options_free(o);
    if (g_model) {
        test_apply_template();
        test_session_chat();
        test_session_chat_refused();
        llm_model_free(g_model);
    }
    return check_summary("test_chat_api");
}
