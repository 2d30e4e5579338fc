// libFuzzer target: the change-set decoder must reject any input cleanly, and whatever it accepts
// must re-encode to a set that decodes and encodes to the same bytes again. (Bytes, not the decoded
// sets: a double NaN value is never equal to itself.)
#include <cstdlib>

#include "outpost/changelog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto cs = outpost::decode_change_set({data, size});
    if (cs.is_ok()) {
        std::string again = outpost::encode_change_set(cs.value());
        auto back = outpost::decode_change_set(
            {reinterpret_cast<const uint8_t*>(again.data()), again.size()});
        if (!back.is_ok() || back.value().objects.size() != cs.value().objects.size() ||
            outpost::encode_change_set(back.value()) != again) {
            std::abort();
        }
    }
    return 0;
}
