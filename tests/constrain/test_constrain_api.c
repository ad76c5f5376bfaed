/* Constrained output through the public API on the real Gemma 3 270M (262k-token vocabulary whose
 * tokens span several grammar elements; built with ASan+UBSan in the second pass):
 * llm_session_set_grammar / set_json_schema / llm_grammar_validate errors; outputs in the
 * grammar's language with every sampler setting and with llm_session_step, step_timed,
 * step_batch, generate, stop strings and chat; end of generation only where the grammar accepts;
 * LLM_FINISH_GRAMMAR; logit bias; log-probabilities against a log-softmax of the logits. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "llm.h"

static llm_model *g_model;
static llm_context *g_ctx;

static llm_session *new_session(double temp, int64_t seed) {
    llm_options *o = llm_options_new();
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, temp);
    llm_options_set_int(o, LLM_OPT_SEED, seed);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 48);
    llm_session *s = NULL;
    CHECK(llm_session_new(g_ctx, o, &s) == LLM_OK, "session: %s", llm_last_error(g_ctx));
    llm_options_free(o);
    return s;
}

/* Generates into out with llm_session_step; returns the finish reason. */
static llm_finish gen_step(llm_session *s, char *out, size_t cap) {
    size_t n = 0;
    llm_finish fin = LLM_FINISH_NONE;
    out[0] = '\0';
    for (int i = 0; i < 200 && fin == LLM_FINISH_NONE; i++) {
        const char *t = NULL;
        size_t len = 0;
        int32_t tok = -1;
        llm_status st = llm_session_step(s, &tok, &t, &len, &fin);
        CHECK(st == LLM_OK, "step: %s", llm_last_error(s));
        if (st != LLM_OK) break;
        if (len && n + len < cap) {
            memcpy(out + n, t, len);
            n += len;
            out[n] = '\0';
        }
    }
    return fin;
}

/* A small language whose strings are easy to check by hand: a greeting, a number, a yes/no. */
static const char *G_SMALL =
    "# comment\n"
    "root ::= greet \" \" num \" \" (\"yes\" | \"no\") \"!\"\n"
    "greet ::= \"Hello\" | \"Bonjour\" | \"\xc3\x9c" "ber\"\n" /* a multi-byte letter */
    "num ::= [1-9] [0-9]{0,3}\n";

static int in_small(const char *s) {
    const char *g[] = {"Hello ", "Bonjour ", "\xc3\x9c" "ber "};
    size_t gl = 0;
    for (int i = 0; i < 3 && !gl; i++)
        if (strncmp(s, g[i], strlen(g[i])) == 0) gl = strlen(g[i]);
    if (!gl) return 0;
    s += gl;
    if (*s < '1' || *s > '9') return 0;
    int d = 1;
    s++;
    while (*s >= '0' && *s <= '9') s++, d++;
    if (d > 4) return 0;
    return strcmp(s, " yes!") == 0 || strcmp(s, " no!") == 0;
}

