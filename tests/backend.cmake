# Backends (lib/backend, tests/backend): the plugin loader and the device path of the API, tested
# without a GPU. A mock plugin (tests/backend/mock_plugin.c: the plugin ABI on the CPU) drives
# routing, logits, sessions, truncation, cancellation and the error paths end to end; plugins that
# fail to load (missing, garbage, no entry symbol, wrong ABI, no driver/device) must leave the
# library on the CPU with the reason reported. Each scenario is its own process because the
# plugin search runs once per process.
add_library(llm-mock-plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/backend/mock_plugin.c)
target_include_directories(llm-mock-plugin PRIVATE ${CMAKE_SOURCE_DIR}/lib)
target_compile_options(llm-mock-plugin PRIVATE ${LLM_WARNINGS})
target_link_libraries(llm-mock-plugin PRIVATE m)
set_target_properties(llm-mock-plugin PROPERTIES C_VISIBILITY_PRESET hidden
                      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/backend)
add_library(llm-nosym-plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/backend/nosym_plugin.c)
target_compile_options(llm-nosym-plugin PRIVATE ${LLM_WARNINGS})
set_target_properties(llm-nosym-plugin PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/backend)

set(LLM_BACKEND_MODELS ${LLM_FIXTURES}/backend_llama_f32.gguf ${LLM_FIXTURES}/backend_gemma3_f32.gguf
                       ${LLM_FIXTURES}/backend_llama_q8_0.gguf)
set(_mk ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py)
add_test(NAME backend_models
         COMMAND sh -c "$0 $1 --arch llama --type F32 --rope-freqs --untied --out $2 && $0 $1 --arch gemma3 --type F32 --out $3 && $0 $1 --arch llama --type Q8_0 --out $4"
                 ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/tools/make_model.py ${LLM_BACKEND_MODELS})
set_tests_properties(backend_models PROPERTIES FIXTURES_SETUP backend_models LABELS backend)

add_executable(test_backend ${CMAKE_CURRENT_SOURCE_DIR}/backend/test_backend.c)
target_compile_options(test_backend PRIVATE ${LLM_WARNINGS})
target_compile_definitions(test_backend PRIVATE _GNU_SOURCE)
target_include_directories(test_backend PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/lib)
target_link_libraries(test_backend PRIVATE llm m ${CMAKE_DL_LIBS})
add_dependencies(test_backend llm-mock-plugin llm-nosym-plugin)

function(llm_backend_test scenario plugin)
  add_test(NAME test_backend_${scenario} COMMAND test_backend ${scenario} ${plugin} ${LLM_BACKEND_MODELS})
  set_tests_properties(test_backend_${scenario} PROPERTIES FIXTURES_REQUIRED backend_models LABELS backend TIMEOUT 300)
endfunction()
set(_mock $<TARGET_FILE:llm-mock-plugin>)
foreach(s absent garbage wrong_abi init_fail no_device mock upload_oom session_oom forward_oom fail_once
          low_memory features)
  llm_backend_test(${s} ${_mock})
endforeach()
llm_backend_test(nosym $<TARGET_FILE:llm-nosym-plugin>)
# llm_session_step_batch on the mock: its session_forward_batch, the core's fallback loop (field
# NULL) and a table too old to have the field. Exit 77 = skipped: only while the core's
# llm_session_step_batch answers LLM_ERR_UNSUPPORTED (the test prints why).
foreach(s batch batch_nobatch batch_oldtable)
  llm_backend_test(${s} ${_mock})
  set_tests_properties(test_backend_${s} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# The real CUDA plugin, when the toolkit was found: on a machine without a GPU it must load and
# then report no driver / no device; on a GPU machine it lists the device.
if(TARGET llm-cuda)
  llm_backend_test(real_cuda $<TARGET_FILE:llm-cuda>)
endif()

# The GPU correctness program of tests/gpu/run.sh. CI has no GPU: it runs the program against the
# mock plugin (F32 models), which checks the harness itself; on a GPU machine run.sh runs it for
# every weight type against libllm-cuda.so.
add_executable(gpu_check ${CMAKE_SOURCE_DIR}/tests/gpu/gpu_check.c)
target_compile_options(gpu_check PRIVATE ${LLM_WARNINGS})
target_compile_definitions(gpu_check PRIVATE _GNU_SOURCE)
target_link_libraries(gpu_check PRIVATE llm m)
set_target_properties(gpu_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
list(GET LLM_BACKEND_MODELS 0 _llama_f32)
list(GET LLM_BACKEND_MODELS 1 _gemma3_f32)
add_test(NAME gpu_check_mock COMMAND gpu_check --allow-refused --no-oom F32=${_llama_f32} F32=${_gemma3_f32})
set_tests_properties(gpu_check_mock PROPERTIES FIXTURES_REQUIRED backend_models LABELS backend TIMEOUT 300
                     ENVIRONMENT "LLM_BACKEND_PATH=$<TARGET_FILE:llm-mock-plugin>")

# The Python binding's backend listing (libllm.backends) on the mock plugin.
llm_add_py_test(test_backend_py tests/backend/test_backend_py.py TIMEOUT 120)
set_property(TEST test_backend_py APPEND PROPERTY ENVIRONMENT
             "LLM_BACKEND_PATH=$<TARGET_FILE:llm-mock-plugin>;LLM_BACKEND_TEST_MODEL=${_llama_f32}")
set_tests_properties(test_backend_py PROPERTIES LABELS "python;ctypes;backend" FIXTURES_REQUIRED backend_models)

# The CUDA plugin's dequantizers against the CPU's, on the host (kernels/cuda/CMakeLists.txt).
if(TARGET llm-cuda-quant-check)
  add_test(NAME test_cuda_quant_host COMMAND llm-cuda-quant-check)
  set_tests_properties(test_cuda_quant_host PROPERTIES LABELS backend)
endif()
