# The Python binding (bindings/python, package `libllm`) and the examples built on it
# (examples/chat.py, examples/server.py): pytest files run with LIBLLM_LIBRARY = the built library.
# They load libllm.so into the (uninstrumented) interpreter through ctypes, which an ASan build
# cannot do without preloading the runtime: the "ctypes" label lets tests/run.sh skip them there.
llm_add_py_test(test_py_binding_model bindings/python/tests/test_model.py TIMEOUT 300)
llm_add_py_test(test_py_binding_session bindings/python/tests/test_session.py TIMEOUT 600)
llm_add_py_test(test_py_binding_completion bindings/python/tests/test_completion.py TIMEOUT 600)
llm_add_py_test(test_py_binding_interrupt bindings/python/tests/test_interrupt.py TIMEOUT 600)
llm_add_py_test(test_py_binding_server bindings/python/tests/test_server.py TIMEOUT 600)
llm_add_py_test(test_py_binding_install bindings/python/tests/test_install.py TIMEOUT 600)
llm_add_py_test(test_py_binding_chat bindings/python/tests/test_chat.py TIMEOUT 600)
# a vocabulary without weights (ggml-vocab-*.gguf): tokenize, chat render, no session
llm_add_py_test(test_py_binding_vocab_only bindings/python/tests/test_vocab_only.py TIMEOUT 300)
# constrained output: grammars, JSON Schema, logit bias, logprobs; tool calls in each family's
# syntax (random models at temperature 1, jsonschema as the oracle); the to-do example app
llm_add_py_test(test_py_binding_structured bindings/python/tests/test_structured.py TIMEOUT 600)
llm_add_py_test(test_py_binding_tools bindings/python/tests/test_tools.py TIMEOUT 900)
llm_add_py_test(test_py_binding_tool_app bindings/python/tests/test_tool_app.py TIMEOUT 600)
# llm_model_estimate_memory and LLM_OPT_MEMORY_LIMIT (libllm.estimate_memory, Model(memory_limit=))
llm_add_py_test(test_py_binding_memory bindings/python/tests/test_memory.py TIMEOUT 300)
set_tests_properties(test_py_binding_memory PROPERTIES LABELS "python;ctypes")
# long conversations (context shift), KV cache types, shared prompt prefixes
llm_add_py_test(test_py_binding_longctx bindings/python/tests/test_longctx.py TIMEOUT 300)
set_tests_properties(test_py_binding_longctx PROPERTIES LABELS "python;ctypes")
set_tests_properties(test_py_binding_model test_py_binding_session test_py_binding_completion
                     test_py_binding_interrupt test_py_binding_server test_py_binding_install
                     test_py_binding_chat test_py_binding_vocab_only test_py_binding_structured
                     test_py_binding_tools test_py_binding_tool_app PROPERTIES LABELS "python;ctypes")

# examples/chat.py end to end: two piped user lines, two streamed replies.
add_test(NAME example_chat_py
         COMMAND sh -c "printf 'Hello!\\nWhat is two plus two?\\n' | \"$0\" \"$1\" -n 6 --temp 0 --n-ctx 256"
                 ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/examples/chat.py)
set_tests_properties(example_chat_py PROPERTIES LABELS "python;ctypes"
                     ENVIRONMENT "LIBLLM_LIBRARY=$<TARGET_FILE:llm>" PASS_REGULAR_EXPRESSION ".+")