static void test_errors(void) {
    llm_options *o = llm_options_new();
    CHECK(llm_grammar_validate(G_SMALL, NULL, o) == LLM_OK, "valid: %s", llm_last_error(o));
    CHECK(llm_grammar_validate("root ::= \"a\"\nbad ::= (\"x\"\n", NULL, o) == LLM_ERR_FORMAT, "unclosed group");
    CHECK(strstr(llm_last_error(o), "line 3, column 1") != NULL, "at the end: %s", llm_last_error(o));
    CHECK(llm_grammar_validate("root ::= \"a\"\nnext ::= \"b\" }\n", NULL, o) == LLM_ERR_FORMAT, "stray brace");
    CHECK(strstr(llm_last_error(o), "line 2, column 14") != NULL, "names the place: %s", llm_last_error(o));
    CHECK(llm_grammar_validate("root ::= undefined-rule\n", NULL, o) == LLM_ERR_FORMAT, "undefined rule");
    CHECK(strstr(llm_last_error(o), "undefined-rule") != NULL, "names it: %s", llm_last_error(o));
    CHECK(llm_grammar_validate("start ::= \"a\"\n", NULL, o) == LLM_ERR_FORMAT, "no root");
    CHECK(llm_grammar_validate("start ::= \"a\"\n", "start", o) == LLM_OK, "other root: %s", llm_last_error(o));
    CHECK(llm_grammar_validate(NULL, NULL, o) == LLM_ERR_INVALID_ARGUMENT, "NULL grammar");
    CHECK(llm_grammar_validate("root ::= \"a\"", NULL, NULL) == LLM_OK, "NULL options");
    llm_options_free(o);

    llm_session *s = new_session(0.0, 1);
    CHECK(llm_session_set_grammar(NULL, G_SMALL, NULL) == LLM_ERR_INVALID_ARGUMENT, "NULL session");
    CHECK(llm_session_set_grammar(s, "root ::= [a-\n", NULL) == LLM_ERR_FORMAT, "bad grammar");
    CHECK(strstr(llm_last_error(s), "line 1") != NULL, "line: %s", llm_last_error(s));
    CHECK(llm_session_set_json_schema(s, "{\"type\": ") == LLM_ERR_INVALID_ARGUMENT, "malformed schema JSON: %s",
          llm_last_error(s));
    CHECK(llm_session_set_json_schema(s, NULL) == LLM_ERR_INVALID_ARGUMENT, "NULL schema");
    CHECK(llm_session_set_json_schema(NULL, "{}") == LLM_ERR_INVALID_ARGUMENT, "NULL session");
    int32_t bad_tok = llm_model_n_vocab(g_model);
    float b = 1.0f;
    CHECK(llm_session_set_logit_bias(s, &bad_tok, &b, 1) == LLM_ERR_INVALID_ARGUMENT, "token out of range");
    CHECK(llm_session_set_logit_bias(s, NULL, NULL, 0) == LLM_OK, "clear");
    float lp;
    size_t n_top = 9;
    CHECK(llm_session_logprobs(s, &lp, NULL, NULL, 0, &n_top) == LLM_ERR_STATE && n_top == 0, "logprobs off");
    CHECK(llm_session_logprobs(NULL, &lp, NULL, NULL, 0, &n_top) == LLM_ERR_INVALID_ARGUMENT, "NULL session");
    /* a failed set leaves the previous grammar in place */
    CHECK(llm_session_set_grammar(s, "root ::= \"ok\"", NULL) == LLM_OK, "set: %s", llm_last_error(s));
    CHECK(llm_session_set_grammar(s, "root ::= (", NULL) == LLM_ERR_FORMAT, "bad");
    char out[512];
    CHECK(llm_session_feed_text(s, "Say ok:", -1, LLM_FEED_ADD_BOS) == LLM_OK, "feed");
    llm_finish fin = gen_step(s, out, sizeof out);
    CHECK(strcmp(out, "ok") == 0 && fin == LLM_FINISH_EOG, "kept grammar: '%s' finish %d", out, (int)fin);
    llm_session_free(s);
}

/* Outputs are strings of the language with every sampler setting, several seeds; a new feed
 * starts the grammar over. */
static void test_language(void) {
    const double temps[] = {0.0, 0.8, 1.5};
    for (int ti = 0; ti < 3; ti++)
        for (int seed = 0; seed < 3; seed++) {
            llm_session *s = new_session(temps[ti], seed);
            if (ti == 2) {
                llm_session_set_int(s, LLM_OPT_TOP_K, 0); /* the whole-vocabulary mask path */
                llm_session_set_float(s, LLM_OPT_TOP_P, 1.0);
                llm_session_set_float(s, LLM_OPT_MIN_P, 0.0);
            }
            CHECK(llm_session_set_grammar(s, G_SMALL, NULL) == LLM_OK, "set: %s", llm_last_error(s));
            for (int round = 0; round < 2; round++) {
                CHECK(llm_session_feed_text(s, round ? "\nAgain:" : "The robot said:", -1, LLM_FEED_ADD_BOS) == LLM_OK,
                      "feed");
                char out[512];
                llm_finish fin = gen_step(s, out, sizeof out);
                CHECK(in_small(out), "temp %.1f seed %d round %d: '%s' not in the language", temps[ti], seed, round, out);
                CHECK(fin == LLM_FINISH_EOG, "finish %d", (int)fin);
            }
            llm_session_free(s);
        }
}

