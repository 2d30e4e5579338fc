// Global ids: generation, display, validation, and the GID <-> local id maps.
#include <openssl/rand.h>
#include <sys/random.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>

#include "outpost/json.hpp"
#include "store/codec.hpp"
#include "store/gid_map.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace {

constexpr uint8_t kObjectIdType = 0x07;
constexpr uint8_t kStringType = 0x02;
constexpr uint8_t kBinaryType = 0x05;
constexpr uint8_t kInt32Type = 0x10;
constexpr uint8_t kInt64Type = 0x12;

void random_bytes(uint8_t* out, size_t n) {
    if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
}

// 8 bytes from the kernel's generator (no OpenSSL DRBG to set up for the first ObjectId).
void seed_bytes(uint8_t* out, size_t n) {
    if (::getrandom(out, n, 0) == static_cast<ssize_t>(n)) return;
    random_bytes(out, n);
}

// The process's 5 random bytes of every ObjectId it makes, and the counter that follows them.
struct ObjectIdState {
    uint8_t random[5];
    std::atomic<uint32_t> counter;
    ObjectIdState() {
        seed_bytes(random, sizeof random);
        uint8_t c[4];
        seed_bytes(c, 4);
        uint32_t start;
        std::memcpy(&start, c, 4);
        counter.store(start & 0xffffff);
    }
};

std::array<uint8_t, 16> make_uuid(bool v7) {
    std::array<uint8_t, 16> u{};
    random_bytes(u.data(), u.size());
    if (v7) {
        uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
        for (int i = 0; i < 6; ++i) u[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
        u[6] = static_cast<uint8_t>(0x70 | (u[6] & 0x0f));
    } else {
        u[6] = static_cast<uint8_t>(0x40 | (u[6] & 0x0f));
    }
    u[8] = static_cast<uint8_t>(0x80 | (u[8] & 0x3f));
    return u;
}

std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

std::string uuid_text(const uint8_t* u) {
    std::string h = hex(u, 16);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
}

}  // namespace

Gid new_object_id_gid() {
    static ObjectIdState state;
    uint8_t b[12];
    // Seconds only: the coarse clock (a few ms of resolution) is enough and cheaper to read.
    struct timespec ts {};
    uint32_t secs;
    if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
        secs = static_cast<uint32_t>(ts.tv_sec);
    } else {
        secs = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
    }
    b[0] = static_cast<uint8_t>(secs >> 24);
    b[1] = static_cast<uint8_t>(secs >> 16);
    b[2] = static_cast<uint8_t>(secs >> 8);
    b[3] = static_cast<uint8_t>(secs);
    std::memcpy(b + 4, state.random, 5);
    uint32_t c = state.counter.fetch_add(1) & 0xffffff;
    b[9] = static_cast<uint8_t>(c >> 16);
    b[10] = static_cast<uint8_t>(c >> 8);
    b[11] = static_cast<uint8_t>(c);
    char g[13];
    g[0] = static_cast<char>(kObjectIdType);
    std::memcpy(g + 1, b, 12);
    return Gid(g, 13);
}

Gid new_uuid_gid(bool v7) {
    auto u = make_uuid(v7);
    Gid g;
    g.push_back(static_cast<char>(kBinaryType));
    g.push_back(0x04);
    g.append(reinterpret_cast<const char*>(u.data()), 16);
    return g;
}

Gid new_uuid_string_gid(bool v7) {
    auto u = make_uuid(v7);
    return std::string(1, static_cast<char>(kStringType)) + uuid_text(u.data());
}

Gid new_gid_for(const Entity& entity) {
    switch (entity.id_property().external_type) {
        case ExternalType::kUuid:
            return new_uuid_gid(true);
        case ExternalType::kUuidV4:
            return new_uuid_gid(false);
        case ExternalType::kUuidString:
            return new_uuid_string_gid(true);
        case ExternalType::kUuidV4String:
            return new_uuid_string_gid(false);
        default:
            return new_object_id_gid();
    }
}

Status validate_gid(const Gid& gid) {
    if (gid.empty()) return {ErrorCode::kInvalidArgument, "empty global id"};
    auto type = static_cast<uint8_t>(gid[0]);
    size_t n = gid.size() - 1;
    switch (type) {
        case kObjectIdType:
            if (n == 12) return Status::ok();
            break;
        case kStringType:
            return Status::ok();
        case kInt32Type:
            if (n == 4) return Status::ok();
            break;
        case kInt64Type:
            if (n == 8) return Status::ok();
            break;
        case kBinaryType:
            if (n >= 1 && (static_cast<uint8_t>(gid[1]) != 4 || n == 17)) return Status::ok();
            break;
        default:
            return {ErrorCode::kInvalidArgument,
                    "global id of unsupported type " + std::to_string(type)};
    }
    return {ErrorCode::kInvalidArgument,
            "global id of type " + std::to_string(type) + " has a bad length"};
}

