# Instruction-set paths (kernels/cpu/<isa>/): every dot kernel of every path this CPU can run
# against the scalar reference, bit for bit, and llm_matmul on a pool set to each path.
llm_add_c_test(test_isa SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/kernels/test_isa.c
               LIBS llm_kernels m LABELS kernels)