/* The same output through llm_session_generate, step_timed (tiny budgets) and step_batch. */
static void test_step_variants(void) {
    char want[512], got[512];
    llm_session *a = new_session(0.9, 42);
    llm_session_set_grammar(a, G_SMALL, NULL);
    llm_session_feed_text(a, "Output:", -1, LLM_FEED_ADD_BOS);
    gen_step(a, want, sizeof want);
    CHECK(in_small(want), "'%s'", want);

    /* step_timed with a 1 us budget: many "not ready" returns, the same text */
    llm_session *b = new_session(0.9, 42);
    llm_session_set_grammar(b, G_SMALL, NULL);
    llm_session_feed_text(b, "Output:", -1, LLM_FEED_ADD_BOS);
    size_t n = 0;
    llm_finish fin = LLM_FINISH_NONE;
    got[0] = 0;
    for (int i = 0; i < 100000 && fin == LLM_FINISH_NONE; i++) {
        const char *t;
        size_t len;
        int32_t tok;
        if (llm_session_step_timed(b, 1, &tok, &t, &len, &fin) != LLM_OK) break;
        if (len && n + len < sizeof got) memcpy(got + n, t, len), n += len, got[n] = 0;
    }
    CHECK(strcmp(want, got) == 0, "step_timed '%s' vs '%s'", got, want);

    /* step_batch: two sessions, one constrained and one not, stepped together */
    llm_session *c = new_session(0.9, 42), *d = new_session(0.9, 7);
    llm_session_set_grammar(c, G_SMALL, NULL);
    llm_session_feed_text(c, "Output:", -1, LLM_FEED_ADD_BOS);
    llm_session_feed_text(d, "Something else", -1, LLM_FEED_ADD_BOS);
    llm_session *const ss[2] = {c, d};
    n = 0;
    got[0] = 0;
    llm_finish fins[2] = {LLM_FINISH_NONE, LLM_FINISH_NONE};
    for (int i = 0; i < 60 && fins[0] == LLM_FINISH_NONE; i++) {
        const char *texts[2];
        size_t lens[2];
        if (llm_session_step_batch(ss, 2, NULL, texts, lens, fins, NULL) != LLM_OK) break;
        if (lens[0] && n + lens[0] < sizeof got) memcpy(got + n, texts[0], lens[0]), n += lens[0], got[n] = 0;
        if (fins[1] != LLM_FINISH_NONE) fins[1] = LLM_FINISH_NONE; /* keep d going */
    }
    CHECK(strcmp(want, got) == 0, "step_batch '%s' vs '%s'", got, want);

    /* generate, and a stop string inside the language: the output ends before it */
    llm_session_reset(a);
    llm_session_add_stop(a, " yes");
    llm_session_add_stop(a, " no");
    llm_session_feed_text(a, "Output:", -1, LLM_FEED_ADD_BOS);
    CHECK(llm_session_generate(a, NULL, NULL, &fin) == LLM_OK && fin == LLM_FINISH_STOP, "stop: %d", (int)fin);
    llm_session_free(a);
    llm_session_free(b);
    llm_session_free(c);
    llm_session_free(d);
}

