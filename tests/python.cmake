# Python tests of the public API through ctypes (chat formats against jinja2).
llm_add_py_test(test_chat_template tests/python/test_chat_template.py TIMEOUT 300)
