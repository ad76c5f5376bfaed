# Tokenizer tests: a C unit test of the component, and pytest files comparing the tokenizer
# (through tests/tokenizer/tok_driver) with the shipped test vectors and with the reference
# tokenizers (HF `tokenizers`, `sentencepiece`). The encode speed benchmark against HF is
# tests/tokenizer/bench_speed.py (run by hand: timings are not a pass/fail test).
add_executable(tok_driver ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/tok_driver.c)
target_compile_options(tok_driver PRIVATE ${LLM_WARNINGS})
target_compile_definitions(tok_driver PRIVATE _GNU_SOURCE)
target_link_libraries(tok_driver PRIVATE llm_tokenizer llm_gguf llm_util)
set_target_properties(tok_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

llm_add_c_test(test_tokenizer_unit
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/test_tokenizer_unit.c
  LIBS llm_tokenizer llm_gguf llm_util
  ARGS ${LLM_TESTDATA}/tokenizers/gguf-vocab
  LABELS tokenizer)

llm_add_py_test(test_tokenizer_vectors tests/tokenizer/test_vectors.py TIMEOUT 300)
llm_add_py_test(test_tokenizer_differential tests/tokenizer/test_differential.py TIMEOUT 600)
llm_add_py_test(test_tokenizer_spm_from_gguf tests/tokenizer/test_spm_from_gguf.py TIMEOUT 300)
llm_add_py_test(test_tokenizer_pretok_differential tests/tokenizer/test_pretok_differential.py TIMEOUT 600)
set_tests_properties(test_tokenizer_vectors test_tokenizer_differential test_tokenizer_spm_from_gguf
  test_tokenizer_pretok_differential PROPERTIES LABELS tokenizer)

if(LLM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # libFuzzer target (option and compiler check in tests/gguf.cmake). The tokenizer and GGUF
  # sources are compiled into the target so that the fuzzer's coverage instrumentation sees them.
  file(GLOB LLM_TOK_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lib/tokenizer/*.c)
  add_executable(fuzz_tokenizer ${CMAKE_CURRENT_LIST_DIR}/tokenizer/fuzz_tokenizer.c ${LLM_TOK_FUZZ_SOURCES}
                 ${CMAKE_SOURCE_DIR}/lib/gguf/gguf.c ${CMAKE_SOURCE_DIR}/lib/gguf/gguf_source.c
                 ${CMAKE_SOURCE_DIR}/kernels/dtype.c ${CMAKE_SOURCE_DIR}/lib/util/common.c)
  target_include_directories(fuzz_tokenizer PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
  target_compile_options(fuzz_tokenizer PRIVATE ${LLM_WARNINGS} -fsanitize=fuzzer,address,undefined)
  target_compile_definitions(fuzz_tokenizer PRIVATE _GNU_SOURCE)
  target_link_options(fuzz_tokenizer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_tokenizer PRIVATE PkgConfig::UTF8PROC m)
endif()