/* Nothing of the vocabulary fits: LLM_FINISH_GRAMMAR. A grammar that must end: EOG at once. */
static void test_finish_reasons(void) {
    llm_session *s = new_session(0.0, 1);
    /* U+10FFFF (a noncharacter): Gemma's vocabulary has byte tokens, so it is reachable; a
     * byte no UTF-8 text contains is not */
    CHECK(llm_session_set_grammar(s, "root ::= \"a\" [\\U0010FFFF] \"b\"", NULL) == LLM_OK, "set: %s", llm_last_error(s));
    llm_session_feed_text(s, "x", -1, LLM_FEED_ADD_BOS);
    char out[256];
    llm_finish fin = gen_step(s, out, sizeof out);
    CHECK(fin == LLM_FINISH_EOG && strcmp(out, "a\xf4\x8f\xbf\xbf" "b") == 0, "byte tokens: finish %d '%s'", (int)fin, out);
    /* an empty language but the empty string: only the end */
    CHECK(llm_session_set_grammar(s, "root ::= \"\"", NULL) == LLM_OK, "empty: %s", llm_last_error(s));
    llm_session_feed_text(s, "y", -1, 0);
    fin = gen_step(s, out, sizeof out);
    CHECK(fin == LLM_FINISH_EOG && out[0] == 0, "empty language: finish %d '%s'", (int)fin, out);
    /* a logit bias that bans every token the grammar allows at the start */
    CHECK(llm_session_set_grammar(s, "root ::= \"zq\"", NULL) == LLM_OK, "zq");
    int32_t toks[64];
    size_t nt = 0;
    float bias[64];
    /* every token whose text is a prefix of "zq" ("z", its byte token, "zq") */
    int32_t nv = llm_model_n_vocab(g_model);
    for (int32_t t = 0; t < nv && nt < 64; t++) {
        char p[64];
        size_t need = 0;
        if (llm_token_to_piece(g_model, t, 0, p, sizeof p, &need) == LLM_OK &&
            ((need == 1 && p[0] == 'z') || (need == 2 && memcmp(p, "zq", 2) == 0))) {
            toks[nt] = t;
            bias[nt++] = -INFINITY;
        }
    }
    CHECK(nt > 0 && nt < 64, "tokens that are prefixes of zq: %zu", nt);
    CHECK(llm_session_set_logit_bias(s, toks, bias, nt) == LLM_OK, "bias: %s", llm_last_error(s));
    llm_session_feed_text(s, "z", -1, 0);
    fin = gen_step(s, out, sizeof out);
    CHECK(fin == LLM_FINISH_GRAMMAR && out[0] == 0, "nothing allowed: finish %d '%s'", (int)fin, out);
    llm_session_set_logit_bias(s, NULL, NULL, 0);
    /* removing the grammar: free text again */
    CHECK(llm_session_set_grammar(s, NULL, NULL) == LLM_OK, "clear");
    llm_session_feed_text(s, "The sky is", -1, 0);
    fin = gen_step(s, out, sizeof out);
    CHECK(fin == LLM_FINISH_LENGTH, "unconstrained runs to max tokens: %d", (int)fin);
    llm_session_free(s);
}

/* Log-probabilities: the chosen token's and the top alternatives' against a double-precision
 * log-softmax of llm_session_logits (tolerance 1e-4: the library sums in double too, the error is
 * float rounding of the result); with a grammar, the alternatives are tokens it allows. */
