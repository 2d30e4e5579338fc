// Write commands: insert, update, delete, findAndModify.
#include <algorithm>
#include <cstring>

#include "command_fields.hpp"
#include "commands.hpp"
#include "crud_util.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "storage.hpp"
#include "update_ops.hpp"

namespace standin {

using namespace detail;  // NOLINT: this file is the helpers' main user

namespace {

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

void diff_value(const Node& before, const Node& after, const std::string& path, UpdateOutcome& out) {
    if (same_value(before, after)) return;
    if (before.type == BSON_TYPE_DOCUMENT && after.type == BSON_TYPE_DOCUMENT) {
        diff_document(before, after, path, out);
    } else if (before.type == BSON_TYPE_ARRAY && after.type == BSON_TYPE_ARRAY) {
        size_t common = std::min(before.kids.size(), after.kids.size());
        for (size_t i = 0; i < common; ++i)
            diff_value(before.kids[i].second, after.kids[i].second,
                       path + "." + std::to_string(i), out);
        if (after.kids.size() < before.kids.size())
            out.truncated_arrays.emplace_back(path, static_cast<int32_t>(after.kids.size()));
        for (size_t i = common; i < after.kids.size(); ++i)
            out.updated_fields.kids.emplace_back(path + "." + std::to_string(i), after.kids[i].second);
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

}  // namespace

Outcome Commands::insert(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (Collection* v = e.find_collection(c.db, name, c.txn); v && is_view(*v))
        return reply_error(view_error(*v));
    bson_iter_t docs_it;
    if (!bson_iter_init_find(&docs_it, c.cmd, "documents") || !BSON_ITER_HOLDS_ARRAY(&docs_it))
        return reply_error(
            Error{9, "BSON field 'insert.documents' is missing but a required field", {}});
    bool ordered = get_bool(c.cmd, "ordered").value_or(true);
    auto coll_r = collection_for_write(e, c, name);
    if (!coll_r.ok()) return reply_error(coll_r.error());
    Collection& coll = *coll_r.value();
    int32_t n = 0, index = -1;
    size_t nerr = 0;
    Doc errors;
    bson_iter_t d;
    bson_iter_recurse(&docs_it, &d);
    int writes = 0;
    while (bson_iter_next(&d)) {
        ++index;
        if (!BSON_ITER_HOLDS_DOCUMENT(&d)) {
            append_write_error(errors.get(), nerr, index,
                               Error{2, "document must be an object", {}});
            if (ordered) break;
            continue;
        }
        uint32_t raw_len = 0;
        const uint8_t* raw_data = nullptr;
        bson_iter_document(&d, &raw_len, &raw_data);
        bson_t raw;
        if (!bson_init_static(&raw, raw_data, raw_len)) {
            append_write_error(errors.get(), nerr, index, Error{22, "invalid document", {}});
            if (ordered) break;
            continue;
        }
        auto prepared = prepare_insert(&raw);
        if (!prepared.ok()) {
            append_write_error(errors.get(), nerr, index, prepared.error());
            if (ordered) break;
            continue;
        }
        DocPtr doc = prepared.value();
        bson_t view;
        view_of(*doc, &view);
        std::string key = id_key_of(&view);
        if (lookup(coll, c.txn, key)) {
            Doc kp, kv = id_doc(&view);
            BSON_APPEND_INT32(kp.get(), "_id", 1);
            Error dup = duplicate_key_error(coll, "_id_", kp.get(), kv.get());
            append_write_error(errors.get(), nerr, index, dup);
            if (ordered) break;
            continue;
        }
        auto uniq = check_validator(coll, c, &view, nullptr);
        if (uniq.ok()) uniq = check_unique(coll, &view, key, c.txn);
        if (!uniq.ok()) {
            append_write_error(errors.get(), nerr, index, uniq.error());
            if (ordered) break;
            continue;
        }
        Event ev = make_event("insert", coll, &view);
        ev.full_document = doc;
        auto st = write(e, c, coll, key, nullptr, doc, std::move(ev));
        if (!st.ok()) {
            if (park_or_conflict(st.error(), writes)) return parked();
            if (c.in_txn) return reply_error(st.error());
            append_write_error(errors.get(), nerr, index, st.error());
            if (ordered) break;
            continue;
        }
        ++writes;
        ++n;
    }
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "n", n);
    if (nerr) BSON_APPEND_ARRAY(reply.get(), "writeErrors", errors.get());
    return reply_ok(std::move(reply));
}

Outcome Commands::update(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (Collection* v = e.find_collection(c.db, name, c.txn); v && is_view(*v))
        return reply_error(view_error(*v));
    bson_iter_t ups;
    if (!bson_iter_init_find(&ups, c.cmd, "updates") || !BSON_ITER_HOLDS_ARRAY(&ups))
        return reply_error(
            Error{9, "BSON field 'update.updates' is missing but a required field", {}});
    if (auto st = check_statement_fields("update", c.cmd); !st.ok()) return reply_error(st.error());
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    bool ordered = get_bool(c.cmd, "ordered").value_or(true);
    bool retryable = c.txn_number && !c.in_txn;
    int64_t n = 0, modified = 0;
    int32_t index = -1;
    size_t nerr = 0, nups = 0;
    Doc errors, upserted;
    int writes = 0;
    bson_iter_t u;
    bson_iter_recurse(&ups, &u);
    while (bson_iter_next(&u)) {
        ++index;
        // One pass over the statement, with views into the command (its parts are read, never
        // kept); the first occurrence of a field counts, as with a lookup by name.
        bson_t stmt_view, q_view, u_view, af_view;
        iter_view(&u, &stmt_view);
        empty_view(&q_view);
        empty_view(&u_view);
        empty_view(&af_view);
        bool have_q = false, have_u = false, have_multi = false, have_upsert = false, have_af = false;
        bool u_ok = false, multi = false, upsert = false, has_af = false, is_pipeline = false;
        bson_iter_t f;
        if (bson_iter_init(&f, &stmt_view)) {
            while (bson_iter_next(&f)) {
                std::string_view k(bson_iter_key(&f), bson_iter_key_len(&f));
                if (k == "q" && !have_q) {
                    have_q = true;
                    iter_view(&f, &q_view);
                } else if (k == "u" && !have_u) {
                    have_u = true;
                    u_ok = BSON_ITER_HOLDS_DOCUMENT(&f) || BSON_ITER_HOLDS_ARRAY(&f);
                    is_pipeline = BSON_ITER_HOLDS_ARRAY(&f);
                    iter_view(&f, &u_view);
                } else if (k == "multi" && !have_multi) {
                    have_multi = true;
                    multi = iter_truthy(&f);
                } else if (k == "upsert" && !have_upsert) {
                    have_upsert = true;
                    upsert = iter_truthy(&f);
                } else if (k == "arrayFilters" && !have_af) {
                    have_af = true;
                    has_af = !BSON_ITER_HOLDS_NULL(&f);
                    iter_view(&f, &af_view);
                }
            }
        }
        if (!u_ok)
            return reply_error(
                Error{9, "BSON field 'update.updates.u' is missing but a required field", {}});
        const bson_t* q = &q_view;
        const bson_t* udoc = &u_view;
        const bson_t* array_filters = &af_view;
        if (multi && retryable)
            return reply_error(
                Error{72, "Cannot use (or request) retryable writes with multi=true", {}});
        if (multi && !is_pipeline && !is_operator_update(udoc) && !bson_empty(udoc)) {
            append_write_error(
                errors.get(), nerr, index,
                Error{9, "multi update is not supported for replacement-style update", {}});
            if (ordered) break;
            continue;
        }
        Collection* coll = e.find_collection(c.db, name, c.txn);
        auto found = matching(coll, c.txn, q, multi ? 0 : 1, &vars.value());
        if (!found.ok()) {
            append_write_error(errors.get(), nerr, index, found.error());
            if (ordered) break;
            continue;
        }
        bool stop = false;
        for (const DocPtr& doc : found.value()) {
            bson_t view;
            view_of(*doc, &view);
            auto r = run_update(e, &view, udoc, is_pipeline,
                                has_af ? array_filters : nullptr, q, false, &vars.value());
            if (!r.ok()) {
                append_write_error(errors.get(), nerr, index, r.error());
                stop = true;
                break;
            }
            ++n;
            if (!r.value().modified) continue;
            auto nd = std::make_shared<const std::string>(r.value().doc.bytes());
            std::string key = id_key_of(&view);
            auto uniq = check_validator(*coll, c, r.value().doc.get(), &view);
            if (uniq.ok()) uniq = check_unique(*coll, r.value().doc.get(), key, c.txn);
            if (!uniq.ok()) {
                --n;
                append_write_error(errors.get(), nerr, index, uniq.error());
                stop = true;
                break;
            }
            Event ev = make_event(r.value().replacement ? "replace" : "update", *coll, &view);
            ev.full_document = nd;
            ev.before = doc;
            if (!r.value().replacement) ev.update_description = update_description(r.value());
            auto st = write(e, c, *coll, key, doc, nd, std::move(ev));
            if (!st.ok()) {
                if (park_or_conflict(st.error(), writes)) return parked();
                if (c.in_txn) return reply_error(st.error());
                --n;
                append_write_error(errors.get(), nerr, index, st.error());
                stop = true;
                break;
            }
            ++writes;
            ++modified;
        }
        if (stop) {
            if (ordered) break;
            continue;
        }
        if (found.value().empty() && upsert) {
            Doc seed = upsert_seed(q);
            Result<UpdateOutcome> r = UpdateOutcome{};
            if (!is_pipeline && !is_operator_update(udoc)) {
                // Replacement upsert: the replacement, with the query's _id when it has none.
                Doc nd;
                bson_iter_t idit;
                if (!bson_iter_init_find(&idit, udoc, "_id") &&
                    bson_iter_init_find(&idit, seed.get(), "_id"))
                    bson_append_iter(nd.get(), "_id", 3, &idit);
                bson_concat(nd.get(), udoc);
                r.value().doc = std::move(nd);
            } else {
                r = run_update(e, seed.get(), udoc, is_pipeline,
                               has_af ? array_filters : nullptr, q, true, &vars.value());
            }
            if (!r.ok()) {
                append_write_error(errors.get(), nerr, index, r.error());
                if (ordered) break;
                continue;
            }
            auto prepared = prepare_insert(r.value().doc.get());
            if (!prepared.ok()) {
                append_write_error(errors.get(), nerr, index, prepared.error());
                if (ordered) break;
                continue;
            }
            auto coll_r = collection_for_write(e, c, name);
            if (!coll_r.ok()) return reply_error(coll_r.error());
            DocPtr nd = prepared.value();
            bson_t view;
            view_of(*nd, &view);
            std::string key = id_key_of(&view);
            if (lookup(*coll_r.value(), c.txn, key)) {
                Doc kp, kv = id_doc(&view);
                BSON_APPEND_INT32(kp.get(), "_id", 1);
                append_write_error(errors.get(), nerr, index,
                                   duplicate_key_error(*coll_r.value(), "_id_", kp.get(), kv.get()));
                if (ordered) break;
                continue;
            }
            auto uniq = check_validator(*coll_r.value(), c, &view, nullptr);
            if (uniq.ok()) uniq = check_unique(*coll_r.value(), &view, key, c.txn);
            if (!uniq.ok()) {
                append_write_error(errors.get(), nerr, index, uniq.error());
                if (ordered) break;
                continue;
            }
            Event ev = make_event("insert", *coll_r.value(), &view);
            ev.full_document = nd;
            auto st = write(e, c, *coll_r.value(), key, nullptr, nd, std::move(ev));
            if (!st.ok()) {
                if (st.error().code == kBlockedByTransaction && writes == 0) return parked();
                if (c.in_txn) return reply_error(st.error());
                append_write_error(errors.get(), nerr, index, st.error());
                if (ordered) break;
                continue;
            }
            ++writes;
            ++n;
            bson_t up;
            std::string k = std::to_string(nups++);
            bson_append_document_begin(upserted.get(), k.c_str(), -1, &up);
            BSON_APPEND_INT32(&up, "index", index);
            bson_iter_t idit;
            bson_iter_init_find(&idit, &view, "_id");
            bson_append_iter(&up, "_id", 3, &idit);
            bson_append_document_end(upserted.get(), &up);
        }
    }
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "n", static_cast<int32_t>(n));
    BSON_APPEND_INT32(reply.get(), "nModified", static_cast<int32_t>(modified));
    if (nups) BSON_APPEND_ARRAY(reply.get(), "upserted", upserted.get());
    if (nerr) BSON_APPEND_ARRAY(reply.get(), "writeErrors", errors.get());
    return reply_ok(std::move(reply));
}

Outcome Commands::remove(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (Collection* v = e.find_collection(c.db, name, c.txn); v && is_view(*v))
        return reply_error(view_error(*v));
    bson_iter_t dels;
    if (!bson_iter_init_find(&dels, c.cmd, "deletes") || !BSON_ITER_HOLDS_ARRAY(&dels))
        return reply_error(
            Error{9, "BSON field 'delete.deletes' is missing but a required field", {}});
    if (auto st = check_statement_fields("delete", c.cmd); !st.ok()) return reply_error(st.error());
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    bool ordered = get_bool(c.cmd, "ordered").value_or(true);
    int64_t n = 0;
    int32_t index = -1;
    size_t nerr = 0;
    Doc errors;
    int writes = 0;
    bson_iter_t d;
    bson_iter_recurse(&dels, &d);
    while (bson_iter_next(&d)) {
        ++index;
        Doc stmt = iter_subdoc(&d);
        Doc q = subdoc(stmt.get(), "q");
        int64_t limit = get_int(stmt.get(), "limit").value_or(0);
        if (limit == 0 && c.txn_number && !c.in_txn)
            return reply_error(
                Error{72, "Cannot use (or request) retryable writes with limit=0", {}});
        Collection* coll = e.find_collection(c.db, name, c.txn);
        auto found = matching(coll, c.txn, q.get(), limit == 1 ? 1 : 0, &vars.value());
        if (!found.ok()) {
            append_write_error(errors.get(), nerr, index, found.error());
            if (ordered) break;
            continue;
        }
        bool stop = false;
        for (const DocPtr& doc : found.value()) {
            bson_t view;
            view_of(*doc, &view);
            Event ev = make_event("delete", *coll, &view);
            ev.before = doc;
            auto st = write(e, c, *coll, id_key_of(&view), doc, nullptr, std::move(ev));
            if (!st.ok()) {
                if (park_or_conflict(st.error(), writes)) return parked();
                if (c.in_txn) return reply_error(st.error());
                append_write_error(errors.get(), nerr, index, st.error());
                stop = true;
                break;
            }
            ++writes;
            ++n;
        }
        if (stop && ordered) break;
    }
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "n", static_cast<int32_t>(n));
    if (nerr) BSON_APPEND_ARRAY(reply.get(), "writeErrors", errors.get());
    return reply_ok(std::move(reply));
}

