#include "mongo/dead_letters.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "mongo/connector_state.hpp"
#include "outpost/changelog.hpp"

namespace outpost::mongo::detail {

namespace {

constexpr const char* kIndexKey = "mongo:dead_letters";

std::string letter_key(uint64_t id) { return "mongo:dead_letter:" + std::to_string(id); }

// The meta key that names the letter kept for D's document and direction: FNV-1a of the three
// (a document key may be longer than a meta key can be). A clash is told apart by comparing them.
std::string document_key_of(const DeadLetter& d) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](std::string_view s) {
        for (char c : s) {
            h ^= static_cast<uint8_t>(c);
            h *= 1099511628211ull;
        }
        h ^= 0xff;  // a separator no UTF-8 text holds
        h *= 1099511628211ull;
    };
    mix(d.direction);
    mix(d.collection);
    mix(d.document_key);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return std::string("mongo:dead_letter_of:") + hex;
}

bool same_document(const DeadLetter& a, const DeadLetter& b) {
    return a.direction == b.direction && a.collection == b.collection &&
           a.document_key == b.document_key;
}

// The index: the next id to give, then the ids kept, oldest first.
struct Index {
    uint64_t next = 1;
    std::vector<uint64_t> ids;
};

void put_u64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(std::string_view in, size_t at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v |= static_cast<uint64_t>(static_cast<uint8_t>(in[at + static_cast<size_t>(i)]))
             << (8 * i);
    return v;
}

Result<Index> read_index(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(auto raw, get_meta(txn, kIndexKey));
    Index index;
    if (!raw) return index;
    if (raw->size() < 8 || raw->size() % 8 != 0)
        return Status(ErrorCode::kCorrupt, "the dead-letter index has a bad length");
    index.next = get_u64(*raw, 0);
    for (size_t at = 8; at < raw->size(); at += 8) index.ids.push_back(get_u64(*raw, at));
    return index;
}

Status write_index(WriteTxn& txn, const Index& index) {
    std::string raw;
    raw.reserve(8 * (index.ids.size() + 1));
    put_u64(raw, index.next);
    for (uint64_t id : index.ids) put_u64(raw, id);
    return put_meta(txn, kIndexKey, raw);
}

std::string cut(const std::string& s, size_t max) {
    if (s.size() <= max) return s;
    // Cut at a UTF-8 character boundary, so that the JSON stays valid.
    size_t end = max;
    while (end > 0 && (static_cast<uint8_t>(s[end]) & 0xc0) == 0x80) --end;
    return s.substr(0, end) + "... (" + std::to_string(s.size()) + " bytes, cut)";
}

