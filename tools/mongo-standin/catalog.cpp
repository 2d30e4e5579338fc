// Catalog commands: listDatabases, listCollections, listIndexes, create, drop, dropDatabase,
// renameCollection, createIndexes, dropIndexes.
#include <cstring>

#include "commands.hpp"
#include "crud_util.hpp"
#include "persistence.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "storage.hpp"

namespace standin {

namespace {

std::string coll_arg(const CommandCtx& c) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, c.cmd, c.name.c_str()) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, nullptr);
    return std::string();
}

Outcome not_in_txn(const CommandCtx& c) {
    return reply_error(
        Error{263, "Cannot run '" + c.name + "' in a multi-document transaction.", {}});
}

void append_uuid(bson_t* b, const char* key, const std::array<uint8_t, 16>& u) {
    bson_append_binary(b, key, -1, BSON_SUBTYPE_UUID, u.data(), 16);
}

Doc collection_entry(const Collection& c, bool name_only) {
    Doc d;
    append_str(d.get(), "name", c.name);
    bool view = detail::is_view(c);
    BSON_APPEND_UTF8(d.get(), "type", view ? "view" : "collection");
    if (name_only) return d;
    if (view) {
        BSON_APPEND_DOCUMENT(d.get(), "options", c.options.get());
        bson_t info;
        BSON_APPEND_DOCUMENT_BEGIN(d.get(), "info", &info);
        BSON_APPEND_BOOL(&info, "readOnly", true);
        bson_append_document_end(d.get(), &info);
        return d;
    }
    BSON_APPEND_DOCUMENT(d.get(), "options", c.options.get());
    bson_t info;
    BSON_APPEND_DOCUMENT_BEGIN(d.get(), "info", &info);
    BSON_APPEND_BOOL(&info, "readOnly", false);
    append_uuid(&info, "uuid", c.uuid);
    bson_append_document_end(d.get(), &info);
    BSON_APPEND_DOCUMENT(d.get(), "idIndex", c.indexes[0].spec.get());
    return d;
}

size_t live_count(const Collection& c) {
    size_t n = 0;
    for (const auto& [o, r] : c.records)
        if (visible(r, kLatest)) ++n;
    return n;
}

// Removes a collection and emits its drop event.
void drop_now(Engine& e, const std::string& db, const std::string& name, Persistence* p) {
    auto d = e.dbs_.find(db);
    if (d == e.dbs_.end()) return;
    d->second.erase(name);
    if (d->second.empty()) e.dbs_.erase(d);
    if (p) p->log_drop(db, name);
    Event ev;
    ev.op = "drop";
    ev.db = db;
    ev.coll = name;
    Commands::append_event(e, std::move(ev));
}

// The options create and collMod share: a view (viewOn, pipeline) and a validator
// (validator, validationLevel, validationAction). MODIFY: collMod (each may come alone).
Status check_collection_options(const bson_t* cmd, bool modify) {
    bson_iter_t it;
    bool has_view = bson_iter_init_find(&it, cmd, "viewOn");
    if (has_view && (!BSON_ITER_HOLDS_UTF8(&it) || bson_iter_utf8(&it, nullptr)[0] == '\0'))
        return Error{2, "'viewOn' must be a non-empty string", {}};
    if (bson_iter_init_find(&it, cmd, "pipeline")) {
        if (!has_view && !modify)
            return Error{2, "'pipeline' requires 'viewOn' to also be specified", {}};
        if (!BSON_ITER_HOLDS_ARRAY(&it)) return Error{14, "'pipeline' must be an array", {}};
        bson_t stages;
        iter_view(&it, &stages);
        auto st = validate_stages(&stages, false);
        if (!st.ok()) return st;
    }
    if (has_view && (bson_has_field(cmd, "validator") || bson_has_field(cmd, "idIndex")))
        return Error{2, "a view cannot have a validator or an idIndex", {}};
    if (bson_iter_init_find(&it, cmd, "validator")) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return Error{14, "'validator' must be an object", {}};
        bson_t v;
        iter_view(&it, &v);
        auto st = validate_filter(&v);
        if (!st.ok()) return st;
    }
    if (bson_iter_init_find(&it, cmd, "validationLevel")) {
        std::string level = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, nullptr) : "";
        if (level != "off" && level != "strict" && level != "moderate")
            return Error{2,
                         "Enumeration value '" + level +
                             "' for field 'validationLevel' is not a valid value.",
                         {}};
    }
    if (bson_iter_init_find(&it, cmd, "validationAction")) {
        std::string action = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, nullptr) : "";
        if (action != "error" && action != "warn")
            return Error{2,
                         "Enumeration value '" + action +
                             "' for field 'validationAction' is not a valid value.",
                         {}};
    }
    return ok_status();
}

}  // namespace

