// libFuzzer target: the sync protocol decoder (FlatBuffers verifier, then the change-set decoder)
// must reject any frame cleanly; a frame it accepts must encode again and decode to the same
// message kind.
#include <cstdlib>

#include "sync/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto m = outpost::sync::decode_message({data, size});
    if (m.is_ok()) {
        std::string again = outpost::sync::encode_message(m.value());
        auto back = outpost::sync::decode_message(
            {reinterpret_cast<const uint8_t*>(again.data()), again.size()});
        if (!back.is_ok()) std::abort();
    }
    return 0;
}
