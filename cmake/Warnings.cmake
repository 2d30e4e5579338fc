# Warnings as an interface target: modules link outpost_warnings instead of editing global flags.
add_library(outpost_warnings INTERFACE)
target_compile_options(outpost_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports std::variant members as maybe-uninitialized at -O2 (false positives on moves of
  # Value/Result); clang and the sanitizer presets still catch real uninitialized reads.
  target_compile_options(outpost_warnings INTERFACE -Wno-maybe-uninitialized)
endif()
if(OUTPOST_WERROR)
  target_compile_options(outpost_warnings INTERFACE -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(outpost_warnings INTERFACE -Wthread-safety)
endif()