Outcome Commands::find_and_modify(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (Collection* v = e.find_collection(c.db, name, c.txn); v && is_view(*v))
        return reply_error(view_error(*v));
    Doc q = subdoc(c.cmd, "query");
    Doc sort = subdoc(c.cmd, "sort");
    Doc fields = subdoc(c.cmd, "fields");
    bool remove_doc = get_bool(c.cmd, "remove").value_or(false);
    bool return_new = get_bool(c.cmd, "new").value_or(false);
    bool upsert = get_bool(c.cmd, "upsert").value_or(false);
    bson_iter_t uit;
    bool has_update = bson_iter_init_find(&uit, c.cmd, "update") &&
                      (BSON_ITER_HOLDS_DOCUMENT(&uit) || BSON_ITER_HOLDS_ARRAY(&uit));
    if (remove_doc == has_update)
        return reply_error(Error{9, "Either an update or remove=true must be specified", {}});
    if (remove_doc && (upsert || return_new))
        return reply_error(Error{9, "Cannot specify both an update and remove=true", {}});
    bool is_pipeline = has_update && BSON_ITER_HOLDS_ARRAY(&uit);
    Doc udoc = has_update ? iter_subdoc(&uit) : Doc();
    Doc af = subdoc(c.cmd, "arrayFilters");
    bool has_af = has_field(c.cmd, "arrayFilters");
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    Collection* coll = e.find_collection(c.db, name, c.txn);
    bool sorted = has_field(c.cmd, "sort") && !bson_empty(sort.get());
    auto found = matching(coll, c.txn, q.get(), sorted ? 0 : 1, &vars.value());
    if (!found.ok()) return reply_error(found.error());
    if (sorted) {
        auto st = sort_docs(&found.value(), sort.get());
        if (!st.ok()) return reply_error(st.error());
    }
    DocPtr result;
    Doc leo;
    auto project = [&](const DocPtr& d) -> Result<DocPtr> {
        if (!d || !has_field(c.cmd, "fields") || bson_empty(fields.get())) return d;
        bson_t v;
        view_of(*d, &v);
        auto p = apply_projection(&v, fields.get());
        if (!p.ok()) return p.error();
        return std::make_shared<const std::string>(p.value().bytes());
    };
    auto blocked = [] {
        Outcome o;
        o.park = true;
        return o;
    };
    if (!found.value().empty()) {
        DocPtr doc = found.value()[0];
        bson_t view;
        view_of(*doc, &view);
        std::string key = id_key_of(&view);
        if (remove_doc) {
            Event ev = make_event("delete", *coll, &view);
            ev.before = doc;
            auto st = write(e, c, *coll, key, doc, nullptr, std::move(ev));
            if (!st.ok())
                return st.error().code == kBlockedByTransaction ? blocked()
                                                                : reply_error(st.error());
            result = doc;
            BSON_APPEND_INT32(leo.get(), "n", 1);
        } else {
            auto r = run_update(e, &view, udoc.get(), is_pipeline, has_af ? af.get() : nullptr,
                                q.get(), false, &vars.value());
            if (!r.ok()) return reply_error(r.error());
            DocPtr nd = doc;
            if (r.value().modified) {
                nd = std::make_shared<const std::string>(r.value().doc.bytes());
                auto uniq = check_validator(*coll, c, r.value().doc.get(), &view);
                if (uniq.ok()) uniq = check_unique(*coll, r.value().doc.get(), key, c.txn);
                if (!uniq.ok()) return reply_error(uniq.error());
                Event ev = make_event(r.value().replacement ? "replace" : "update", *coll, &view);
                ev.full_document = nd;
                ev.before = doc;
                if (!r.value().replacement) ev.update_description = update_description(r.value());
                auto st = write(e, c, *coll, key, doc, nd, std::move(ev));
                if (!st.ok())
                    return st.error().code == kBlockedByTransaction ? blocked()
                                                                    : reply_error(st.error());
            }
            result = return_new ? nd : doc;
            BSON_APPEND_INT32(leo.get(), "n", 1);
            BSON_APPEND_BOOL(leo.get(), "updatedExisting", true);
        }
    } else if (upsert) {
        Doc seed = upsert_seed(q.get());
        Result<UpdateOutcome> r = UpdateOutcome{};
        if (!is_pipeline && !is_operator_update(udoc.get())) {
            Doc nd;
            bson_iter_t idit;
            if (!bson_iter_init_find(&idit, udoc.get(), "_id") &&
                bson_iter_init_find(&idit, seed.get(), "_id"))
                bson_append_iter(nd.get(), "_id", 3, &idit);
            bson_concat(nd.get(), udoc.get());
            r.value().doc = std::move(nd);
        } else {
            r = run_update(e, seed.get(), udoc.get(), is_pipeline, has_af ? af.get() : nullptr,
                           q.get(), true, &vars.value());
        }
        if (!r.ok()) return reply_error(r.error());
        auto prepared = prepare_insert(r.value().doc.get());
        if (!prepared.ok()) return reply_error(prepared.error());
        auto coll_r = collection_for_write(e, c, name);
        if (!coll_r.ok()) return reply_error(coll_r.error());
        DocPtr nd = prepared.value();
        bson_t view;
        view_of(*nd, &view);
        std::string key = id_key_of(&view);
        if (lookup(*coll_r.value(), c.txn, key)) {
            Doc kp, kv = id_doc(&view);
            BSON_APPEND_INT32(kp.get(), "_id", 1);
            return reply_error(duplicate_key_error(*coll_r.value(), "_id_", kp.get(), kv.get()));
        }
        auto uniq = check_validator(*coll_r.value(), c, &view, nullptr);
        if (uniq.ok()) uniq = check_unique(*coll_r.value(), &view, key, c.txn);
        if (!uniq.ok()) return reply_error(uniq.error());
        Event ev = make_event("insert", *coll_r.value(), &view);
        ev.full_document = nd;
        auto st = write(e, c, *coll_r.value(), key, nullptr, nd, std::move(ev));
        if (!st.ok())
            return st.error().code == kBlockedByTransaction ? blocked() : reply_error(st.error());
        result = return_new ? nd : nullptr;
        BSON_APPEND_INT32(leo.get(), "n", 1);
        BSON_APPEND_BOOL(leo.get(), "updatedExisting", false);
        bson_iter_t idit;
        bson_iter_init_find(&idit, &view, "_id");
        bson_append_iter(leo.get(), "upserted", -1, &idit);
    } else {
        BSON_APPEND_INT32(leo.get(), "n", 0);
        if (!remove_doc) BSON_APPEND_BOOL(leo.get(), "updatedExisting", false);
    }
    auto shown = project(result);
    if (!shown.ok()) return reply_error(shown.error());
    Doc reply;
    BSON_APPEND_DOCUMENT(reply.get(), "lastErrorObject", leo.get());
    if (shown.value()) {
        bson_t v;
        view_of(*shown.value(), &v);
        BSON_APPEND_DOCUMENT(reply.get(), "value", &v);
    } else {
        BSON_APPEND_NULL(reply.get(), "value");
    }
    return reply_ok(std::move(reply));
}

}  // namespace standin
