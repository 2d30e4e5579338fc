// The change log's records: the record a write transaction appends at commit, and reading and
// trimming the log (ChangeLog); the app's meta values (put_meta, get_meta, remove_meta).
#include <cstring>

#include "store/change_set_codec.hpp"
#include "store/changelog_internal.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace detail {

namespace {

constexpr const char* kLastKey = "changelog:last";

Result<uint64_t> read_last(MDB_txn* txn, MDB_dbi meta) {
    MDB_val k = mdb_val(kLastKey, std::strlen(kLastKey)), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) return uint64_t{0};
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading change log position"));
    return read_u64(v);
}

// Writes the origin of record POS (key K) and its stored runs, and moves changelog:last to it.
Status finish_record(TxnState& s, MDB_val& k, uint64_t& pos) {
    OUTPOST_RETURN_IF_ERROR(write_stored_runs(s, pos));
    if (!s.origin.empty()) {
        MDB_val ov = mdb_val(s.origin.data(), s.origin.size());
        OUTPOST_RETURN_IF_ERROR(
            lmdb_status(mdb_put(s.txn, s.store->changelog_origin, &k, &ov, MDB_APPEND),
                        "appending to the change log"));
    }
    MDB_val lk = mdb_val(kLastKey, std::strlen(kLastKey)), lv = mdb_val(&pos, 8);
    return lmdb_status(mdb_put(s.txn, s.store->meta, &lk, &lv, 0), "appending to the change log");
}
}  // namespace

Status flush_log(TxnState& s) {
    PendingLog& log = s.log;
    if (log.empty()) return Status::ok();
    // Entries that were edited, encoded again (rare: most entries are the bytes written at first
    // touch). Encoded first: they may add uids to the table that the header lists.
    std::vector<std::string> edited_bytes(log.edited.size());
    size_t total = 0;
    for (const auto& sl : log.slots) {
        if (sl.edited == PendingLog::kDropped) continue;
        if (sl.edited == PendingLog::kEncoded) {
            total += sl.size;
            continue;
        }
        std::string& b = edited_bytes[static_cast<size_t>(sl.edited)];
        ChangeSetWriter(b).object(log.edited[static_cast<size_t>(sl.edited)], &log.uids);
        total += b.size();
    }
    // The stored entries go last: they hold what the transaction leaves, so a unique value another
    // entry frees (a remove, an update) is free before they take it when the record is applied in
    // order.
    std::string stored;
    size_t stored_entries = encode_stored_runs(s, stored);
    total += stored.size();
    std::string header;
    ChangeSetWriter hw(header);
    hw.u8(kChangeSetMagic);
    hw.u8(kChangeSetVersionUidTable);
    hw.varint(log.uids.uids().size());
    for (uint64_t uid : log.uids.uids()) hw.varint(uid);
    hw.varint(log.live + stored_entries);
    total += header.size();
    OUTPOST_ASSIGN_OR_RETURN(uint64_t last, read_last(s.txn, s.store->meta));
    uint64_t pos = last + 1;
    MDB_val k = mdb_val(&pos, 8), v = mdb_val(nullptr, total);
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_put(s.txn, s.store->changelog, &k, &v, MDB_APPEND | MDB_RESERVE),
                    "appending to the change log"));
    // Copy the entries into the reserved value, runs of adjacent encoded entries at once.
    auto* dst = static_cast<char*>(v.mv_data);
    std::memcpy(dst, header.data(), header.size());
    if (!stored.empty()) std::memcpy(dst + total - stored.size(), stored.data(), stored.size());
    size_t at = header.size();
    if (log.edited.empty() && log.live == log.slots.size()) {
        // Nothing edited or dropped: the chunks hold every entry, in order, and nothing else.
        for (const auto& c : log.chunks) {
            std::memcpy(dst + at, c.data(), c.size());
            at += c.size();
        }
        return finish_record(s, k, pos);
    }
    const char* run = nullptr;
    size_t run_size = 0;
    auto flush_run = [&] {
        if (run_size) std::memcpy(dst + at, run, run_size);
        at += run_size;
        run = nullptr;
        run_size = 0;
    };
    for (const auto& sl : log.slots) {
        if (sl.edited == PendingLog::kDropped) continue;
        if (sl.edited == PendingLog::kEncoded) {
            const char* p = log.chunks[sl.chunk].data() + sl.offset;
            if (run && run + run_size == p) {
                run_size += sl.size;
            } else {
                flush_run();
                run = p;
                run_size = sl.size;
            }
            continue;
        }
        flush_run();
        const std::string& b = edited_bytes[static_cast<size_t>(sl.edited)];
        std::memcpy(dst + at, b.data(), b.size());
        at += b.size();
    }
    flush_run();
    return finish_record(s, k, pos);
}

}  // namespace detail

