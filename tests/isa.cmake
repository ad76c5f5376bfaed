# Instruction-set paths (kernels/cpu/<isa>/): every dot kernel of every path this CPU can run
# against the scalar reference, bit for bit, and llm_matmul on a pool set to each path.
llm_add_c_test(test_isa SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kernels/test_isa.c
               LIBS llm_kernels m LABELS kernels)
# FAST precision (8-bit activations): every fast dot kernel of every runnable path against the
# scalar fast reference bit for bit, the reference against float64 within the bound of
# kernels/cpu/fast.h, and llm_matmul in FAST mode for 1-3 threads.
llm_add_c_test(test_fast SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kernels/test_fast.c
               LIBS llm_kernels m LABELS kernels)
