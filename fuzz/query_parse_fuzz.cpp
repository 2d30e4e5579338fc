// libFuzzer target: the query text parser must reject any input cleanly, and the text of whatever
// it accepts (Condition::to_string) must parse again to a condition with the same text.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "outpost/query.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    auto c = outpost::parse_condition(text);
    if (!c.is_ok()) return 0;
    std::string printed = c.value().to_string();
    auto again = outpost::parse_condition(printed);
    if (!again.is_ok()) {
        std::fprintf(
            stderr,
            "to_string() does not parse again:\n  input:   %s\n  printed: %s\n  error:   %s\n",
            text.c_str(), printed.c_str(), again.status().to_string().c_str());
        std::abort();
    }
    std::string reprinted = again.value().to_string();
    if (reprinted != printed) {
        std::fprintf(
            stderr,
            "to_string() is not stable:\n  input:     %s\n  printed:   %s\n  reprinted: %s\n",
            text.c_str(), printed.c_str(), reprinted.c_str());
        std::abort();
    }
    return 0;
}
