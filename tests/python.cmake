# Python tests of the public API through ctypes (chat formats against jinja2).
llm_add_py_test(test_chat_template tests/python/test_chat_template.py TIMEOUT 300)
# These load libllm.so into the (uninstrumented) Python interpreter through ctypes, which an
# ASan build cannot do without preloading the runtime: tests/run.sh skips the label there.
set_tests_properties(test_chat_template PROPERTIES LABELS "python;ctypes")
