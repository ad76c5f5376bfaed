/* Driver of the constrained-generation tests (tests/constrain/ Python tests): generates with a grammar or
 * a JSON Schema on a model and prints one JSON line per run, for the Python side to check with
 * independent references (tests/grammar/gbnf_ref.py, the jsonschema package):
 *   {"seed": S, "finish": "eog|length|stop|context|aborted|grammar", "tokens": N, "text": "..."}
 * usage: constrain_generate MODEL (--grammar FILE | --json-schema FILE) [--seeds N] [--temp T]
 *        [--top-k K] [--max-tokens N] [--prompt TEXT] [--ctx N] [--eog-bias B]
 * [--bias TEXT=B]...
 * --eog-bias adds B to the logit of the end-of-generation token: a random model then ends soon
 * after the grammar allows it, so whole strings get checked, not only prefixes. --bias adds B to
 * every token whose text is TEXT (e.g. a closing quote or bracket: a random model then closes the
 * strings and arrays it opens often enough to finish its documents within the token limit).
 * Exit status 0 when every run's calls succeeded (the outputs are judged by the caller), 1 on an
 * API error (printed), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "read_file.h"

static void print_json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *grammar = NULL, *schema = NULL, *prompt = "Output:";
    int seeds = 4, max_tokens = 256, ctx = 1024;
    double temp = 1.0, eog_bias = 0.0;
    const char *bias_spec[16];
    int n_bias_spec = 0;
    long top_k = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--grammar") && v) grammar = v, i++;
        else if (!strcmp(a, "--json-schema") && v) schema = v, i++;
        else if (!strcmp(a, "--seeds") && v) seeds = atoi(v), i++;
        else if (!strcmp(a, "--temp") && v) temp = atof(v), i++;
        else if (!strcmp(a, "--top-k") && v) top_k = atol(v), i++;
        else if (!strcmp(a, "--max-tokens") && v) max_tokens = atoi(v), i++;
        else if (!strcmp(a, "--prompt") && v) prompt = v, i++;
        else if (!strcmp(a, "--ctx") && v) ctx = atoi(v), i++;
        else if (!strcmp(a, "--eog-bias") && v) eog_bias = atof(v), i++;
        else if (!strcmp(a, "--bias") && v && strchr(v, '=') && n_bias_spec < 16) bias_spec[n_bias_spec++] = v, i++;
        else if (a[0] != '-' && !model_path) model_path = a;
        else {
            fprintf(stderr, "constrain_generate: bad argument '%s'\n", a);
            return 2;
        }
    }
    if (!model_path || (!grammar == !schema)) {
        fprintf(stderr, "usage: constrain_generate MODEL (--grammar FILE | --json-schema FILE) [...]\n");
        return 2;
    }
    size_t text_len = 0;
    char *text = test_read_file(grammar ? grammar : schema, &text_len);
    if (!text) {
        fprintf(stderr, "constrain_generate: cannot read %s\n", grammar ? grammar : schema);
        return 2;
    }
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, ctx);
    llm_options_set_int(o, LLM_OPT_THREADS, 1);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, temp);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, max_tokens);
    if (top_k >= 0) llm_options_set_int(o, LLM_OPT_TOP_K, top_k);
    llm_model *m = NULL;
    llm_context *c = NULL;
    llm_session *s = NULL;
    int rc = 0;
    if (llm_model_load_file(model_path, o, &m) != LLM_OK || llm_context_new(m, o, &c) != LLM_OK ||
        llm_session_new(c, o, &s) != LLM_OK) {
        fprintf(stderr, "constrain_generate: %s\n", llm_last_error(o));
        rc = 1;
    }
    llm_status st = LLM_OK;
    if (!rc) {
        st = grammar ? llm_session_set_grammar(s, text, NULL) : llm_session_set_json_schema(s, text);
        if (st != LLM_OK) {
            fprintf(stderr, "constrain_generate: %s: %s\n", llm_status_str(st), llm_last_error(s));
            rc = 1;
        }
    }
    /* the logit bias: the EOG token's, and every token whose text is one of the --bias texts */
    int32_t *btok = NULL;
    float *bval = NULL;
    size_t nb = 0;
    if (!rc) {
        const int32_t nv = llm_model_n_vocab(m);
        btok = malloc(((size_t)nv + 1) * sizeof *btok);
        bval = malloc(((size_t)nv + 1) * sizeof *bval);
        if (eog_bias != 0.0 && llm_token_eos(m) >= 0) btok[nb] = llm_token_eos(m), bval[nb++] = (float)eog_bias;
        for (int32_t t = 0; t < nv && n_bias_spec > 0; t++) {
            char piece[64];
            size_t need = 0;
            if (llm_token_to_piece(m, t, 0, piece, sizeof piece, &need) != LLM_OK || need == 0) continue;
            for (int k = 0; k < n_bias_spec; k++) {
                const char *eq = strrchr(bias_spec[k], '=');
                if ((size_t)(eq - bias_spec[k]) == need && memcmp(bias_spec[k], piece, need) == 0) {
                    btok[nb] = t;
                    bval[nb++] = (float)atof(eq + 1);
                    break;
                }
            }
        }
        if (nb && llm_session_set_logit_bias(s, btok, bval, nb) != LLM_OK) {
            fprintf(stderr, "constrain_generate: %s\n", llm_last_error(s));
            rc = 1;
        }
    }
    static const char *names[] = {"none", "eog", "length", "stop", "context", "aborted", "grammar"};
    char *out = NULL;
    for (int seed = 0; seed < seeds && !rc; seed++) {
        size_t n = 0, cap = 0;
        int tokens = 0;
        llm_finish fin = LLM_FINISH_NONE;
        st = llm_session_set_int(s, LLM_OPT_SEED, seed);
        if (st == LLM_OK) st = llm_session_reset(s); /* restarts the sampler from the seed */
        if (st == LLM_OK) st = llm_session_feed_text(s, prompt, -1, LLM_FEED_ADD_BOS);
        while (st == LLM_OK && fin == LLM_FINISH_NONE) {
            const char *piece = NULL;
            size_t len = 0;
            int32_t tok = -1;
            st = llm_session_step(s, &tok, &piece, &len, &fin);
            if (tok >= 0) tokens++;
            if (st == LLM_OK && len) {
                if (n + len + 1 > cap) {
                    cap = (n + len + 1) * 2;
                    char *grown = realloc(out, cap);
                    if (!grown) {
                        st = LLM_ERR_OUT_OF_MEMORY;
                        break;
                    }
                    out = grown;
                }
                memcpy(out + n, piece, len);
                n += len;
            }
        }
        if (st != LLM_OK) {
            fprintf(stderr, "constrain_generate: seed %d: %s: %s\n", seed, llm_status_str(st), llm_last_error(s));
            rc = 1;
            break;
        }
        printf("{\"seed\": %d, \"finish\": \"%s\", \"tokens\": %d, \"text\": ", seed,
               (unsigned)fin < sizeof names / sizeof names[0] ? names[fin] : "?", tokens);
        print_json_string(out ? out : "", n);
        printf("}\n");
        fflush(stdout);
    }
    free(out);
    free(btok);
    free(bval);
    free(text);
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
    llm_options_free(o);
    return rc;
}
