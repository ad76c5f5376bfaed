# Installation: headers, library with its SONAME link, pkg-config file and CMake package.
add_test(NAME test_install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${CMAKE_BINARY_DIR})
