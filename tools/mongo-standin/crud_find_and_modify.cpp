// findAndModify: one document removed, updated or upserted, and returned before or after.
#include "commands.hpp"
#include "crud_util.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "storage.hpp"
#include "update_ops.hpp"

namespace standin {

using namespace detail;  // NOLINT: the helpers of the write commands

namespace {

struct FindAndModifyArgs {
    std::string name;
    Doc q, sort, fields, udoc, af;
    bool remove_doc = false, return_new = false, upsert = false, is_pipeline = false;
    bool has_af = false;
    const bson_t* array_filters() const { return has_af ? af.get() : nullptr; }
};

Result<FindAndModifyArgs> parse_find_and_modify(const CommandCtx& c) {
    FindAndModifyArgs a;
    a.name = coll_arg(c);
    a.q = subdoc(c.cmd, "query");
    a.sort = subdoc(c.cmd, "sort");
    a.fields = subdoc(c.cmd, "fields");
    a.remove_doc = get_bool(c.cmd, "remove").value_or(false);
    a.return_new = get_bool(c.cmd, "new").value_or(false);
    a.upsert = get_bool(c.cmd, "upsert").value_or(false);
    bson_iter_t uit;
    bool has_update = bson_iter_init_find(&uit, c.cmd, "update") &&
                      (BSON_ITER_HOLDS_DOCUMENT(&uit) || BSON_ITER_HOLDS_ARRAY(&uit));
    if (a.remove_doc == has_update)
        return Error{9, "Either an update or remove=true must be specified", {}};
    if (a.remove_doc && (a.upsert || a.return_new))
        return Error{9, "Cannot specify both an update and remove=true", {}};
    a.is_pipeline = has_update && BSON_ITER_HOLDS_ARRAY(&uit);
    a.udoc = has_update ? iter_subdoc(&uit) : Doc();
    a.af = subdoc(c.cmd, "arrayFilters");
    a.has_af = has_field(c.cmd, "arrayFilters");
    return a;
}

// A write that failed: the command waits when a transaction holds the document.
Outcome write_failed(const Error& err) {
    return err.code == kBlockedByTransaction ? parked() : reply_error(err);
}

// Removes or updates DOC (the first match); *RESULT is the document to return.
std::optional<Outcome> modify_found(Engine& e, CommandCtx& c, Collection& coll, const DocPtr& doc,
                                    const FindAndModifyArgs& a, const Vars* vars, DocPtr* result,
                                    bson_t* leo) {
    bson_t view;
    view_of(*doc, &view);
    std::string key = id_key_of(&view);
    if (a.remove_doc) {
        Event ev = make_event("delete", coll, &view);
        ev.before = doc;
        auto st = Commands::write(e, c, coll, key, doc, nullptr, std::move(ev));
        if (!st.ok()) return write_failed(st.error());
        *result = doc;
        BSON_APPEND_INT32(leo, "n", 1);
        return std::nullopt;
    }
    auto r = run_update(e, &view, a.udoc.get(), a.is_pipeline, a.array_filters(), a.q.get(), false,
                        vars);
    if (!r.ok()) return reply_error(r.error());
    DocPtr nd = doc;
    if (r.value().modified) {
        nd = std::make_shared<const std::string>(r.value().doc.bytes());
        auto uniq = check_validator(coll, c, r.value().doc.get(), &view);
        if (uniq.ok()) uniq = check_unique(coll, r.value().doc.get(), key, c.txn);
        if (!uniq.ok()) return reply_error(uniq.error());
        Event ev = make_event(r.value().replacement ? "replace" : "update", coll, &view);
        ev.full_document = nd;
        ev.before = doc;
        if (!r.value().replacement) ev.update_description = update_description(r.value());
        auto st = Commands::write(e, c, coll, key, doc, nd, std::move(ev));
        if (!st.ok()) return write_failed(st.error());
    }
    *result = a.return_new ? nd : doc;
    BSON_APPEND_INT32(leo, "n", 1);
    BSON_APPEND_BOOL(leo, "updatedExisting", true);
    return std::nullopt;
}

// Nothing matched and the command upserts; *RESULT is the document to return.
std::optional<Outcome> upsert(Engine& e, CommandCtx& c, const FindAndModifyArgs& a,
                              const Vars* vars, DocPtr* result, bson_t* leo) {
    auto r = upsert_document(e, a.q.get(), a.udoc.get(), a.is_pipeline, a.array_filters(), vars);
    if (!r.ok()) return reply_error(r.error());
    UpsertFailure failure;
    auto ins = insert_upserted(e, c, a.name, r.value().doc.get(), &failure);
    if (!ins.ok())
        return failure == UpsertFailure::kWrite ? write_failed(ins.error())
                                                : reply_error(ins.error());
    DocPtr nd = ins.value();
    *result = a.return_new ? nd : nullptr;
    BSON_APPEND_INT32(leo, "n", 1);
    BSON_APPEND_BOOL(leo, "updatedExisting", false);
    bson_t view;
    view_of(*nd, &view);
    bson_iter_t idit;
    bson_iter_init_find(&idit, &view, "_id");
    bson_append_iter(leo, "upserted", -1, &idit);
    return std::nullopt;
}

// {lastErrorObject, value}: RESULT (null: none) through the command's `fields` projection.
Outcome find_and_modify_reply(const CommandCtx& c, const FindAndModifyArgs& a, const DocPtr& result,
                              const bson_t* leo) {
    DocPtr shown = result;
    if (result && has_field(c.cmd, "fields") && !bson_empty(a.fields.get())) {
        bson_t v;
        view_of(*result, &v);
        auto p = apply_projection(&v, a.fields.get());
        if (!p.ok()) return reply_error(p.error());
        shown = std::make_shared<const std::string>(p.value().bytes());
    }
    Doc reply;
    BSON_APPEND_DOCUMENT(reply.get(), "lastErrorObject", leo);
    if (shown) {
        bson_t v;
        view_of(*shown, &v);
        BSON_APPEND_DOCUMENT(reply.get(), "value", &v);
    } else {
        BSON_APPEND_NULL(reply.get(), "value");
    }
    return reply_ok(std::move(reply));
}

}  // namespace

Outcome Commands::find_and_modify(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    if (Collection* v = e.find_collection(c.db, name, c.txn); v && is_view(*v))
        return reply_error(view_error(*v));
    auto args = parse_find_and_modify(c);
    if (!args.ok()) return reply_error(args.error());
    const FindAndModifyArgs& a = args.value();
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    Collection* coll = e.find_collection(c.db, name, c.txn);
    bool sorted = has_field(c.cmd, "sort") && !bson_empty(a.sort.get());
    auto found = matching(coll, c.txn, a.q.get(), sorted ? 0 : 1, &vars.value());
    if (!found.ok()) return reply_error(found.error());
    if (sorted) {
        auto st = sort_docs(&found.value(), a.sort.get());
        if (!st.ok()) return reply_error(st.error());
    }
    DocPtr result;
    Doc leo;
    std::optional<Outcome> early;
    if (!found.value().empty()) {
        early = modify_found(e, c, *coll, found.value()[0], a, &vars.value(), &result, leo.get());
    } else if (a.upsert) {
        early = upsert(e, c, a, &vars.value(), &result, leo.get());
    } else {
        BSON_APPEND_INT32(leo.get(), "n", 0);
        if (!a.remove_doc) BSON_APPEND_BOOL(leo.get(), "updatedExisting", false);
    }
    if (early) return std::move(*early);
    return find_and_modify_reply(c, a, result, leo.get());
}

}  // namespace standin
