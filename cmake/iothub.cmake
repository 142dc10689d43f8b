# Helpers shared by every folder's CMakeLists.txt.

# iothub_library(NAME DIR DEPS...): a static library from every *.cc in the current folder except
# tests (*_test.cc), benchmarks (*_benchmark.cc) and fuzz targets (*_fuzz.cc).
function(iothub_library name)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_(test|benchmark|fuzz)\\.cc$")
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()

# iothub_tests(NAME DEPS... [WHOLE_SUITES SUITE...] [LABELS LABEL...]): one GoogleTest binary from
# every *_test.cc in the current folder, each test registered with ctest (with LABELS, for
# `ctest -L`: the end-to-end suites are labelled e2e). A suite named in WHOLE_SUITES is registered
# as one ctest test instead (ctest runs each entry as its own process, and such suites share one
# expensive set-up, e.g. a hub and a Node SDK run, across their cases). Value-parameterized tests are
# named by index (NO_PRETTY_VALUES): printed values can be long, and a struct's padding bytes would
# make them differ from run to run.
function(iothub_tests name)
  if(NOT IOTHUB_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "WHOLE_SUITES;LABELS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${T_UNPARSED_ARGUMENTS} GTest::gmock GTest::gtest_main)
  set(filter "")
  if(T_WHOLE_SUITES)
    list(TRANSFORM T_WHOLE_SUITES APPEND ".*" OUTPUT_VARIABLE patterns)
    list(JOIN patterns ":" joined)
    set(filter TEST_FILTER "-${joined}")
  endif()
  set(labels "")
  if(T_LABELS)
    set(labels LABELS "${T_LABELS}")
  endif()
  gtest_discover_tests(${name} ${filter} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES
                       PROPERTIES TIMEOUT 300 ${labels})
  foreach(suite IN LISTS T_WHOLE_SUITES)
    add_test(NAME ${suite} COMMAND ${name} --gtest_filter=${suite}.*)
    set_tests_properties(${suite} PROPERTIES TIMEOUT 300 ${labels})
  endforeach()
endfunction()
