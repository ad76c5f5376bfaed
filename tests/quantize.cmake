# llm_quantize / `llm quantize`: random F32 llama models (tests/tools/make_model.py) converted to
# every type and checked with the gguf Python package (bit-exact against gguf.quants for the
# 32-element types, error bounds for the K-quants, the Q4_K_M / Q5_K_M mix rule, fallbacks,
# metadata copied verbatim), run with `llm run`, plus the error paths.
if(TARGET llm-cli)
  llm_add_py_test(test_quantize tests/quantize/test_quantize.py TIMEOUT 300)
  set_tests_properties(test_quantize PROPERTIES LABELS "python;quantize")
endif()
