/* A chat far longer than the context on the real Gemma 3 270M (LLM_OPT_CONTEXT_SHIFT, both
 * modes): twelve turns through a 160-token context, the system prompt kept at the start of the
 * cache by default, every reply non-empty, the cache never past the context. Links the runtime
 * statically to read the session's tokens (lib/api/internal.h).
 *
 *   test_chat_shift MODEL.gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "check.h"

static int collect(void *ud, const char *text, size_t len, int32_t token) {
    (void)token;
    *(size_t *)ud += len;
    (void)text;
    return 0;
}

static void chat(llm_model *m, int mode) {
    const char *name = mode == LLM_SHIFT ? "shift" : "recompute";
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_CONTEXT_SIZE, 160);
    llm_options_set_int(o, LLM_OPT_THREADS, 2);
    llm_options_set_int(o, LLM_OPT_CONTEXT_SHIFT, mode);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, 40);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.7);
    llm_context *c = NULL;
    llm_session *s = NULL;
    CHECK(llm_context_new(m, o, &c) == LLM_OK, "context");
    CHECK(c && llm_session_new(c, o, &s) == LLM_OK, "session");
    llm_options_free(o);
    if (!s) {
        llm_context_free(c);
        return;
    }
    CHECK(llm_session_chat(s, "system", "You are a ship's cook who answers in one short sentence.") == LLM_OK,
          "%s: system: %s", name, llm_last_error(s));
    int32_t n_sys = 0, sys_tokens[64];
    int64_t total = 0;
    for (int turn = 0; turn < 12; turn++) {
        if (turn == 1) { /* kept by default: the system prompt and the first user message */
            n_sys = s->chat_system_end;
            CHECK(n_sys > 15 && n_sys < 64, "%s: the kept prompt covers %d tokens", name, (int)n_sys);
            memcpy(sys_tokens, s->history, (size_t)(n_sys < 64 && n_sys > 0 ? n_sys : 0) * sizeof(int32_t));
        }
        char q[128];
        snprintf(q, sizeof q, "Turn %d: what would you cook with %s?", turn,
                 (const char *[]){"rice", "fish", "beans", "onions", "bread"}[turn % 5]);
        if (llm_session_chat(s, "user", q) != LLM_OK) {
            CHECK(0, "%s: turn %d: %s", name, turn, llm_last_error(s));
            break;
        }
        size_t got = 0;
        llm_finish why = LLM_FINISH_NONE;
        if (llm_session_generate(s, collect, &got, &why) != LLM_OK) {
            CHECK(0, "%s: reply %d: %s", name, turn, llm_last_error(s));
            break;
        }
        CHECK(got > 0, "%s: turn %d: an empty reply", name, turn);
        CHECK(why != LLM_FINISH_CONTEXT, "%s: turn %d ended by the context", name, turn);
        CHECK(llm_session_n_past(s) <= 160, "%s: n_past %d", name, (int)llm_session_n_past(s));
        total = llm_session_n_evaluated(s);
    }
    CHECK(llm_session_n_shifts(s) >= 3, "%s: %d shifts", name, (int)llm_session_n_shifts(s));
    CHECK(n_sys > 0 && n_sys <= 64 && memcmp(s->history, sys_tokens, (size_t)n_sys * sizeof(int32_t)) == 0,
          "%s: the system prompt is no longer at the start of the cache", name);
    printf("%s: 12 turns, %d shifts, %lld tokens evaluated through a 160-token context\n", name,
           (int)llm_session_n_shifts(s), (long long)total);
    llm_session_free(s);
    llm_context_free(c);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_chat_shift MODEL.gguf\n");
        return 2;
    }
    llm_model *m = NULL;
    if (llm_model_load_file(argv[1], NULL, &m) != LLM_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    chat(m, LLM_SHIFT);
    chat(m, LLM_SHIFT_RECOMPUTE);
    llm_model_free(m);
    return check_summary("test_chat_shift");
}
