# Rust bindings (bindings/rust): `cargo test` (header consistency, end-to-end tests on the default
# model, doc tests; it also builds examples/chat.rs), `cargo doc` with warnings as errors, and a
# short run of the chat example. Added only when cargo is installed.
# The Rust test binaries and the example load libllm.so like the ctypes tests load it into Python: an ASan build
# of the library cannot be loaded by an uninstrumented executable, so they (and the doc build, to avoid doing it twice) carry the "ctypes"
# label that tests/run.sh excludes from the sanitizer pass (and "rust" to select them).
find_program(LLM_CARGO cargo HINTS $ENV{CARGO_HOME}/bin $ENV{HOME}/.cargo/bin)
if(NOT LLM_CARGO)
  message(STATUS "cargo not found: the Rust binding tests are not added")
  return()
endif()

set(LLM_RUST_MANIFEST ${CMAKE_SOURCE_DIR}/bindings/rust/Cargo.toml)
set(LLM_CARGO_TARGET ${CMAKE_BINARY_DIR}/cargo-target)
set(LLM_RUST_ENV
    "LIBLLM_DIR=$<TARGET_FILE_DIR:llm>"
    "LLM_TEST_MODEL=${LLM_GEMMA3_PATH}"
    "CARGO_TARGET_DIR=${LLM_CARGO_TARGET}"
    "CARGO_TERM_COLOR=never")

add_test(NAME rust_cargo_test
         COMMAND ${LLM_CARGO} test --offline --manifest-path ${LLM_RUST_MANIFEST}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/bindings/rust)
set_tests_properties(rust_cargo_test PROPERTIES ENVIRONMENT "${LLM_RUST_ENV}"
                     LABELS "rust;ctypes" TIMEOUT 900)

add_test(NAME rust_cargo_doc
         COMMAND ${LLM_CARGO} doc --no-deps --offline --manifest-path ${LLM_RUST_MANIFEST}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/bindings/rust)
set_tests_properties(rust_cargo_doc PROPERTIES ENVIRONMENT "${LLM_RUST_ENV};RUSTDOCFLAGS=-D warnings"
                     LABELS "rust;ctypes" TIMEOUT 600)

# The example, built by rust_cargo_test, answering two lines (a few tokens each).
add_test(NAME rust_example_chat
         COMMAND sh -c "printf 'Hello!\\nWhat is the capital of France?\\n' | \"$1\" \"$2\" -n 6 --temp 0"
                 sh ${LLM_CARGO_TARGET}/debug/examples/chat ${LLM_GEMMA3_PATH})
set_tests_properties(rust_example_chat PROPERTIES DEPENDS rust_cargo_test LABELS "rust;ctypes" TIMEOUT 300)
