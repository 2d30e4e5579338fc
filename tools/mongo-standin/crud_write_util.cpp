// Helpers of the write commands (crud_write.cpp, crud_find_and_modify.cpp): the change-stream
// updateDescription of an update, running an update or a pipeline update, parking on a blocked
// write.
#include <cstring>

#include "crud_util.hpp"
#include "pipeline.hpp"
#include "storage.hpp"
#include "update_ops.hpp"

namespace standin::detail {

namespace {

bool same_value(const Node& a, const Node& b) {
    if (a.type != b.type) return false;
    Doc x, y;
    a.append_to(x.get(), "");
    b.append_to(y.get(), "");
    return x.get()->len == y.get()->len &&
           std::memcmp(bson_get_data(x.get()), bson_get_data(y.get()), x.get()->len) == 0;
}

std::string join_path(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

void diff_value(const Node& before, const Node& after, const std::string& path, UpdateOutcome& out);

// The server's delta of a pipeline update (doc_diff): documents field by field (a field that
// moved relative to the others counts as updated), arrays element by element (a shorter array is
// truncated, a longer one gets its new elements), anything else replaced whole.
void diff_document(const Node& before, const Node& after, const std::string& prefix,
                   UpdateOutcome& out) {
    for (const auto& [k, v] : before.kids)
        if (!after.find(k)) out.removed_fields.push_back(join_path(prefix, k));
    size_t last_position = 0;
    for (const auto& [k, v] : after.kids) {
        if (prefix.empty() && k == "_id") continue;
        size_t position = 0;
        const Node* b = nullptr;
        for (size_t i = 0; i < before.kids.size(); ++i) {
            if (before.kids[i].first == k) {
                b = &before.kids[i].second;
                position = i;
                break;
            }
        }
        if (!b || position < last_position) {
            out.updated_fields.kids.emplace_back(join_path(prefix, k), v);
            continue;
        }
        last_position = position;
        diff_value(*b, v, join_path(prefix, k), out);
    }
}

void diff_value(const Node& before, const Node& after, const std::string& path,
                UpdateOutcome& out) {
    if (same_value(before, after)) return;
    if (before.type == BSON_TYPE_DOCUMENT && after.type == BSON_TYPE_DOCUMENT) {
        diff_document(before, after, path, out);
    } else if (before.type == BSON_TYPE_ARRAY && after.type == BSON_TYPE_ARRAY) {
        size_t common = std::min(before.kids.size(), after.kids.size());
        for (size_t i = 0; i < common; ++i)
            diff_value(before.kids[i].second, after.kids[i].second, path + "." + std::to_string(i),
                       out);
        if (after.kids.size() < before.kids.size())
            out.truncated_arrays.emplace_back(path, static_cast<int32_t>(after.kids.size()));
        for (size_t i = common; i < after.kids.size(); ++i)
            out.updated_fields.kids.emplace_back(path + "." + std::to_string(i),
                                                 after.kids[i].second);
    } else {
        out.updated_fields.kids.emplace_back(path, after);
    }
}

// Pipeline-style update: runs the stages on the document, then computes the server's delta.
Result<UpdateOutcome> apply_pipeline_update(const bson_t* original, const bson_t* stages,
                                            const Vars* vars) {
    std::vector<DocPtr> one{std::make_shared<const std::string>(
        reinterpret_cast<const char*>(bson_get_data(original)), original->len)};
    auto r = run_stages(std::move(one), stages, vars);
    if (!r.ok()) return r.error();
    if (r.value().size() != 1) return Error{2, "pipeline update must produce one document", {}};
    bson_t nv;
    view_of(*r.value()[0], &nv);
    UpdateOutcome out;
    Node before = Node::from_bson(original), after = Node::from_bson(&nv);
    bson_iter_t id;
    if (bson_iter_init_find(&id, original, "_id")) {
        Node oid = Node::from_iter(&id);
        const Node* nid = after.find("_id");
        if (!nid) {
            // A result without _id keeps the document's _id (first, as stored).
            after.kids.insert(after.kids.begin(), {"_id", oid});
        } else if (compare_nodes(*nid, oid) != 0) {
            return Error{
                66,
                "Performing an update on the path '_id' would modify the immutable field '_id'",
                {}};
        }
    }
    diff_document(before, after, "", out);
    out.doc = after.to_doc();
    out.modified =
        out.doc.get()->len != original->len ||
        std::memcmp(bson_get_data(out.doc.get()), bson_get_data(original), original->len) != 0;
    return out;
}

}  // namespace

Doc update_description(const UpdateOutcome& u) {
    Doc d;
    Doc upd = u.updated_fields.to_doc();
    BSON_APPEND_DOCUMENT(d.get(), "updatedFields", upd.get());
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(d.get(), "removedFields", &arr);
    for (size_t i = 0; i < u.removed_fields.size(); ++i)
        append_str(&arr, std::to_string(i), u.removed_fields[i]);
    bson_append_array_end(d.get(), &arr);
    bson_t tr;
    BSON_APPEND_ARRAY_BEGIN(d.get(), "truncatedArrays", &tr);
    for (size_t i = 0; i < u.truncated_arrays.size(); ++i) {
        bson_t t;
        std::string k = std::to_string(i);
        bson_append_document_begin(&tr, k.c_str(), -1, &t);
        append_str(&t, "field", u.truncated_arrays[i].first);
        BSON_APPEND_INT32(&t, "newSize", u.truncated_arrays[i].second);
        bson_append_document_end(&tr, &t);
    }
    bson_append_array_end(d.get(), &tr);
    return d;
}

Result<UpdateOutcome> run_update(Engine& e, const bson_t* original, const bson_t* u,
                                 bool u_is_pipeline, const bson_t* array_filters, const bson_t* q,
                                 bool upsert_insert, const Vars* vars) {
    if (u_is_pipeline) return apply_pipeline_update(original, u, vars);
    UpdateSpec spec;
    spec.update = u;
    spec.array_filters = array_filters;
    spec.query = q;
    spec.upsert_insert = upsert_insert;
    spec.now_ts = e.last_ts();
    spec.now_ms = e.now_ms();
    return apply_update(original, spec);
}

// A batch write blocked by another session's open transaction: the batch's first write waits (the
// command parks until that transaction ends and then runs again); a later one fails as a write
// conflict, so writes already made are never applied twice. Returns true when the command parks.
bool park_or_conflict(Error& err, int writes) {
    if (err.code != kBlockedByTransaction) return false;
    if (writes == 0) return true;
    err = Error{112, "WriteConflict error: this operation conflicted with another operation.", {}};
    return false;
}

Outcome parked() {
    Outcome o;
    o.park = true;
    return o;
}

Event make_event(const std::string& op, const Collection& c, const bson_t* doc_for_key) {
    Event ev;
    ev.op = op;
    ev.db = c.db;
    ev.coll = c.name;
    (void)doc_for_key;  // documentKey comes from the event's full document or pre-image
    return ev;
}

Result<UpdateOutcome> upsert_document(Engine& e, const bson_t* q, const bson_t* udoc,
                                      bool is_pipeline, const bson_t* array_filters,
                                      const Vars* vars) {
    Doc seed = upsert_seed(q);
    if (is_pipeline || is_operator_update(udoc))
        return run_update(e, seed.get(), udoc, is_pipeline, array_filters, q, true, vars);
    // Replacement upsert: the replacement, with the query's _id when it has none.
    UpdateOutcome out;
    Doc nd;
    bson_iter_t idit;
    if (!bson_iter_init_find(&idit, udoc, "_id") && bson_iter_init_find(&idit, seed.get(), "_id"))
        bson_append_iter(nd.get(), "_id", 3, &idit);
    bson_concat(nd.get(), udoc);
    out.doc = std::move(nd);
    return out;
}

Result<DocPtr> insert_upserted(Engine& e, CommandCtx& c, const std::string& name, const bson_t* doc,
                               UpsertFailure* failure) {
    *failure = UpsertFailure::kStatement;
    auto prepared = prepare_insert(doc);
    if (!prepared.ok()) return prepared.error();
    auto coll_r = Commands::collection_for_write(e, c, name);
    if (!coll_r.ok()) {
        *failure = UpsertFailure::kCommand;
        return coll_r.error();
    }
    Collection& coll = *coll_r.value();
    DocPtr nd = prepared.value();
    bson_t view;
    view_of(*nd, &view);
    std::string key = id_key_of(&view);
    if (lookup(coll, c.txn, key)) {
        Doc kp, kv = id_doc(&view);
        BSON_APPEND_INT32(kp.get(), "_id", 1);
        return duplicate_key_error(coll, "_id_", kp.get(), kv.get());
    }
    auto uniq = check_validator(coll, c, &view, nullptr);
    if (uniq.ok()) uniq = check_unique(coll, &view, key, c.txn);
    if (!uniq.ok()) return uniq.error();
    Event ev = make_event("insert", coll, &view);
    ev.full_document = nd;
    auto st = Commands::write(e, c, coll, key, nullptr, nd, std::move(ev));
    if (!st.ok()) {
        *failure = UpsertFailure::kWrite;
        return st.error();
    }
    return nd;
}

}  // namespace standin::detail