using detail::lmdb_status;
using detail::mdb_val;

Result<std::vector<ChangeLogRecord>> ChangeLog::read(Txn& txn, uint64_t after, size_t max,
                                                     std::string_view skip_origin) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = detail::Access::state(txn);
    std::vector<ChangeLogRecord> out;
    if (s->store->changelog == 0 || max == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(s->txn, s->store->changelog, &cur), "change log"));
    uint64_t start = after + 1;
    MDB_val k = mdb_val(&start, 8), v;
    detail::StoredObjectReader stored = [&](uint64_t entity_uid, uint64_t first, uint64_t count,
                                            std::vector<ObjectChange>& objects) {
        return detail::read_stored_objects(s->txn, *s->store, entity_uid, first, count, objects);
    };
    Status st;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out.size() < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ChangeLogRecord rec;
        rec.position = detail::read_u64(k);
        rec.bytes = v.mv_size;
        if (s->store->changelog_origin != 0) {
            MDB_val ok = mdb_val(&rec.position, 8), ov;
            if (mdb_get(s->txn, s->store->changelog_origin, &ok, &ov) == 0)
                rec.origin = std::string(detail::as_view(ov));
        }
        if (skip_origin.empty() || rec.origin != skip_origin) {
            auto cs =
                detail::decode_record({static_cast<const uint8_t*>(v.mv_data), v.mv_size}, stored);
            if (!cs) {
                st = Status(ErrorCode::kCorrupt, "change log record " +
                                                     std::to_string(rec.position) + ": " +
                                                     cs.status().message());
                break;
            }
            rec.changes = std::move(cs).value();
        }
        out.push_back(std::move(rec));
    }
    mdb_cursor_close(cur);
    if (!st) return st;
    return out;
}

Result<uint64_t> ChangeLog::last_position(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return detail::read_last(detail::Access::state(txn)->txn,
                             detail::Access::state(txn)->store->meta);
}

Result<uint64_t> ChangeLog::size(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = detail::Access::state(txn);
    if (s->store->changelog == 0) return uint64_t{0};
    MDB_stat st;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_stat(s->txn, s->store->changelog, &st), "change log"));
    return static_cast<uint64_t>(st.ms_entries);
}

Status ChangeLog::acknowledge(WriteTxn& txn, uint64_t position) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = detail::Access::state(txn);
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(s->txn, s->store->changelog, &cur), "change log"));
    MDB_val k, v;
    Status st;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t pos = detail::read_u64(k);
        if (pos > position) break;
        int drc = mdb_cursor_del(cur, 0);
        if (drc == 0) {
            MDB_val ok = mdb_val(&pos, 8);
            drc = mdb_del(s->txn, s->store->changelog_origin, &ok, nullptr);
            if (drc == MDB_NOTFOUND) drc = 0;
        }
        if (drc != 0) {
            st = lmdb_status(drc, "trimming the change log");
            break;
        }
    }
    mdb_cursor_close(cur);
    if (!st) return st;
    return detail::trim_stored(*s, position);
}

}  // namespace outpost

namespace outpost {
namespace {
std::string meta_key(std::string_view key) { return "u:" + std::string(key); }
}  // namespace

Status put_meta(WriteTxn& txn, std::string_view key, std::string_view value) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "put_meta needs a write transaction"};
    if (key.empty() || key.size() > 400)
        return {ErrorCode::kInvalidArgument, "meta keys are 1 to 400 bytes"};
    auto* s = detail::Access::state(txn);
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size()), mv = mdb_val(value.data(), value.size());
    return lmdb_status(mdb_put(s->txn, s->store->meta, &mk, &mv, 0),
                       "writing meta " + std::string(key));
}

Result<std::optional<std::string>> get_meta(Txn& txn, std::string_view key) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (key.empty() || key.size() > 400)
        return Status(ErrorCode::kInvalidArgument, "meta keys are 1 to 400 bytes");
    auto* s = detail::Access::state(txn);
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size()), mv;
    int rc = mdb_get(s->txn, s->store->meta, &mk, &mv);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading meta " + std::string(key)));
    return std::optional<std::string>(std::string(detail::as_view(mv)));
}

Status remove_meta(WriteTxn& txn, std::string_view key) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "remove_meta needs a write transaction"};
    auto* s = detail::Access::state(txn);
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size());
    int rc = mdb_del(s->txn, s->store->meta, &mk, nullptr);
    if (rc == MDB_NOTFOUND) return Status::ok();
    return lmdb_status(rc, "removing meta " + std::string(key));
}

}  // namespace outpost
