# Constrained output through the public API (tests/constrain/): grammars, JSON Schema, logit bias
# and log-probabilities on sessions of the real Gemma 3 270M.
llm_add_c_test(test_constrain_api SOURCES constrain/test_constrain_api.c LIBS llm m ARGS ${LLM_GEMMA3_PATH}
               LABELS constrain)
set_tests_properties(test_constrain_api PROPERTIES TIMEOUT 900)

# The generation driver of the Python tests: constrained outputs of random-weight models (which
# wander into every branch of a grammar) checked against independent references.
add_executable(constrain_generate ${CMAKE_CURRENT_SOURCE_DIR}/constrain/constrain_generate.c)
target_compile_options(constrain_generate PRIVATE ${LLM_WARNINGS})
target_include_directories(constrain_generate PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(constrain_generate PRIVATE llm)
set_target_properties(constrain_generate PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# Every grammar llama.cpp ships, on random models with two vocabularies, against tests/grammar/gbnf_ref.py.
llm_add_py_test(test_grammar_generate tests/constrain/test_grammar_generate.py TIMEOUT 900)
set_property(TEST test_grammar_generate APPEND PROPERTY LABELS constrain)
# The JSON Schema suite (tests/schema/gen_schemas.py: >= 300 schemas) end to end on random models,
# every finished output validated with the jsonschema package.
llm_add_py_test(test_schema_generate tests/constrain/test_schema_generate.py TIMEOUT 1800)
set_property(TEST test_schema_generate APPEND PROPERTY LABELS constrain)
