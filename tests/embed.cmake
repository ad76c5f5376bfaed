# Embeddings and scores (llm_session_embed*, llm_session_score*; issue 14): the C API on the real
# Gemma 3 270M, the numpy reference on random models of every architecture (through ctypes), the
# Python binding (create_embedding, score), the server's /v1/embeddings through the openai client.
llm_add_c_test(test_embed SOURCES embed/test_embed.c LIBS llm m ARGS ${LLM_GEMMA3_PATH})
set_tests_properties(test_embed PROPERTIES TIMEOUT 300)
# The Python binding and the server's /v1/embeddings (openai client); ctypes: not in the ASan pass.
llm_add_py_test(test_py_binding_embed bindings/python/tests/test_embed.py TIMEOUT 300)
set_tests_properties(test_py_binding_embed PROPERTIES LABELS "python;ctypes")
# llm_session_embed against the numpy reference (tests/reference/numpy_model.py) on random models of
# every architecture and on the real Gemma 3 270M and SmolLM2 135M; loads libllm.so through ctypes.
llm_add_py_test(test_embed_reference tests/embed/test_embed_ref.py TIMEOUT 600)
set_tests_properties(test_embed_reference PROPERTIES LABELS "python;ctypes")
