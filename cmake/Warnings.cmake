# Warnings as an interface target: modules link outpost_warnings instead of editing global flags.
add_library(outpost_warnings INTERFACE)
target_compile_options(outpost_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(OUTPOST_WERROR)
  target_compile_options(outpost_warnings INTERFACE -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(outpost_warnings INTERFACE -Wthread-safety)
endif()