Outcome Commands::coll_mod(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    std::string name = coll_arg(c);
    Collection* coll = e.find_collection(c.db, name);
    if (!coll) return reply_error(Error{26, "ns does not exist: " + ns_of(c.db, name), {}});
    if (auto st = check_collection_options(c.cmd, true); !st.ok()) return reply_error(st.error());
    bool view = detail::is_view(*coll);
    bool view_fields = bson_has_field(c.cmd, "viewOn") || bson_has_field(c.cmd, "pipeline");
    if (view_fields && !view)
        return reply_error(
            Error{2, "ns " + ns_of(c.db, name) + " is a collection, not a view", {}});
    if (view && (bson_has_field(c.cmd, "validator") || bson_has_field(c.cmd, "validationLevel") ||
                 bson_has_field(c.cmd, "validationAction")))
        return reply_error(Error{167, "option not supported on a view: validator", {}});
    // The new options: the old ones with the given fields replaced.
    const char* fields[] = {"viewOn",          "pipeline",         "validator",
                            "validationLevel", "validationAction", "changeStreamPreAndPostImages"};
    Doc options;
    bson_iter_t it;
    if (bson_iter_init(&it, coll->options.get())) {
        while (bson_iter_next(&it)) {
            bool replaced = false;
            for (const char* f : fields)
                replaced =
                    replaced || (!std::strcmp(bson_iter_key(&it), f) && bson_has_field(c.cmd, f));
            if (!replaced) bson_append_iter(options.get(), bson_iter_key(&it), -1, &it);
        }
    }
    for (const char* f : fields)
        if (bson_iter_init_find(&it, c.cmd, f)) bson_append_iter(options.get(), f, -1, &it);
    coll->options = std::move(options);
    if (e.persistence_) e.persistence_->log_options(*coll);
    (void)e.next_ts();
    return reply_ok(Doc());
}

Outcome Commands::list_databases(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    bool name_only = get_bool(c.cmd, "nameOnly").value_or(false);
    Doc arr;
    size_t i = 0;
    int64_t total = 0;
    for (const auto& [name, colls] : e.dbs_) {
        if (colls.empty()) continue;
        int64_t size = 0;
        for (const auto& [cn, coll] : colls)
            for (const auto& [o, r] : coll->records)
                if (DocPtr d = visible(r, kLatest)) size += static_cast<int64_t>(d->size());
        total += size;
        bson_t entry;
        std::string k = std::to_string(i++);
        bson_append_document_begin(arr.get(), k.c_str(), -1, &entry);
        append_str(&entry, "name", name);
        if (!name_only) {
            BSON_APPEND_INT64(&entry, "sizeOnDisk", size);
            BSON_APPEND_BOOL(&entry, "empty", size == 0);
        }
        bson_append_document_end(arr.get(), &entry);
    }
    Doc reply;
    BSON_APPEND_ARRAY(reply.get(), "databases", arr.get());
    if (!name_only) BSON_APPEND_INT64(reply.get(), "totalSize", total);
    return reply_ok(std::move(reply));
}

Outcome Commands::list_collections(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    bool name_only = get_bool(c.cmd, "nameOnly").value_or(false);
    Doc filter;
    bson_iter_t it;
    if (bson_iter_init_find(&it, c.cmd, "filter") && BSON_ITER_HOLDS_DOCUMENT(&it))
        filter = iter_subdoc(&it);
    std::vector<DocPtr> docs;
    auto d = e.dbs_.find(c.db);
    if (d != e.dbs_.end()) {
        for (const auto& [name, coll] : d->second) {
            Doc full = collection_entry(*coll, false);
            auto m = matches(full.get(), filter.get());
            if (!m.ok()) return reply_error(m.error());
            if (!m.value()) continue;
            docs.push_back(
                std::make_shared<const std::string>(collection_entry(*coll, name_only).bytes()));
        }
    }
    return reply_ok(cursor_reply(c.db + ".$cmd.listCollections", 0, "firstBatch", docs, nullptr));
}