std::string encode(const DeadLetter& d) {
    nlohmann::json j = {{"direction", d.direction},
                        {"collection", d.collection},
                        {"document_key", d.document_key},
                        {"reason", cut(d.reason, DeadLetters::kMaxReasonBytes)},
                        {"raw", cut(d.raw, DeadLetters::kMaxRawBytes)},
                        {"time_ms", d.time_ms}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The string KEY of J, or empty (a damaged letter shows what is left of it).
std::string text(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<DeadLetter> decode(uint64_t id, const std::string& raw) {
    auto j = nlohmann::json::parse(raw, nullptr, false);
    if (!j.is_object())
        return Status(ErrorCode::kCorrupt, "dead letter " + std::to_string(id) + " is damaged");
    DeadLetter d;
    d.id = id;
    d.direction = text(j, "direction");
    d.collection = text(j, "collection");
    d.document_key = text(j, "document_key");
    d.reason = text(j, "reason");
    d.raw = text(j, "raw");
    auto t = j.find("time_ms");
    if (t != j.end() && t->is_number_integer()) d.time_ms = t->get<int64_t>();
    return d;
}

}  // namespace

namespace {

// Removes letter ID (kept, in INDEX's list at IT) with its document entry.
Status drop_letter(WriteTxn& txn, Index& index, std::vector<uint64_t>::iterator it) {
    uint64_t id = *it;
    index.ids.erase(it);
    OUTPOST_ASSIGN_OR_RETURN(auto old, DeadLetters::get(txn, id));
    if (old) {
        std::string by_doc = document_key_of(*old);
        OUTPOST_ASSIGN_OR_RETURN(auto named, get_meta(txn, by_doc));
        if (named && *named == std::to_string(id))
            OUTPOST_RETURN_IF_ERROR(remove_meta(txn, by_doc));
    }
    return remove_meta(txn, letter_key(id));
}

// The kept letter of D's document and direction, if any, leaves INDEX.
Status drop_older_of_same_document(WriteTxn& txn, Index& index, const DeadLetter& d) {
    OUTPOST_ASSIGN_OR_RETURN(auto named, get_meta(txn, document_key_of(d)));
    if (!named) return Status::ok();
    uint64_t old_id = std::strtoull(named->c_str(), nullptr, 10);
    auto it = std::find(index.ids.begin(), index.ids.end(), old_id);
    if (it == index.ids.end()) return Status::ok();
    OUTPOST_ASSIGN_OR_RETURN(auto old, DeadLetters::get(txn, old_id));
    if (!old || !same_document(*old, d)) return Status::ok();  // a hash clash: both stay
    return drop_letter(txn, index, it);
}

}  // namespace

Result<uint64_t> DeadLetters::add(WriteTxn& txn, std::vector<DeadLetter>& letters) {
    OUTPOST_ASSIGN_OR_RETURN(Index index, read_index(txn));
    if (letters.empty()) return index.ids.size();
    for (DeadLetter& d : letters) {
        OUTPOST_RETURN_IF_ERROR(drop_older_of_same_document(txn, index, d));
        d.id = index.next++;
        if (d.time_ms == 0) d.time_ms = now_ms();
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, letter_key(d.id), encode(d)));
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, document_key_of(d), std::to_string(d.id)));
        index.ids.push_back(d.id);
    }
    while (index.ids.size() > kMaxKept)
        OUTPOST_RETURN_IF_ERROR(drop_letter(txn, index, index.ids.begin()));
    OUTPOST_RETURN_IF_ERROR(write_index(txn, index));
    return index.ids.size();
}

Result<std::optional<DeadLetter>> DeadLetters::get(Txn& txn, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(auto raw, get_meta(txn, letter_key(id)));
    if (!raw) return std::optional<DeadLetter>();
    OUTPOST_ASSIGN_OR_RETURN(DeadLetter d, decode(id, *raw));
    return std::optional<DeadLetter>(std::move(d));
}

Result<bool> DeadLetters::remove(WriteTxn& txn, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(Index index, read_index(txn));
    auto it = std::find(index.ids.begin(), index.ids.end(), id);
    if (it == index.ids.end()) return false;
    OUTPOST_RETURN_IF_ERROR(drop_letter(txn, index, it));
    OUTPOST_RETURN_IF_ERROR(write_index(txn, index));
    return true;
}

Result<uint64_t> DeadLetters::count(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(auto raw, get_meta(txn, kIndexKey));
    if (!raw) return 0;
    if (raw->size() < 8 || raw->size() % 8 != 0)
        return Status(ErrorCode::kCorrupt, "the dead-letter index has a bad length");
    return raw->size() / 8 - 1;
}

Result<DeadLetterPage> DeadLetters::list(Txn& txn, size_t offset, size_t limit) {
    OUTPOST_ASSIGN_OR_RETURN(Index index, read_index(txn));
    DeadLetterPage page;
    page.total = index.ids.size();
    for (size_t i = offset; i < index.ids.size() && page.items.size() < limit; ++i) {
        uint64_t id = index.ids[index.ids.size() - 1 - i];
        OUTPOST_ASSIGN_OR_RETURN(auto d, get(txn, id));
        if (d) page.items.push_back(std::move(*d));
    }
    return page;
}

}  // namespace outpost::mongo::detail
