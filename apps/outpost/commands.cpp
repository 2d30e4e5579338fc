#include "commands.hpp"

#include <cstdio>
#include <filesystem>

#include "outpost/check.hpp"
#include "outpost/json.hpp"
#include "outpost/query.hpp"

namespace outpost::cli {

Result<std::shared_ptr<Store>> open_store(const Options& o) {
    // The tool reads stores it did not write: a damaged object is an error, not a crash.
    StoreOptions options;
    options.verify_objects = true;
    if (!o.model.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(Model m, Model::load(o.model));
        return Store::open(o.db, m, options);
    }
    if (!std::filesystem::exists(std::filesystem::path(o.db) / "data.mdb")) {
        return Status(ErrorCode::kNotFound,
                      "no store in " + o.db + "; pass --model FILE to create one");
    }
    return Store::open_existing(o.db, options);
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
        return Status(ErrorCode::kNotFound,
                      o.entity + " " + std::to_string(o.id) + " does not exist");
    }
    std::printf("%s\n", object_to_json(*obj).c_str());
    return Status::ok();
}

Status remove(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    OUTPOST_ASSIGN_OR_RETURN(bool removed, box.remove(o.id));
    if (!removed) {
        return Status(ErrorCode::kNotFound,
                      o.entity + " " + std::to_string(o.id) + " does not exist");
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
        std::printf("%-24s %12llu %14llu\n", e.name.c_str(),
                    static_cast<unsigned long long>(e.count),
                    static_cast<unsigned long long>(e.bytes));
    }
    std::printf("store file: %llu bytes, %llu used\n",
                static_cast<unsigned long long>(s.file_bytes),
                static_cast<unsigned long long>(s.used_bytes));
    return Status::ok();
}

Status model(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    std::printf("%s", store->model().to_json().c_str());
    return Status::ok();
}

Status query(const Options& o) {
    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o));
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(o.entity));
    QueryBuilder b(box);
    if (!o.where.empty()) b.where(o.where);
    for (const std::string& spec : o.order) {
        // PROP[,desc][,asc][,ci][,nullsfirst]
        std::string prop;
        uint32_t flags = 0;
        size_t start = 0;
        for (bool first = true; start <= spec.size(); first = false) {
            size_t comma = spec.find(',', start);
            std::string part =
                spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
            if (first) {
                prop = part;
            } else if (part == "desc") {
                flags |= kOrderDescending;
            } else if (part == "ci") {
                flags |= kOrderCaseInsensitive;
            } else if (part == "nullsfirst") {
                flags |= kOrderNullsFirst;
            } else if (part != "asc") {
                return Status(ErrorCode::kInvalidArgument, "--order " + spec + ": unknown flag \"" +
                                                               part +
                                                               "\" (desc, asc, ci, nullsfirst)");
            }
        }
        b.order(prop, flags);
    }
    b.offset(o.offset).limit(o.limit);
    OUTPOST_ASSIGN_OR_RETURN(Query q, b.build());
    if (o.explain) {
        std::printf("%s\n", q.explain().c_str());
        return Status::ok();
    }
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store->begin_read());
    if (o.count) {
        OUTPOST_ASSIGN_OR_RETURN(uint64_t n, q.count(txn));
        std::printf("%llu\n", static_cast<unsigned long long>(n));
        return Status::ok();
    }
    OUTPOST_ASSIGN_OR_RETURN(auto ids, q.find_ids(txn));
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(auto obj, box.get(txn, id));
        if (obj) std::printf("%s\n", object_to_json(*obj).c_str());
    }
    return Status::ok();
}

namespace {
// 1234567 -> "1,234,567"
std::string with_commas(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}
}  // namespace

Result<int> check(const Options& o) {
    if (!std::filesystem::exists(std::filesystem::path(o.db) / "data.mdb")) {
        return Status(ErrorCode::kNotFound, "no store in " + o.db);
    }
    StoreOptions options;
    options.read_only = true;
    auto store = Store::open_existing(o.db, options);
    if (!store) {
        if (store.status().code() != ErrorCode::kCorrupt) return store.status();
        std::printf("check: the store does not open: %s\n", store.status().to_string().c_str());
        std::fflush(stdout);
        return kCheckDamaged;
    }
    CheckOptions co;
    co.on_damage = [](const StoreDamage& d) {
        std::printf("%s\n", describe_damage(d).c_str());
        std::fflush(stdout);
    };
    co.on_progress = [](const CheckProgress& p) {
        std::fprintf(stderr, "check: %s: %s of %s\n", p.step.c_str(), with_commas(p.done).c_str(),
                     with_commas(p.total).c_str());
    };
    OUTPOST_ASSIGN_OR_RETURN(CheckReport r, check_store(**store, co));
    std::printf(
        "check: %s objects in %s entities, %s damaged; %s change-log records, %s damaged; "
        "%s index problems; %s global id problems\n",
        with_commas(r.objects).c_str(), with_commas(r.entities).c_str(),
        with_commas(r.damaged_objects).c_str(), with_commas(r.changelog_records).c_str(),
        with_commas(r.damaged_records).c_str(), with_commas(r.index_problems).c_str(),
        with_commas(r.global_id_problems).c_str());
    return r.clean() ? kCheckClean : kCheckDamaged;
}

}  // namespace outpost::cli