Outcome Commands::list_indexes(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    Collection* coll = e.find_collection(c.db, name, c.txn);
    if (!coll) return reply_error(Error{26, "ns does not exist: " + c.db + "." + name, {}});
    std::vector<DocPtr> docs;
    for (const auto& idx : coll->indexes)
        docs.push_back(std::make_shared<const std::string>(idx.spec.bytes()));
    return reply_ok(cursor_reply(ns_of(c.db, name), 0, "firstBatch", docs, nullptr));
}

Outcome Commands::create(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (auto st = check_collection_options(c.cmd, false); !st.ok()) return reply_error(st.error());
    if (c.in_txn && bson_has_field(c.cmd, "viewOn"))
        return reply_error(Error{263, "Cannot create a view in a multi-document transaction.", {}});
    if (c.in_txn && c.txn) {
        // Created by the transaction: nobody else sees it before the commit.
        if (e.find_collection(c.db, name, c.txn))
            return reply_error(
                Error{48, "Collection " + ns_of(c.db, name) + " already exists.", {}});
        auto made = Engine::new_collection(c.db, name, c.cmd);
        if (!made.ok()) return reply_error(made.error());
        c.txn->new_collections[ns_of(c.db, name)] = std::move(made.value());
        return reply_ok(Doc());
    }
    auto r = e.create_collection(c.db, name, c.cmd, true);
    if (!r.ok()) return reply_error(r.error());
    (void)e.next_ts();
    return reply_ok(Doc());
}

Outcome Commands::drop(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    std::string name = coll_arg(c);
    if (!e.find_collection(c.db, name)) return reply_error(Error{26, "ns not found", {}});
    drop_now(e, c.db, name, e.persistence_.get());
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "nIndexesWas", 1);
    append_str(reply.get(), "ns", ns_of(c.db, name));
    return reply_ok(std::move(reply));
}

Outcome Commands::drop_database(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    auto d = e.dbs_.find(c.db);
    if (d != e.dbs_.end()) {
        std::vector<std::string> names;
        for (const auto& [n, coll] : d->second) names.push_back(n);
        for (const auto& n : names) drop_now(e, c.db, n, e.persistence_.get());
        Event ev;
        ev.op = "dropDatabase";
        ev.db = c.db;
        append_event(e, std::move(ev));
    }
    Doc reply;
    append_str(reply.get(), "dropped", c.db);
    return reply_ok(std::move(reply));
}

Outcome Commands::rename_collection(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    if (c.db != "admin")
        return reply_error(
            Error{13, "renameCollection may only be run against the admin database.", {}});
    auto from = get_string(c.cmd, "renameCollection");
    auto to = get_string(c.cmd, "to");
    if (!from || !to)
        return reply_error(Error{2, "renameCollection needs 'renameCollection' and 'to'", {}});
    auto split = [](const std::string& ns) {
        auto p = ns.find('.');
        return p == std::string::npos ? std::make_pair(ns, std::string())
                                      : std::make_pair(ns.substr(0, p), ns.substr(p + 1));
    };
    auto [fdb, fcoll] = split(*from);
    auto [tdb, tcoll] = split(*to);
    if (fcoll.empty() || tcoll.empty()) return reply_error(Error{73, "Invalid namespace", {}});
    Collection* src = e.find_collection(fdb, fcoll);
    if (!src) return reply_error(Error{26, "Source collection " + *from + " does not exist", {}});
    if (*from == *to) return reply_error(Error{20, "Can't rename a collection to itself", {}});
    if (e.find_collection(tdb, tcoll)) {
        if (!get_bool(c.cmd, "dropTarget").value_or(false))
            return reply_error(Error{48, "target namespace exists", {}});
        drop_now(e, tdb, tcoll, e.persistence_.get());
    }
    auto node = std::move(e.dbs_[fdb][fcoll]);
    e.dbs_[fdb].erase(fcoll);
    if (e.dbs_[fdb].empty()) e.dbs_.erase(fdb);
    node->db = tdb;
    node->name = tcoll;
    e.dbs_[tdb][tcoll] = std::move(node);
    if (e.persistence_) e.persistence_->log_rename(fdb, fcoll, tdb, tcoll);
    Event ev;
    ev.op = "rename";
    ev.db = fdb;
    ev.coll = fcoll;
    ev.to_db = tdb;
    ev.to_coll = tcoll;
    append_event(e, std::move(ev));
    return reply_ok(Doc());
}

