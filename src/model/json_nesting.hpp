#pragma once
// A bound on the nesting of JSON text, checked before the text is parsed. nlohmann::json parses and
// frees iteratively, but walking the parsed value (dump(), conversions into Flex or BSON) recurses
// once per level; text from outside is checked here first, so no walk goes deeper than the bound.

#include <string_view>

namespace outpost::detail {

// Whether the arrays and objects of TEXT nest at most MAX levels ("[]" is 1, "{\"a\": [1]}" is 2).
// Brackets inside strings do not count. Text that is not valid JSON may pass: the parse rejects it.
inline bool json_nesting_within(std::string_view text, int max) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character, a quote included, does not end the string
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return true;
}

}  // namespace outpost::detail
