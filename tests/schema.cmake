# JSON Schema to GBNF (lib/schema): a C unit test, the driver schema_gbnf that the Python tests
# run, the grammar-sampling test against Python jsonschema (tests/schema/test_schema_grammar.py:
# generated and hand-written schemas, every sampled document validated), and the libFuzzer target
# fuzz_schema (with -DLLM_FUZZ=ON and clang; option in tests/gguf.cmake).
add_executable(schema_gbnf ${CMAKE_CURRENT_SOURCE_DIR}/schema/schema_gbnf.c)
target_compile_options(schema_gbnf PRIVATE ${LLM_WARNINGS})
target_compile_definitions(schema_gbnf PRIVATE _GNU_SOURCE)
target_include_directories(schema_gbnf PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(schema_gbnf PRIVATE llm)
set_target_properties(schema_gbnf PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

llm_add_c_test(test_schema_unit
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/schema/test_schema_unit.c
  LIBS llm_runtime
  LABELS schema)

llm_add_py_test(test_schema_grammar tests/schema/test_schema_grammar.py TIMEOUT 900)
set_property(TEST test_schema_grammar APPEND PROPERTY ENVIRONMENT "LLM_SCHEMA_GBNF=$<TARGET_FILE:schema_gbnf>")
set_property(TEST test_schema_grammar APPEND PROPERTY LABELS schema)

if(LLM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # The converter's sources, the JSON reader it uses and the GBNF parser that checks its output are
  # compiled into the target so that the coverage instrumentation sees them. Run: build-fuzz/tests/fuzz_schema CORPUS_DIR
  # (seed corpus: python3 tests/schema/gen_schemas.py --corpus CORPUS_DIR; inputs it once crashed on:
  # tests/fuzz/schema_regressions/, run by test_schema_grammar.py).
  file(GLOB LLM_SCHEMA_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lib/schema/*.c ${CMAKE_SOURCE_DIR}/lib/grammar/*.c)
  file(GLOB LLM_TMPL_FUZZ_SOURCES2 CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lib/template/*.c)
  add_executable(fuzz_schema ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_schema.c ${LLM_SCHEMA_FUZZ_SOURCES}
                 ${LLM_TMPL_FUZZ_SOURCES2} ${CMAKE_SOURCE_DIR}/lib/tokenizer/utf8.c
                 ${CMAKE_SOURCE_DIR}/lib/util/buf.c ${CMAKE_SOURCE_DIR}/lib/util/common.c
                 ${CMAKE_SOURCE_DIR}/kernels/dtype.c)
  target_include_directories(fuzz_schema PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
  target_compile_options(fuzz_schema PRIVATE ${LLM_WARNINGS} -g -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_compile_definitions(fuzz_schema PRIVATE _GNU_SOURCE)
  target_link_options(fuzz_schema PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_schema PRIVATE PkgConfig::UTF8PROC m)
endif()
