# Saved sessions (llm_session_save / load, lib/state + lib/api/api_state.c): bit-for-bit
# continuation after a load (same context, a second context, through a file) on the real Gemma 3
# model and random Llama / Qwen 3 models, both precisions; errors (another model, truncated,
# corrupted, newer version, context too small, NULL). state_llama_b has llama_a's shapes and
# metadata and other weights (another model all the same).
set(LLM_STATE_MODELS ${LLM_FIXTURES}/state_llama_a.gguf ${LLM_FIXTURES}/state_llama_b.gguf
                     ${LLM_FIXTURES}/state_qwen3.gguf)
add_test(NAME state_models
         COMMAND sh -c "set -e; py=$0; tool=$1; mk() { \"$py\" \"$tool\" \"$@\"; }; \
mk --arch llama --type Q8_0 --seed 1 --out $2; mk --arch llama --type Q8_0 --seed 2 --out $3; \
mk --arch qwen3 --type Q4_0 --out $4"
                 ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${LLM_STATE_MODELS})
set_tests_properties(state_models PROPERTIES FIXTURES_SETUP state_models)
llm_add_c_test(test_state SOURCES state/test_state.c LIBS llm
               ARGS ${LLM_GEMMA3_PATH} ${LLM_STATE_MODELS} ${LLM_FIXTURES})
set_tests_properties(test_state PROPERTIES FIXTURES_REQUIRED state_models TIMEOUT 600)

# The fuzz target's body as a regression test: valid states of a small model and thousands of
# mutations of them (tests/fuzz/fuzz_state.c), plus the corpus folder when there is one.
add_executable(fuzz_state_replay ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_state.c)
target_compile_options(fuzz_state_replay PRIVATE ${LLM_WARNINGS})
target_compile_definitions(fuzz_state_replay PRIVATE _GNU_SOURCE LLM_FUZZ_STATE_MAIN)
target_link_libraries(fuzz_state_replay PRIVATE llm)
set_target_properties(fuzz_state_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME fuzz_state_regressions COMMAND fuzz_state_replay ${LLM_FIXTURES}/state_llama_a.gguf --iterations 10000
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(fuzz_state_regressions PROPERTIES FIXTURES_REQUIRED state_models TIMEOUT 600)

if(LLM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # The state format's sources are compiled into the target (coverage instrumentation); the rest of
  # the library comes from the static components. Run:
  #   LLM_FUZZ_STATE_MODEL=MODEL build-fuzz/tests/fuzz_state CORPUS   (seeds: fuzz_state_replay --write-seeds)
  add_executable(fuzz_state ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_state.c ${CMAKE_SOURCE_DIR}/lib/state/state_io.c
                 ${CMAKE_SOURCE_DIR}/lib/api/api_state.c)
  target_include_directories(fuzz_state PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
  target_compile_options(fuzz_state PRIVATE ${LLM_WARNINGS} -g -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_compile_definitions(fuzz_state PRIVATE _GNU_SOURCE LLM_BUILDING)
  target_link_options(fuzz_state PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_state PRIVATE llm_runtime m)
endif()

# The Python binding: save_state / model.session(state=...) / load_state, in this process and in a
# subprocess (label ctypes: not run under ASan).
llm_add_py_test(test_py_binding_state bindings/python/tests/test_state.py TIMEOUT 600)
set_tests_properties(test_py_binding_state PROPERTIES LABELS "python;ctypes")

# `llm chat --save / --load` (examples/cli/chat.c), end to end on the default chat model.
if(TARGET llm-cli)
  llm_add_py_test(test_chat_state_cli tests/cli/test_chat_state.py TIMEOUT 600)
  set_tests_properties(test_chat_state_cli PROPERTIES LABELS "cli;e2e")
endif()