namespace {

// One entry of createIndexes' "indexes", read from its specification document.
struct IndexRequest {
    Doc spec;
    Doc key;
    std::string name;
    bool unique = false;
};

Result<IndexRequest> read_index_request(const bson_iter_t* spec_it) {
    if (!BSON_ITER_HOLDS_DOCUMENT(spec_it))
        return Error{14, "index specification must be an object", {}};
    IndexRequest req;
    req.spec = iter_subdoc(spec_it);
    bson_iter_t k;
    if (!bson_iter_init_find(&k, req.spec.get(), "key") || !BSON_ITER_HOLDS_DOCUMENT(&k))
        return Error{9, "The 'key' field is a required property of an index specification", {}};
    req.key = iter_subdoc(&k);
    if (bson_empty(req.key.get())) return Error{67, "Index keys cannot be empty.", {}};
    auto iname = get_string(req.spec.get(), "name");
    if (!iname)
        return Error{9, "The 'name' field is a required property of an index specification", {}};
    req.name = *iname;
    req.unique = get_bool(req.spec.get(), "unique").value_or(false);
    return req;
}

// True when COLL already has the requested index (same name, key and options); an error when
// an existing index clashes with it by name or by key.
Result<bool> index_exists(const Collection& coll, const IndexRequest& req) {
    bool exists = false;
    for (const auto& idx : coll.indexes) {
        bool same_key = compare_docs(idx.key.get(), req.key.get()) == 0 &&
                        idx.key.get()->len == req.key.get()->len;
        if (idx.name == req.name) {
            if (!same_key)
                return Error{86,
                             "An existing index has the same name as the requested index. "
                             "Requested index: " +
                                 req.spec.json() + ", existing index: " + idx.spec.json(),
                             {}};
            if (idx.unique != req.unique && idx.name != "_id_")
                return Error{85,
                             "An existing index has the same name as the requested index but "
                             "different options.",
                             {}};
            exists = true;
        } else if (same_key) {
            if (idx.unique == req.unique || idx.name == "_id_")
                return Error{85, "Index already exists with a different name: " + idx.name, {}};
            return Error{
                85, "An equivalent index already exists with a different name and options.", {}};
        }
    }
    return exists;
}

// The index as listIndexes shows it: v, key, name, then the request's other options.
IndexSpec make_index(IndexRequest req) {
    IndexSpec idx;
    idx.name = req.name;
    idx.key = std::move(req.key);
    idx.unique = req.unique;
    BSON_APPEND_INT32(idx.spec.get(), "v", 2);
    BSON_APPEND_DOCUMENT(idx.spec.get(), "key", idx.key.get());
    append_str(idx.spec.get(), "name", idx.name);
    bson_iter_t f;
    bson_iter_init(&f, req.spec.get());
    while (bson_iter_next(&f)) {
        const char* fk = bson_iter_key(&f);
        if (!std::strcmp(fk, "key") || !std::strcmp(fk, "name") || !std::strcmp(fk, "v") ||
            !std::strcmp(fk, "ns"))
            continue;
        bson_append_iter(idx.spec.get(), fk, -1, &f);
    }
    return idx;
}

// Adds IDX to COLL; a unique index that the existing documents violate is taken back out.
Status add_index(Collection& coll, IndexSpec idx) {
    bool unique = idx.unique;
    coll.indexes.push_back(std::move(idx));
    if (!unique) return ok_status();
    auto st = rebuild_unique(coll);
    if (!st.ok()) {
        coll.indexes.pop_back();
        (void)rebuild_unique(coll);
    }
    return st;
}

}  // namespace

