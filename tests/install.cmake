# Installation: headers, library with its SONAME link, pkg-config file and CMake package.
add_test(NAME test_install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${CMAKE_BINARY_DIR})
# The consumer programs are built without sanitizers, so they cannot load an instrumented library.
set_tests_properties(test_install PROPERTIES LABELS no-asan)
