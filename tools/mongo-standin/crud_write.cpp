// Write commands: insert, update, delete, findAndModify.
#include <algorithm>
#include <cstring>
#include <optional>

#include "command_fields.hpp"
#include "commands.hpp"
#include "crud_util.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "storage.hpp"
#include "update_ops.hpp"

namespace standin {

using namespace detail;  // NOLINT: this file is the helpers' main user

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

namespace {

// One statement of an update command, as views into the command (its parts are read, never kept).
struct UpdateStatement {
    bson_t q, u, array_filters;
    bool u_ok = false, multi = false, upsert = false, has_af = false, is_pipeline = false;
    const bson_t* filters() const { return has_af ? &array_filters : nullptr; }
};

// One pass over the statement U; the first occurrence of a field counts, as with a lookup by name.
void parse_update_statement(const bson_iter_t* u, UpdateStatement* s) {
    bson_t stmt_view;
    iter_view(u, &stmt_view);
    empty_view(&s->q);
    empty_view(&s->u);
    empty_view(&s->array_filters);
    bool have_q = false, have_u = false, have_multi = false, have_upsert = false, have_af = false;
    bson_iter_t f;
    if (!bson_iter_init(&f, &stmt_view)) return;
    while (bson_iter_next(&f)) {
        std::string_view k(bson_iter_key(&f), bson_iter_key_len(&f));
        if (k == "q" && !have_q) {
            have_q = true;
            iter_view(&f, &s->q);
        } else if (k == "u" && !have_u) {
            have_u = true;
            s->u_ok = BSON_ITER_HOLDS_DOCUMENT(&f) || BSON_ITER_HOLDS_ARRAY(&f);
            s->is_pipeline = BSON_ITER_HOLDS_ARRAY(&f);
            iter_view(&f, &s->u);
        } else if (k == "multi" && !have_multi) {
            have_multi = true;
            s->multi = iter_truthy(&f);
        } else if (k == "upsert" && !have_upsert) {
            have_upsert = true;
            s->upsert = iter_truthy(&f);
        } else if (k == "arrayFilters" && !have_af) {
            have_af = true;
            s->has_af = !BSON_ITER_HOLDS_NULL(&f);
            iter_view(&f, &s->array_filters);
        }
    }
}

// The running totals and the reply parts of an update command.
struct UpdateBatch {
    int64_t n = 0, modified = 0;
    int32_t index = -1;  // of the current statement
    size_t nerr = 0, nups = 0;
    Doc errors, upserted;
    int writes = 0;
    void fail(const Error& err) { append_write_error(errors.get(), nerr, index, err); }
};

// How a statement ended: on to the next one, failed (its write error recorded: an ordered batch
// stops), or the command answers now with REPLY (parked, or an error of the whole command).
struct StatementEnd {
    bool failed = false;
    std::optional<Outcome> reply;
};
StatementEnd statement_failed() { return StatementEnd{true, std::nullopt}; }
StatementEnd command_ends(Outcome o) { return StatementEnd{false, std::move(o)}; }

// Updates the documents FOUND (in COLL) by statement S.
StatementEnd update_found(Engine& e, CommandCtx& c, Collection* coll,
                          const std::vector<DocPtr>& found, const UpdateStatement& s,
                          const Vars* vars, UpdateBatch& b) {
    for (const DocPtr& doc : found) {
        bson_t view;
        view_of(*doc, &view);
        auto r = run_update(e, &view, &s.u, s.is_pipeline, s.filters(), &s.q, false, vars);
        if (!r.ok()) {
            b.fail(r.error());
            return statement_failed();
        }
        ++b.n;
        if (!r.value().modified) continue;
        auto nd = std::make_shared<const std::string>(r.value().doc.bytes());
        std::string key = id_key_of(&view);
        auto uniq = check_validator(*coll, c, r.value().doc.get(), &view);
        if (uniq.ok()) uniq = check_unique(*coll, r.value().doc.get(), key, c.txn);
        if (!uniq.ok()) {
            --b.n;
            b.fail(uniq.error());
            return statement_failed();
        }
        Event ev = make_event(r.value().replacement ? "replace" : "update", *coll, &view);
        ev.full_document = nd;
        ev.before = doc;
        if (!r.value().replacement) ev.update_description = update_description(r.value());
        auto st = Commands::write(e, c, *coll, key, doc, nd, std::move(ev));
        if (!st.ok()) {
            if (park_or_conflict(st.error(), b.writes)) return command_ends(parked());
            if (c.in_txn) return command_ends(reply_error(st.error()));
            --b.n;
            b.fail(st.error());
            return statement_failed();
        }
        ++b.writes;
        ++b.modified;
    }
    return {};
}

// Statement S matched nothing and upserts into collection NAME.
StatementEnd upsert_statement(Engine& e, CommandCtx& c, const std::string& name,
                              const UpdateStatement& s, const Vars* vars, UpdateBatch& b) {
    auto r = upsert_document(e, &s.q, &s.u, s.is_pipeline, s.filters(), vars);
    if (!r.ok()) {
        b.fail(r.error());
        return statement_failed();
    }
    UpsertFailure failure;
    auto ins = insert_upserted(e, c, name, r.value().doc.get(), &failure);
    if (!ins.ok()) {
        if (failure == UpsertFailure::kCommand) return command_ends(reply_error(ins.error()));
        if (failure == UpsertFailure::kWrite) {
            if (park_or_conflict(ins.error(), b.writes)) return command_ends(parked());
            if (c.in_txn) return command_ends(reply_error(ins.error()));
        }
        b.fail(ins.error());
        return statement_failed();
    }
    ++b.writes;
    ++b.n;
    bson_t view;
    view_of(*ins.value(), &view);
    bson_t up;
    std::string k = std::to_string(b.nups++);
    bson_append_document_begin(b.upserted.get(), k.c_str(), -1, &up);
    BSON_APPEND_INT32(&up, "index", b.index);
    bson_iter_t idit;
    bson_iter_init_find(&idit, &view, "_id");
    bson_append_iter(&up, "_id", 3, &idit);
    bson_append_document_end(b.upserted.get(), &up);
    return {};
}

StatementEnd run_update_statement(Engine& e, CommandCtx& c, const std::string& name,
                                  const UpdateStatement& s, const Vars* vars, UpdateBatch& b) {
    if (s.multi && !s.is_pipeline && !is_operator_update(&s.u) && !bson_empty(&s.u)) {
        b.fail(Error{9, "multi update is not supported for replacement-style update", {}});
        return statement_failed();
    }
    Collection* coll = e.find_collection(c.db, name, c.txn);
    auto found = matching(coll, c.txn, &s.q, s.multi ? 0 : 1, vars);
    if (!found.ok()) {
        b.fail(found.error());
        return statement_failed();
    }
    StatementEnd end = update_found(e, c, coll, found.value(), s, vars, b);
    if (end.failed || end.reply) return end;
    if (found.value().empty() && s.upsert) return upsert_statement(e, c, name, s, vars, b);
    return {};
}

}  // namespace

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
    UpdateBatch b;
    bson_iter_t u;
    bson_iter_recurse(&ups, &u);
    while (bson_iter_next(&u)) {
        ++b.index;
        UpdateStatement s;
        parse_update_statement(&u, &s);
        if (!s.u_ok)
            return reply_error(
                Error{9, "BSON field 'update.updates.u' is missing but a required field", {}});
        if (s.multi && retryable)
            return reply_error(
                Error{72, "Cannot use (or request) retryable writes with multi=true", {}});
        StatementEnd end = run_update_statement(e, c, name, s, &vars.value(), b);
        if (end.reply) return std::move(*end.reply);
        if (end.failed && ordered) break;
    }
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "n", static_cast<int32_t>(b.n));
    BSON_APPEND_INT32(reply.get(), "nModified", static_cast<int32_t>(b.modified));
    if (b.nups) BSON_APPEND_ARRAY(reply.get(), "upserted", b.upserted.get());
    if (b.nerr) BSON_APPEND_ARRAY(reply.get(), "writeErrors", b.errors.get());
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

}  // namespace standin
