# GBNF grammars (lib/grammar): a C unit test; grammar_walk, the driver whose random walks and
# membership answers tests/grammar/test_grammar_walk.py checks against the independent Python
# reference tests/grammar/gbnf_ref.py; grammar_bench, a timing program (not a test); and the
# libFuzzer target fuzz_gbnf (with -DLLM_FUZZ=ON and clang).
llm_add_c_test(test_grammar_unit
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/grammar/test_grammar_unit.c
  LIBS llm_runtime
  ARGS ${LLM_TESTDATA}/grammars
  LABELS grammar)

# grammar_walk also replays the fuzz regressions through the fuzz target's body (fuzz_gbnf.c).
foreach(tool grammar_walk grammar_bench)
  add_executable(${tool} ${CMAKE_CURRENT_SOURCE_DIR}/grammar/${tool}.c)
  target_compile_options(${tool} PRIVATE ${LLM_WARNINGS})
  target_compile_definitions(${tool} PRIVATE _GNU_SOURCE)
  target_include_directories(${tool} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${tool} PRIVATE llm_runtime)
  set_target_properties(${tool} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endforeach()
target_sources(grammar_walk PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_gbnf.c)

llm_add_py_test(test_grammar_walk tests/grammar/test_grammar_walk.py TIMEOUT 600)
set_property(TEST test_grammar_walk APPEND PROPERTY ENVIRONMENT "LLM_GRAMMAR_WALK=$<TARGET_FILE:grammar_walk>")
set_property(TEST test_grammar_walk APPEND PROPERTY LABELS grammar)

if(LLM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # The grammar sources are compiled into the target so that the coverage instrumentation sees
  # them. Run: build-fuzz/tests/fuzz_gbnf -dict=tests/fuzz/gbnf.dict CORPUS_DIR ../shared/testdata/grammars
  file(GLOB LLM_GBNF_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lib/grammar/*.c)
  add_executable(fuzz_gbnf ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_gbnf.c ${LLM_GBNF_FUZZ_SOURCES}
                 ${CMAKE_SOURCE_DIR}/lib/util/common.c)
  target_include_directories(fuzz_gbnf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
  target_compile_options(fuzz_gbnf PRIVATE ${LLM_WARNINGS} -g -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_compile_definitions(fuzz_gbnf PRIVATE _GNU_SOURCE)
  target_link_options(fuzz_gbnf PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_gbnf PRIVATE m)
endif()
