# Tokenizer tests: a C unit test of the component, and pytest files comparing the tokenizer
# (through tests/tokenizer/tok_driver) with the shipped test vectors and with the reference
# tokenizers (HF `tokenizers`, `sentencepiece`).
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
set_tests_properties(test_tokenizer_vectors test_tokenizer_differential PROPERTIES LABELS tokenizer)
