# Helpers shared by every module's CMakeLists.txt.

# tessera_module(NAME SOURCES ... DEPS ... PRIVATE_DEPS ...)
# Defines library tessera_NAME with alias tessera::NAME, public headers under NAME/include, C++20,
# warnings, the sanitizer chosen by TESSERA_SANITIZE, and installation into the exported package.
function(tessera_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target tessera_${name})
  add_library(${target} ${ARG_SOURCES})
  add_library(tessera::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME tessera_${name}
                                             POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  tessera_target_options(${target})
  install(TARGETS ${target} EXPORT tesseraTargets)
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# Warnings and sanitizer flags for one of the project's own targets (never global flags).
function(tessera_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter
                                   -Wno-missing-field-initializers)
  if(TESSERA_SANITIZE STREQUAL "address")
    target_compile_options(${target} PUBLIC $<BUILD_INTERFACE:-fsanitize=address,undefined -fno-omit-frame-pointer>)
    target_link_options(${target} PUBLIC $<BUILD_INTERFACE:-fsanitize=address,undefined>)
  elseif(TESSERA_SANITIZE STREQUAL "thread")
    target_compile_options(${target} PUBLIC $<BUILD_INTERFACE:-fsanitize=thread -fno-omit-frame-pointer>)
    target_link_options(${target} PUBLIC $<BUILD_INTERFACE:-fsanitize=thread>)
  elseif(NOT TESSERA_SANITIZE STREQUAL "")
    message(FATAL_ERROR "TESSERA_SANITIZE must be address, thread or empty, not '${TESSERA_SANITIZE}'")
  endif()
endfunction()