std::string gid_to_string(const Gid& gid) {
    if (!validate_gid(gid)) return "InvalidGid";
    const auto* p = reinterpret_cast<const uint8_t*>(gid.data()) + 1;
    size_t n = gid.size() - 1;
    switch (static_cast<uint8_t>(gid[0])) {
        case kObjectIdType:
            return "ObjectId(\"" + hex(p, 12) + "\")";
        case kStringType:
            return "\"" + gid.substr(1) + "\"";
        case kInt32Type: {
            int32_t v;
            std::memcpy(&v, p, 4);
            return std::to_string(v);
        }
        case kInt64Type: {
            int64_t v;
            std::memcpy(&v, p, 8);
            return std::to_string(v);
        }
        default:
            if (p[0] == 4 && n == 17) return "UUID(\"" + uuid_text(p + 1) + "\")";
            return "Binary(" + std::to_string(p[0]) + ", \"" + base64_encode({p + 1, n - 1}) +
                   "\")";
    }
}

namespace detail {

namespace {
uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // FlatBuffers is little-endian, like every platform Outpost builds on
}
uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
}  // namespace

size_t record_gid_field(const EntityInfo& e, const uint8_t* bytes, size_t size) {
    // Checked against SIZE all the way: a record is read from disk.
    if (size < 8) return 0;
    uint32_t table = load_u32(bytes);
    if (table > size - 4) return 0;
    auto soffset = static_cast<int32_t>(load_u32(bytes + table));
    int64_t vtable = static_cast<int64_t>(table) - soffset;
    if (vtable < 0 || vtable > static_cast<int64_t>(size) - 4) return 0;
    const uint8_t* vt = bytes + vtable;
    uint16_t vt_size = load_u16(vt);
    if (e.id_field + 2u > vt_size || static_cast<size_t>(vtable) + vt_size > size) return 0;
    uint16_t off = load_u16(vt + e.id_field);
    if (off == 0 || table + off + size_t{4} > size) return 0;
    return table + off;
}

std::optional<std::string_view> record_gid(const EntityInfo& e, const uint8_t* bytes, size_t size) {
    if (!e.gid_in_record) return std::nullopt;
    return record_gid_at(e, bytes, size);
}

std::optional<std::string_view> record_gid_at(const EntityInfo& e, const uint8_t* bytes,
                                              size_t size) {
    size_t field = record_gid_field(e, bytes, size);
    if (field == 0) return std::nullopt;
    size_t vec = field + load_u32(bytes + field);
    if (vec < field || vec > size - 4) return std::nullopt;
    uint32_t n = load_u32(bytes + vec);
    if (n == 0 || n > 500 || n > size - vec - 4) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(bytes + vec + 4), n);
}

size_t record_size_with_gid(size_t size, size_t gid_size) {
    return ((size + 3) & ~size_t{3}) + 4 + gid_size;
}

void write_record_with_gid(uint8_t* dst, std::span<const uint8_t> bytes, size_t field,
                           std::string_view gid) {
    size_t vec = (bytes.size() + 3) & ~size_t{3};  // a vector's length is 4-aligned
    std::memcpy(dst, bytes.data(), bytes.size());
    std::memset(dst + bytes.size(), 0, vec - bytes.size());
    auto rel = static_cast<uint32_t>(vec - field);
    std::memcpy(dst + field, &rel, 4);
    auto n = static_cast<uint32_t>(gid.size());
    std::memcpy(dst + vec, &n, 4);
    std::memcpy(dst + vec + 4, gid.data(), gid.size());
}

Result<std::optional<Gid>> lookup_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id) {
    if (e.gid_to_local == 0) return std::optional<Gid>();
    MDB_val k = mdb_val(&id, 8), v;
    if (e.gid_in_record) {
        int rc = mdb_get(txn, e.objects, &k, &v);
        if (rc == 0) {
            if (auto g = record_gid(e, static_cast<const uint8_t*>(v.mv_data), v.mv_size)) {
                return std::optional<Gid>(Gid(*g));
            }
        } else if (rc != MDB_NOTFOUND) {
            return lmdb_status(rc, "reading global id");
        }
    }
    if (e.local_to_gid == 0) return std::optional<Gid>();
    int rc = mdb_get(txn, e.local_to_gid, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<Gid>();
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading global id"));
    return std::optional<Gid>(Gid(as_view(v)));
}

}  // namespace detail

Result<std::optional<Gid>> gid_of(Txn& txn, const DynamicBox& box, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return detail::lookup_gid(detail::Access::state(txn)->txn, *detail::Access::info(box), id);
}

Result<std::optional<uint64_t>> local_id_of(Txn& txn, const DynamicBox& box, const Gid& gid) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return detail::lookup_local(detail::Access::state(txn)->txn, *detail::Access::info(box), gid);
}

}  // namespace outpost
