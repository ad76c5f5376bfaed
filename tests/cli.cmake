# End-to-end tests of the `llm` command-line tool (examples/cli), run on the real Gemma 3 270M.
if(TARGET llm-cli)
  llm_add_py_test(test_cli tests/cli/test_cli.py TIMEOUT 900)
  set_tests_properties(test_cli PROPERTIES LABELS "cli;e2e")
endif()
