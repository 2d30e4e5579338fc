// libFuzzer target: the change-set decoder must reject any input cleanly, and whatever it accepts
// must re-encode to a set that decodes and encodes to the same bytes again. (Bytes, not the decoded
// sets: a double NaN value is never equal to itself.) The same bytes read as a change-log record
// (stored entries resolved through a stand-in reader) must also decode or fail cleanly.
#include <algorithm>
#include <cstdlib>

#include "outpost/changelog.hpp"
#include "store/change_set_codec.hpp"

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
    // A stored entry names COUNT objects; the stand-in makes at most 4 of each run, like a store
    // that finds the first ones and then reports the next one missing.
    outpost::detail::StoredObjectReader stored = [](uint64_t entity_uid, uint64_t first,
                                                    uint64_t count,
                                                    std::vector<outpost::ObjectChange>& out) {
        if (first == 0 || count > UINT64_MAX - first) std::abort();  // the decoder checks the range
        for (uint64_t i = 0; i < std::min<uint64_t>(count, 4); ++i) {
            outpost::ObjectChange& c = out.emplace_back();
            c.entity_uid = entity_uid;
            c.is_new = true;
        }
        if (count > 4) return outpost::Status(outpost::ErrorCode::kCorrupt, "object not stored");
        return outpost::Status::ok();
    };
    auto rec = outpost::detail::decode_record({data, size}, stored);
    if (cs.is_ok() && (!rec.is_ok() || rec.value().objects.size() != cs.value().objects.size())) {
        std::abort();  // without stored entries a record reads like a change set
    }
    return 0;
}
