# Batched decode (llm_session_step_batch): the same tokens and logits as stepping each session
# alone, on random models made at test time - Llama with grouped-query attention (F32, Q8_0,
# Q4_0, Q4_K), Gemma 3 (sliding window, q/k norms, post norms), Qwen 2 (q/k/v biases) and
# Gemma 2 (score and logit soft-capping) - in both precisions (tests/api/test_step_batch.c).
set(LLM_BATCH_MODELS ${LLM_FIXTURES}/batch_llama_f32.gguf ${LLM_FIXTURES}/batch_llama_q8_0.gguf
                     ${LLM_FIXTURES}/batch_llama_q4_0.gguf ${LLM_FIXTURES}/batch_llama_q4_k.gguf
                     ${LLM_FIXTURES}/batch_gemma3_q8_0.gguf ${LLM_FIXTURES}/batch_qwen2_q4_0.gguf
                     ${LLM_FIXTURES}/batch_gemma2_q4_k.gguf)
add_test(NAME batch_models
         COMMAND sh -c "set -e; py=$0; tool=$1; mk() { \"$py\" \"$tool\" \"$@\"; }; \
mk --arch llama --type F32 --untied --out $2; mk --arch llama --type Q8_0 --out $3; \
mk --arch llama --type Q4_0 --out $4; mk --arch llama --type Q4_K --n-embd 256 --n-ff 512 --out $5; \
mk --arch gemma3 --type Q8_0 --window 8 --out $6; mk --arch qwen2 --type Q4_0 --out $7; \
mk --arch gemma2 --type Q4_K --n-embd 256 --n-ff 512 --attn-softcap 20 --final-softcap 15 --window 8 --out $8"
                 ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${LLM_BATCH_MODELS})
set_tests_properties(batch_models PROPERTIES FIXTURES_SETUP batch_models)
# K-quant rows are multiples of 256 (hence --n-embd 256 --n-ff 512). Label isa: tests/run.sh
# reruns it with LLM_CPU_ISA=scalar and avx2, where FAST batches are not bitwise (see the test).
llm_add_c_test(test_step_batch SOURCES api/test_step_batch.c LIBS llm m ARGS ${LLM_BATCH_MODELS} LABELS isa)
set_tests_properties(test_step_batch PROPERTIES FIXTURES_REQUIRED batch_models TIMEOUT 600)
