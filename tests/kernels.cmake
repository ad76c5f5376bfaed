# Kernel layer tests (kernels/**): thread pool (C), dequantization / dot products / matmul /
# row kernels against the gguf Python package's numpy reference (pytest via a C driver).

llm_add_c_test(test_kern_pool SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kernels/test_pool.c
               LIBS llm_kernels LABELS kernels)
llm_add_c_test(test_kern_exp SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kernels/test_exp.c
               LIBS llm_kernels LABELS kernels)

# Driver executable used by test_kernels.py; lives in the build root so the tests find it
# through LLM_BIN_DIR.
add_executable(llm_kern_driver ${CMAKE_CURRENT_SOURCE_DIR}/kernels/kern_driver.c)
target_compile_options(llm_kern_driver PRIVATE ${LLM_WARNINGS})
target_link_libraries(llm_kern_driver PRIVATE llm_kernels)
set_target_properties(llm_kern_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# Timing of the BLIS prefill path against the per-token path (not a test; run by hand).
add_executable(llm_kern_bench ${CMAKE_CURRENT_SOURCE_DIR}/kernels/bench_matmul.c)
target_compile_options(llm_kern_bench PRIVATE ${LLM_WARNINGS})
target_compile_definitions(llm_kern_bench PRIVATE _GNU_SOURCE)
target_link_libraries(llm_kern_bench PRIVATE llm_kernels)
set_target_properties(llm_kern_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

llm_add_py_test(test_kernels tests/kernels/test_kernels.py TIMEOUT 120)
set_tests_properties(test_kernels PROPERTIES LABELS kernels)

# Decode product timing, EXACT (f32 dots) against FAST (8-bit activations) mode (not a test).
add_executable(llm_kern_bench_fast ${CMAKE_CURRENT_SOURCE_DIR}/kernels/bench_fast.c)
target_compile_options(llm_kern_bench_fast PRIVATE ${LLM_WARNINGS})
target_compile_definitions(llm_kern_bench_fast PRIVATE _GNU_SOURCE)
target_link_libraries(llm_kern_bench_fast PRIVATE llm_kernels)
set_target_properties(llm_kern_bench_fast PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# Perplexity of the real model (Gemma 3 270M, when installed) in EXACT and FAST precision: FAST
# must stay within 1% (labels e2e, kernels; skipped when the model is not installed).
add_executable(llm_fast_ppl ${CMAKE_CURRENT_SOURCE_DIR}/kernels/fast_ppl.c)
target_compile_options(llm_fast_ppl PRIVATE ${LLM_WARNINGS})
target_link_libraries(llm_fast_ppl PRIVATE llm m)
target_include_directories(llm_fast_ppl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
set_target_properties(llm_fast_ppl PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME test_fast_ppl COMMAND llm_fast_ppl WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(test_fast_ppl PROPERTIES LABELS "e2e;kernels" SKIP_RETURN_CODE 77 TIMEOUT 600)
