/* Two sessions on one shared model, driven from two threads at once (each thread with its own
 * context, as the threading rules ask): each must produce exactly the tokens the same session
 * produces alone. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llm.h"

typedef struct job {
    const llm_model *model;
    const char *prompt;
    int32_t tokens[32];
    int n;
    llm_status status;
} job;

static int record(void *ud, const char *text, size_t len, int32_t token) {
    (void)text, (void)len;
    job *j = ud;
    if (j->n < 32) j->tokens[j->n++] = token;
    return 0;
}

static void *run(void *arg) {
    job *j = arg;
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 128);
    llm_options_set_int(o, LLM_OPT_THREADS, 1);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.9);
    llm_options_set_int(o, LLM_OPT_SEED, 7);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 12);
    llm_context *c = NULL;
    llm_session *s = NULL;
    j->n = 0;
    j->status = llm_context_new(j->model, o, &c);
    if (j->status == LLM_OK) j->status = llm_session_new(c, o, &s);
    if (j->status == LLM_OK) j->status = llm_session_feed_text(s, j->prompt, -1, LLM_FEED_ADD_BOS);
    if (j->status == LLM_OK) j->status = llm_session_generate(s, record, j, NULL);
    llm_session_free(s);
    llm_context_free(c);
    llm_options_free(o);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_threads MODEL\n");
        return 1;
    }
    llm_model *m = NULL;
    llm_options *o = llm_options_new();
    CHECK(llm_model_load_file(argv[1], o, &m) == LLM_OK, "load: %s", llm_last_error(o));
    llm_options_free(o);
    if (!m) return check_summary("test_threads");
    job solo[2] = {{m, "The sea is", {0}, 0, 0}, {m, "My favourite food is", {0}, 0, 0}};
    job both[2] = {solo[0], solo[1]};
    run(&solo[0]);
    run(&solo[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, run, &both[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(solo[i].status == LLM_OK && both[i].status == LLM_OK, "status %d %d", solo[i].status, both[i].status);
        CHECK(solo[i].n > 0 && solo[i].n == both[i].n &&
                  memcmp(solo[i].tokens, both[i].tokens, sizeof(int32_t) * (size_t)solo[i].n) == 0,
              "session %d: same tokens alone and concurrently", i);
    }
    llm_model_free(m);
    return check_summary("test_threads");
}
