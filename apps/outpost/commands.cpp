#include "commands.hpp"

#include <cstdio>
#include <filesystem>

#include "outpost/json.hpp"

namespace outpost::cli {

Result<std::shared_ptr<Store>> open_store(const Options& o) {
    if (!o.model.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(Model m, Model::load(o.model));
        return Store::open(o.db, m);
    }
    if (!std::filesystem::exists(std::filesystem::path(o.db) / "data.mdb")) {
        return Status(ErrorCode::kNotFound, "no store in " + o.db + "; pass --model FILE to create one");
    }
    return Store::open_existing(o.db);
}

Status put(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store->begin_write());
    Object obj = box.new_object();
    OUTPOST_RETURN_IF_ERROR(object_update_from_json(obj, o.json));
    if (obj.id != 0) {
        // An existing object is updated: the properties the JSON names change, the others stay.
        OUTPOST_ASSIGN_OR_RETURN(auto existing, box.get(txn, obj.id));
        if (existing) {
            obj = std::move(*existing);
            OUTPOST_RETURN_IF_ERROR(object_update_from_json(obj, o.json));
        }
    }
    OUTPOST_ASSIGN_OR_RETURN(uint64_t id, box.put(txn, obj));
    OUTPOST_RETURN_IF_ERROR(txn.commit());
    std::printf("%llu\n", static_cast<unsigned long long>(id));
    return Status::ok();
}

Status get(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    OUTPOST_ASSIGN_OR_RETURN(auto obj, box.get(o.id));
    if (!obj) {
        return Status(ErrorCode::kNotFound, o.entity + " " + std::to_string(o.id) + " does not exist");
    }
    std::printf("%s\n", object_to_json(*obj).c_str());
    return Status::ok();
}

Status remove(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    OUTPOST_ASSIGN_OR_RETURN(bool removed, box.remove(o.id));
    if (!removed) {
        return Status(ErrorCode::kNotFound, o.entity + " " + std::to_string(o.id) + " does not exist");
    }
    std::printf("removed %s %llu\n", o.entity.c_str(), static_cast<unsigned long long>(o.id));
    return Status::ok();
}

Status list(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto ids, box.ids(txn));
    uint64_t n = 0;
    for (uint64_t id : ids) {
        if (n++ >= o.limit) break;
        OUTPOST_ASSIGN_OR_RETURN(auto obj, box.get(txn, id));
        if (obj) std::printf("%s\n", object_to_json(*obj).c_str());
    }
    return Status::ok();
}

Status stats(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(StoreStats s, store->stats());
    std::printf("%-24s %12s %14s\n", "entity", "objects", "bytes");
    for (const auto& e : s.entities) {
        std::printf("%-24s %12llu %14llu\n", e.name.c_str(), static_cast<unsigned long long>(e.count),
                    static_cast<unsigned long long>(e.bytes));
    }
    std::printf("store file: %llu bytes, %llu used\n", static_cast<unsigned long long>(s.file_bytes),
                static_cast<unsigned long long>(s.used_bytes));
    return Status::ok();
}

Status model(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    std::printf("%s", store->model().to_json().c_str());
    return Status::ok();
}

}  // namespace outpost::cli
