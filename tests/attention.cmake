# The attention kernel (kernels/cpu/attention.c): accuracy against a float64 reference, and
# bit-identical results for any thread count, instruction-set path and split into calls.
llm_add_c_test(test_attention SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/attention/test_attention.c
               LIBS llm_kernels m LABELS kernels)
set_tests_properties(test_attention PROPERTIES TIMEOUT 300)

# Timing of one layer's attention, new kernel vs the previous algorithm (not a test; run by hand:
# build/bench_attention [threads] [reps]).
add_executable(bench_attention ${CMAKE_CURRENT_SOURCE_DIR}/attention/bench_attention.c)
target_compile_options(bench_attention PRIVATE ${LLM_WARNINGS})
target_compile_definitions(bench_attention PRIVATE _GNU_SOURCE)
target_link_libraries(bench_attention PRIVATE llm_kernels m)
set_target_properties(bench_attention PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
