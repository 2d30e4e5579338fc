// The on-disk format of a store, and the moves from older formats.
#include "store/migrations.hpp"

#include <cstring>
#include <string_view>
#include <vector>

#include "store/codec.hpp"
#include "store/object_verify.hpp"

namespace outpost::detail {

namespace {
constexpr const char* kFormatKey = "format";
constexpr const char* kFormat = "outpost-store 3";
constexpr std::string_view kFormatPrefix = "outpost-store ";
}  // namespace

Result<int> read_store_format(MDB_txn* txn, MDB_dbi meta, const std::string& dir) {
    MDB_val k = mdb_val(kFormatKey, std::strlen(kFormatKey)), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) return 1;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading store format"));
    std::string_view f = as_view(v);
    if (f == "outpost-store 1") return 1;
    if (f == "outpost-store 2") return 2;
    if (f == kFormat) return 3;
    return Status(ErrorCode::kCorrupt, "store " + dir + " has format \"" + std::string(f) +
                                           "\"; this version of " + "Outpost reads " +
                                           std::string(kFormatPrefix) + "1 to " +
                                           std::to_string(kStoreFormatVersion));
}

Status write_store_format(MDB_txn* txn, MDB_dbi meta) {
    MDB_val fk = mdb_val(kFormatKey, std::strlen(kFormatKey)),
            fv = mdb_val(kFormat, std::strlen(kFormat));
    return lmdb_status(mdb_put(txn, meta, &fk, &fv, 0), "storing format");
}

// Format 1 never used the id property's field, but DynamicBox::put_with could write it. Format 2
// keeps synced objects' GIDs there, so such a field is dropped before the store turns format 2.
Status migrate_to_format_2(MDB_txn* txn, const StoreImpl& s) {
    for (const auto& e : s.entities) {
        MDB_cursor* cur;
        OUTPOST_RETURN_IF_ERROR(
            lmdb_status(mdb_cursor_open(txn, e->objects, &cur), "moving to format 2"));
        std::vector<uint64_t> ids;
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (record_gid_field(*e, static_cast<const uint8_t*>(v.mv_data), v.mv_size) != 0) {
                ids.push_back(read_u64(k));
            }
        }
        mdb_cursor_close(cur);
        for (uint64_t id : ids) {
            k = mdb_val(&id, 8);
            OUTPOST_RETURN_IF_ERROR(
                lmdb_status(mdb_get(txn, e->objects, &k, &v), "moving to format 2"));
            OUTPOST_RETURN_IF_ERROR(
                verify_object(*e, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size));
            Object obj(*e->entity);
            read_object(Access::reader(e.get(), static_cast<const uint8_t*>(v.mv_data), v.mv_size),
                        obj);
            auto* ws = writer_begin(*e);  // gid_in_record is still off: no GID field
            ObjectWriter w = detail::Access::writer(ws);
            OUTPOST_RETURN_IF_ERROR(write_object(obj, w));
            OUTPOST_ASSIGN_OR_RETURN(auto bytes, writer_finish(ws));
            MDB_val nv = mdb_val(bytes.data(), bytes.size());
            OUTPOST_RETURN_IF_ERROR(
                lmdb_status(mdb_put(txn, e->objects, &k, &nv, 0), "moving to format 2"));
        }
    }
    return Status::ok();
}

}  // namespace outpost::detail
