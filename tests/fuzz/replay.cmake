# Included by the top-level CMakeLists.txt: the fuzz harnesses linked with
# replay_main.cpp instead of libFuzzer, and a ctest test per harness that
# replays the hand-written seeds, the found regressions and the committed
# corpus through it (a few seconds). The fuzzing itself is `make fuzz`
# (tests/fuzz/CMakeLists.txt, docs/fuzzing.md).
set(FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(FUZZ_KEPT_INPUTS ${FUZZ_DIR}/seeds)
if(EXISTS ${FUZZ_DIR}/regressions)
  list(APPEND FUZZ_KEPT_INPUTS ${FUZZ_DIR}/regressions)
endif()
foreach(harness fuzz_sql_lexer fuzz_upsert)
  add_executable(${harness}_replay ${FUZZ_DIR}/${harness}.cpp ${FUZZ_DIR}/replay_main.cpp)
  target_include_directories(${harness}_replay BEFORE PRIVATE ${CMAKE_SOURCE_DIR}/core/poison)
  target_link_libraries(${harness}_replay PRIVATE ferry_core)
  add_test(NAME ${harness}_corpus
           COMMAND ${harness}_replay ${FUZZ_KEPT_INPUTS} ${FUZZ_DIR}/corpus/${harness})
endforeach()