Outcome Commands::create_indexes(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "indexes") || !BSON_ITER_HOLDS_ARRAY(&it))
        return reply_error(
            Error{9, "BSON field 'createIndexes.indexes' is missing but a required field", {}});
    Collection* coll = e.find_collection(c.db, name, c.txn);
    if (coll && detail::is_view(*coll)) return reply_error(detail::view_error(*coll));
    bool created_by_txn = c.in_txn && c.txn && c.txn->new_collections.count(ns_of(c.db, name));
    if (c.in_txn && coll && !created_by_txn && live_count(*coll) > 0)
        return reply_error(Error{263,
                                 "Cannot create new indexes on existing collection " +
                                     ns_of(c.db, name) + " in a multi-document transaction.",
                                 {}});
    bool created = false;
    if (!coll) {
        auto r = collection_for_write(e, c, name);
        if (!r.ok()) return reply_error(r.error());
        coll = r.value();
        created = true;
        created_by_txn = c.in_txn;
    }
    int32_t before = static_cast<int32_t>(coll->indexes.size());
    bson_iter_t spec_it;
    bson_iter_recurse(&it, &spec_it);
    while (bson_iter_next(&spec_it)) {
        auto req = read_index_request(&spec_it);
        if (!req.ok()) return reply_error(req.error());
        auto exists = index_exists(*coll, req.value());
        if (!exists.ok()) return reply_error(exists.error());
        if (exists.value()) continue;
        auto st = add_index(*coll, make_index(std::move(req.value())));
        if (!st.ok()) return reply_error(st.error());
        if (e.persistence_ && !created_by_txn)
            e.persistence_->log_index(c.db, name, coll->indexes.back());
    }
    (void)e.next_ts();
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "numIndexesBefore", before);
    BSON_APPEND_INT32(reply.get(), "numIndexesAfter", static_cast<int32_t>(coll->indexes.size()));
    BSON_APPEND_BOOL(reply.get(), "createdCollectionAutomatically", created);
    return reply_ok(std::move(reply));
}

Outcome Commands::drop_indexes(Engine& e, CommandCtx& c) {
    if (c.in_txn) return not_in_txn(c);
    std::string name = coll_arg(c);
    Collection* coll = e.find_collection(c.db, name);
    if (!coll) return reply_error(Error{26, "ns not found " + ns_of(c.db, name), {}});
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "index"))
        return reply_error(Error{9, "missing 'index'", {}});
    std::vector<std::string> names;
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        std::string n = bson_iter_utf8(&it, nullptr);
        if (n == "*") {
            for (size_t i = 1; i < coll->indexes.size(); ++i)
                names.push_back(coll->indexes[i].name);
        } else {
            names.push_back(n);
        }
    } else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
        Doc key = iter_subdoc(&it);
        for (const auto& idx : coll->indexes)
            if (compare_docs(idx.key.get(), key.get()) == 0) names.push_back(idx.name);
        if (names.empty())
            return reply_error(Error{27, "can't find index with key: " + key.json(), {}});
    } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t a;
        bson_iter_recurse(&it, &a);
        while (bson_iter_next(&a))
            if (BSON_ITER_HOLDS_UTF8(&a)) names.emplace_back(bson_iter_utf8(&a, nullptr));
    }
    int32_t was = static_cast<int32_t>(coll->indexes.size());
    for (const auto& n : names) {
        if (n == "_id_") return reply_error(Error{72, "cannot drop _id index", {}});
        auto pos = std::find_if(coll->indexes.begin(), coll->indexes.end(),
                                [&](const IndexSpec& s) { return s.name == n; });
        if (pos == coll->indexes.end())
            return reply_error(Error{27, "index not found with name [" + n + "]", {}});
        coll->indexes.erase(pos);
        if (e.persistence_) e.persistence_->log_drop_index(c.db, name, n);
    }
    (void)rebuild_unique(*coll);
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "nIndexesWas", was);
    return reply_ok(std::move(reply));
}

}  // namespace standin