static void test_logprobs(void) {
    llm_session *s = new_session(0.8, 3);
    CHECK(llm_session_set_int(s, LLM_OPT_TOP_LOGPROBS, 5) == LLM_OK, "option");
    CHECK(llm_session_set_int(s, LLM_OPT_TOP_LOGPROBS, 21) != LLM_OK, "bounded");
    llm_session_feed_text(s, "The capital of France is", -1, LLM_FEED_ADD_BOS);
    const float *logits;
    int32_t nv;
    CHECK(llm_session_logits(s, -1, &logits, &nv) == LLM_OK, "logits");
    double mx = -INFINITY, z = 0;
    for (int32_t i = 0; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int32_t i = 0; i < nv; i++) z += exp((double)logits[i] - mx);
    const double lse = mx + log(z);
    int32_t best = 0;
    for (int32_t i = 1; i < nv; i++) best = logits[i] > logits[best] ? i : best;
    float *copy = malloc((size_t)nv * sizeof *copy);
    memcpy(copy, logits, (size_t)nv * sizeof *copy);
    int32_t tok;
    llm_finish fin;
    CHECK(llm_session_step(s, &tok, NULL, NULL, &fin) == LLM_OK, "step");
    float lp = 0, top_lp[8];
    int32_t top[8];
    size_t n_top = 0;
    CHECK(llm_session_logprobs(s, &lp, top, top_lp, 8, &n_top) == LLM_OK && n_top == 5, "logprobs: %zu", n_top);
    CHECK(fabs(lp - (copy[tok] - lse)) < 1e-4, "chosen %f vs %f", lp, copy[tok] - lse);
    CHECK(top[0] == best && fabs(top_lp[0] - (copy[best] - lse)) < 1e-4, "best %d %f", top[0], top_lp[0]);
    for (size_t i = 1; i < n_top; i++) CHECK(top_lp[i] <= top_lp[i - 1], "sorted");
    /* with a grammar: alternatives are allowed tokens (digits here) */
    llm_session_set_grammar(s, "root ::= [0-9]+", NULL);
    llm_session_feed_text(s, " Number:", -1, 0);
    CHECK(llm_session_step(s, &tok, NULL, NULL, &fin) == LLM_OK, "step");
    CHECK(llm_session_logprobs(s, &lp, top, top_lp, 8, &n_top) == LLM_OK && n_top == 5, "constrained: %zu", n_top);
    for (size_t i = 0; i < n_top && i < 8; i++) {
        char p[64];
        size_t need;
        llm_token_to_piece(g_model, top[i], 0, p, sizeof p, &need);
        int digits = need > 0;
        for (size_t k = 0; k < need && k < sizeof p; k++) digits &= p[k] >= '0' && p[k] <= '9';
        CHECK(digits, "alternative %zu '%s' is not digits", i, p);
    }
    free(copy);
    llm_session_free(s);
}

/* JSON Schema on a session, and chat with a grammar: the reply is constrained. */
static void test_schema_and_chat(void) {
    llm_session *s = new_session(0.7, 11);
    const char *schema = "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 12},"
                         " \"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 120}},"
                         " \"required\": [\"name\", \"age\"], \"additionalProperties\": false}";
    CHECK(llm_session_set_json_schema(s, schema) == LLM_OK, "schema: %s", llm_last_error(s));
    llm_session_set_int(s, LLM_OPT_MAX_TOKENS, 80);
    CHECK(llm_session_chat(s, "user", "Give me a person as JSON.") == LLM_OK, "chat: %s", llm_last_error(s));
    char out[1024];
    llm_finish fin = gen_step(s, out, sizeof out);
    CHECK(fin == LLM_FINISH_EOG, "finish %d: '%s'", (int)fin, out);
    CHECK(strncmp(out, "{", 1) == 0 && strstr(out, "\"name\"") && strstr(out, "\"age\""), "'%s'", out);
    llm_session_free(s);
}

int main(int argc, char **argv) {
    if (argc < 2 || !*argv[1]) {
        printf("usage: test_constrain_api GEMMA3.gguf\n");
        return 1;
    }
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 512);
    CHECK(llm_model_load_file(argv[1], o, &g_model) == LLM_OK, "load: %s", llm_last_error(o));
    if (g_model) CHECK(llm_context_new(g_model, o, &g_ctx) == LLM_OK, "context: %s", llm_last_error(o));
    llm_options_free(o);
    if (g_ctx) {
        test_errors();
        test_language();
        test_step_variants();
        test_finish_reasons();
        test_logprobs();
        test_schema_and_chat();
    }
    llm_context_free(g_ctx);
    llm_model_free(g_model);
    return check_summary("test_constrain_api");
}
