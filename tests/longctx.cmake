# Long conversations and shared prefixes (tests/longctx/): the context's prefix cache, the context
# shift, the KV cache element types.
# (label e2e: ~5 min under the sanitizers; the sharing and copy-on-write paths run there through
# test_chat_api and test_embed, which reuse prefixes too)
llm_add_c_test(test_prefix SOURCES longctx/test_prefix.c LIBS llm m ARGS ${LLM_GEMMA3_PATH} LABELS "longctx;e2e")
set_tests_properties(test_prefix PROPERTIES TIMEOUT 900)
# Random models of every architecture (Gemma 3 and 2 with sliding windows, Qwen 2 biases, Phi-3
# fused products, Qwen 3 q/k norms, Llama with grouped-query attention): context shifts in both
# modes, KV types F32/F16/Q8_0, both precisions.
set(LLM_SHIFT_MODELS ${LLM_FIXTURES}/shift_llama.gguf ${LLM_FIXTURES}/shift_gemma3.gguf
                     ${LLM_FIXTURES}/shift_qwen2.gguf ${LLM_FIXTURES}/shift_phi3.gguf
                     ${LLM_FIXTURES}/shift_qwen3.gguf ${LLM_FIXTURES}/shift_gemma2.gguf)
add_test(NAME shift_models
         COMMAND sh -c "set -e; py=$0; tool=$1; mk() { \"$py\" \"$tool\" \"$@\"; }; \
mk --arch llama --type Q8_0 --out $2; mk --arch gemma3 --type Q8_0 --window 16 --out $3; \
mk --arch qwen2 --type Q4_0 --out $4; mk --arch phi3 --type Q8_0 --out $5; \
mk --arch qwen3 --type F16 --out $6; mk --arch gemma2 --type Q8_0 --attn-softcap 20 --final-softcap 15 --window 16 --out $7"
                 ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${LLM_SHIFT_MODELS})
set_tests_properties(shift_models PROPERTIES FIXTURES_SETUP shift_models LABELS longctx)
llm_add_c_test(test_shift SOURCES longctx/test_shift.c LIBS llm_runtime m ARGS ${LLM_SHIFT_MODELS} LABELS longctx)
set_tests_properties(test_shift PROPERTIES FIXTURES_REQUIRED shift_models TIMEOUT 600)
# A twelve-turn chat through a 160-token context on the real model, the system prompt kept (label
# e2e: the sanitizer pass runs the shifts on the random models of test_shift).
llm_add_c_test(test_chat_shift SOURCES longctx/test_chat_shift.c LIBS llm_runtime ARGS ${LLM_GEMMA3_PATH}
               LABELS "longctx;e2e")
set_tests_properties(test_chat_shift PROPERTIES TIMEOUT 600)
