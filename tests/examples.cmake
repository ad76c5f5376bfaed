# The examples, run on the default model (LLM_GEMMA3_PATH, set by api.cmake). Each takes well
# under a minute on a loaded two-core machine, sanitizer builds included. ctest ignores the exit
# status once PASS_REGULAR_EXPRESSION is set, so a sanitizer report fails a test by its text.
set(LLM_SANITIZER_REPORT "ERROR: [A-Za-z]+Sanitizer|runtime error:")

# desktop: a load with a progress bar on a worker thread, then a short streamed chat turn.
add_test(NAME example_desktop COMMAND llm-desktop ${LLM_GEMMA3_PATH} --max-tokens 6)
set_tests_properties(example_desktop PROPERTIES TIMEOUT 60 PASS_REGULAR_EXPRESSION "reply complete"
                     FAIL_REGULAR_EXPRESSION "${LLM_SANITIZER_REPORT}")
# desktop --cancel-at: Cancel is clicked at 30%; the load must end with LLM_ERR_ABORTED.
add_test(NAME example_desktop_cancel COMMAND llm-desktop ${LLM_GEMMA3_PATH} --cancel-at 0.3)
set_tests_properties(example_desktop_cancel PROPERTIES TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "cancelled: LLM_ERR_ABORTED"
                     FAIL_REGULAR_EXPRESSION "${LLM_SANITIZER_REPORT}")

# game_loop: an NPC line generated in 4 ms slices of 60 fps frames. It prints "game_loop: PASS"
# exactly when its exit status is 0 (the line finished, no slice over budget + 2 ms of CPU time),
# so the expression checks both. Sanitizer builds run several times slower and their timings
# mean nothing: there the loop only has to finish the line (--check none).
if(LLM_SANITIZE)
  set(LLM_GAME_LOOP_CHECK none)
else()
  set(LLM_GAME_LOOP_CHECK cpu)
endif()
add_test(NAME example_game_loop
         COMMAND llm-game-loop ${LLM_GEMMA3_PATH} --budget-ms 4 --check ${LLM_GAME_LOOP_CHECK})
set_tests_properties(example_game_loop PROPERTIES TIMEOUT 60
  PASS_REGULAR_EXPRESSION "game_loop: PASS frames=[0-9]+ worst_frame=[0-9.]+ms p99_frame=[0-9.]+ms"
  FAIL_REGULAR_EXPRESSION "${LLM_SANITIZER_REPORT}")
