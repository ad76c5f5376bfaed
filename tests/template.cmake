# Template engine tests: a C unit test of lib/template, and tmpl_render, the driver that the
# differential test against Python jinja2 (tests/template/test_template_jinja.py) runs.
add_executable(tmpl_render ${CMAKE_CURRENT_SOURCE_DIR}/template/tmpl_render.c)
target_compile_options(tmpl_render PRIVATE ${LLM_WARNINGS})
target_compile_definitions(tmpl_render PRIVATE _GNU_SOURCE)
target_link_libraries(tmpl_render PRIVATE llm_runtime)
set_target_properties(tmpl_render PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

llm_add_c_test(test_template_unit
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/template/test_template_unit.c
  LIBS llm_runtime
  LABELS template)
