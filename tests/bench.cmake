# `llm bench` (examples/cli/bench.c) on a tiny random model from tests/tools/make_model.py.
if(TARGET llm-cli)
  llm_add_py_test(test_bench tests/bench/test_bench.py TIMEOUT 120)
  set_tests_properties(test_bench PROPERTIES LABELS "cli;bench")
endif()
