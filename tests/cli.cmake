# End-to-end tests of the `llm` command-line tool (examples/cli), run on the real Gemma 3 270M.
if(TARGET llm-cli)
  llm_add_py_test(test_cli tests/cli/test_cli.py TIMEOUT 900)
  set_tests_properties(test_cli PROPERTIES LABELS "cli;e2e")
endif()
# Chat with the default instruction-tuned model, `llm template` against jinja2, special tokens in
# `llm run -p` (tests/chat).
if(TARGET llm-cli)
  llm_add_py_test(test_chat_cli tests/chat/test_chat_cli.py TIMEOUT 900)
  set_tests_properties(test_chat_cli PROPERTIES LABELS "cli;e2e")
endif()
