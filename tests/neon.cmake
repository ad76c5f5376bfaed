# The NEON (AArch64) path against the scalar reference, bit for bit, on a non-AArch64 host:
# tests/neon/run_neon_tests.sh cross-compiles the scalar and NEON kernels and the dot part of
# test_isa for armv8-a and runs it under qemu-aarch64 (label "neon"). On an AArch64 host the
# NEON path is compiled into the library and test_isa (tests/isa.cmake) covers it natively.
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  find_program(LLM_AARCH64_CC aarch64-linux-gnu-gcc)
  find_program(LLM_QEMU_AARCH64 qemu-aarch64)
  if(LLM_AARCH64_CC AND LLM_QEMU_AARCH64)
    add_test(NAME neon_cross
             COMMAND ${CMAKE_SOURCE_DIR}/tests/neon/run_neon_tests.sh ${CMAKE_BINARY_DIR}/neon_cross
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(neon_cross PROPERTIES
      LABELS neon TIMEOUT 600
      ENVIRONMENT "AARCH64_CC=${LLM_AARCH64_CC};QEMU_AARCH64=${LLM_QEMU_AARCH64}")
  else()
    set(_missing "")
    if(NOT LLM_AARCH64_CC)
      list(APPEND _missing aarch64-linux-gnu-gcc)
    endif()
    if(NOT LLM_QEMU_AARCH64)
      list(APPEND _missing qemu-aarch64)
    endif()
    string(REPLACE ";" " and " _missing "${_missing}")
    message(STATUS "NEON tests skipped: ${_missing} not found "
                   "(Debian packages gcc-aarch64-linux-gnu and qemu-user; tests/install_deps.sh installs them)")
  endif()
endif()
