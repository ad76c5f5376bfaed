# Forward pass (lib/model): the C driver used by the Python comparisons against the numpy
# reference (tests/reference/numpy_model.py) on random models from tests/tools/make_model.py,
# and on the real Gemma 3 270M when its package is installed.
add_executable(forward_driver ${CMAKE_SOURCE_DIR}/tests/model/forward_driver.c)
target_compile_options(forward_driver PRIVATE ${LLM_WARNINGS})
target_compile_definitions(forward_driver PRIVATE _GNU_SOURCE)
target_link_libraries(forward_driver PRIVATE llm_model llm_gguf llm_kernels llm_util)
set_target_properties(forward_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

llm_add_py_test(model_forward tests/model/test_forward.py TIMEOUT 600)

# The other architectures (qwen2, qwen3, gemma2, phi3, Mistral-style llama) and rope scalings
# against the same reference, their error paths, and `llm info` on each (needs the llm CLI).
llm_add_py_test(model_architectures tests/model/test_architectures.py TIMEOUT 900)
