# Unit tests of the token sampler (lib/runtime/sampling.c). The sampler source is compiled
# straight into the test so it does not depend on the rest of llm_runtime.
llm_add_c_test(test_sampling
  SOURCES ${CMAKE_SOURCE_DIR}/tests/sampling/test_sampling.c ${CMAKE_SOURCE_DIR}/lib/runtime/sampling.c
  LIBS m
  LABELS unit sampling)
target_include_directories(test_sampling PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib)
