# ABI checks of libllm.so against the baselines checked in under tests/abi/ (regenerated on
# purpose with tests/abi/update_baseline.sh): the exported symbols, and libabigail's description
# of the functions and types (skipped, exit 77, where abigail-tools is not installed).
add_test(NAME test_abi_exports
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/abi/check_exports.sh $<TARGET_FILE:llm> ${CMAKE_SOURCE_DIR})
add_test(NAME test_abi_compat
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/abi/check_abi.sh $<TARGET_FILE:llm> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/abi)
set_tests_properties(test_abi_compat PROPERTIES SKIP_RETURN_CODE 77)
