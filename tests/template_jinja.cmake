# Template engine against Python jinja2 (tests/template/test_template_jinja.py: every real chat
# template x generated conversations, snippets, malformed templates, runtime errors, fuzz
# regressions) through the driver tmpl_render of tests/template.cmake; and the libFuzzer target
# fuzz_template (with -DLLM_FUZZ=ON and clang; option in tests/gguf.cmake).
if(TARGET tmpl_render)
  llm_add_py_test(test_template_jinja tests/template/test_template_jinja.py TIMEOUT 300)
  set_property(TEST test_template_jinja APPEND PROPERTY ENVIRONMENT "LLM_TMPL_RENDER=$<TARGET_FILE:tmpl_render>")
  set_property(TEST test_template_jinja APPEND PROPERTY LABELS template)
endif()

if(LLM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # The engine's sources (and the tokenizer's UTF-8 helpers it uses) are compiled into the target so that the coverage instrumentation sees
  # them. Run: build-fuzz/tests/fuzz_template -dict=tests/fuzz/template.dict CORPUS_DIR
  # (seed corpus: python3 tests/fuzz/make_template_corpus.py CORPUS_DIR).
  file(GLOB LLM_TMPL_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lib/template/*.c)
  add_executable(fuzz_template ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_template.c ${LLM_TMPL_FUZZ_SOURCES}
                 ${CMAKE_SOURCE_DIR}/lib/tokenizer/utf8.c
                 ${CMAKE_SOURCE_DIR}/lib/util/buf.c ${CMAKE_SOURCE_DIR}/lib/util/common.c
                 ${CMAKE_SOURCE_DIR}/kernels/dtype.c)
  target_include_directories(fuzz_template PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib ${CMAKE_SOURCE_DIR})
  # UBSan reports abort (-fno-sanitize-recover) so that libFuzzer keeps them as crashes.
  target_compile_options(fuzz_template PRIVATE ${LLM_WARNINGS} -g -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_compile_definitions(fuzz_template PRIVATE _GNU_SOURCE)
  target_link_options(fuzz_template PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_template PRIVATE PkgConfig::UTF8PROC m)
endif()
