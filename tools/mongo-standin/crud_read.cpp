// Read commands and cursors: find, getMore, killCursors, count, distinct, aggregate.
#include <cstring>
#include <random>

#include "commands.hpp"
#include "crud_util.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "storage.hpp"

namespace standin {

using namespace detail;  // NOLINT: this file is the helpers' main user

int64_t Commands::new_cursor_id(Engine& e) {
    static std::mt19937_64 rng{std::random_device{}()};
    int64_t id;
    do {
        id = static_cast<int64_t>(rng() >> 2) + 1;
    } while (e.cursors_.count(id));
    return id;
}

Doc Commands::cursor_reply(const std::string& ns, int64_t id, const char* batch_name,
                           const std::vector<DocPtr>& docs, const ResumeToken* pbrt) {
    Doc d;
    bson_t cur, batch;
    BSON_APPEND_DOCUMENT_BEGIN(d.get(), "cursor", &cur);
    BSON_APPEND_INT64(&cur, "id", id);
    append_str(&cur, "ns", ns);
    bson_append_array_begin(&cur, batch_name, -1, &batch);
    char key[16];
    for (size_t i = 0; i < docs.size(); ++i) {
        const char* k;
        size_t klen = bson_uint32_to_string(static_cast<uint32_t>(i), &k, key, sizeof key);
        bson_t v;
        view_of(*docs[i], &v);
        bson_append_document(&batch, k, static_cast<int>(klen), &v);
    }
    bson_append_array_end(&cur, &batch);
    if (pbrt) {
        bson_t t;
        BSON_APPEND_DOCUMENT_BEGIN(&cur, "postBatchResumeToken", &t);
        append_str(&t, "_data", pbrt->encode());
        bson_append_document_end(&cur, &t);
    }
    bson_append_document_end(d.get(), &cur);
    return d;
}

// Fills the first batch from `docs` and keeps the rest in a cursor.
Outcome Commands::first_batch(Engine& e, CommandCtx& c, const std::string& ns,
                              std::vector<DocPtr> docs, int64_t batch_size, bool single_batch) {
    size_t take = 0, bytes = 0;
    size_t max = batch_size >= 0 ? static_cast<size_t>(batch_size) : 101;
    while (take < docs.size() && take < max && bytes + docs[take]->size() <= kMaxBatchBytes)
        bytes += docs[take++]->size();
    std::vector<DocPtr> batch(docs.begin(), docs.begin() + static_cast<long>(take));
    int64_t id = 0;
    if (take < docs.size() && !single_batch) {
        id = Commands::new_cursor_id(e);
        Cursor& cur = e.cursors_[id];
        cur.id = id;
        cur.ns = ns;
        cur.pending.assign(docs.begin() + static_cast<long>(take), docs.end());
        cur.last_use = Clock::now();
        if (c.session) cur.session_key = c.session->key;
    }
    return reply_ok(Commands::cursor_reply(ns, id, "firstBatch", batch, nullptr));
}

Outcome Commands::find(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    if (name.empty()) return reply_error(Error{2, "collection name has invalid type", {}});
    Doc filter = subdoc(c.cmd, "filter");
    Doc sort = subdoc(c.cmd, "sort");
    Doc projection = subdoc(c.cmd, "projection");
    int64_t skip = get_int(c.cmd, "skip").value_or(0);
    int64_t limit = get_int(c.cmd, "limit").value_or(0);
    int64_t batch_size = get_int(c.cmd, "batchSize").value_or(-1);
    bool single = get_bool(c.cmd, "singleBatch").value_or(false);
    if (skip < 0)
        return reply_error(Error{
            51024,
            "BSON field 'skip' value must be >= 0, actual value '" + std::to_string(skip) + "'",
            {}});
    if (limit < 0)
        return reply_error(Error{
            51024,
            "BSON field 'limit' value must be >= 0, actual value '" + std::to_string(limit) + "'",
            {}});
    if (has_field(c.cmd, "batchSize") && batch_size < 0)
        return reply_error(Error{51024,
                                 "BSON field 'batchSize' value must be >= 0, actual value '" +
                                     std::to_string(batch_size) + "'",
                                 {}});
    if (has_field(c.cmd, "projection")) {
        auto v = validate_projection(projection.get());
        if (!v.ok()) return reply_error(v.error());
    }
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    bool sorted = has_field(c.cmd, "sort") && !bson_empty(sort.get());
    size_t want = (!sorted && limit > 0) ? static_cast<size_t>(skip + limit) : 0;
    auto found = read_documents(e, c, c.db, name, filter.get(), want, &vars.value());
    if (!found.ok()) return reply_error(found.error());
    std::vector<DocPtr> docs = std::move(found.value());
    if (sorted) {
        auto st = sort_docs(&docs, sort.get());
        if (!st.ok()) return reply_error(st.error());
    }
    if (skip > 0)
        docs.erase(docs.begin(), docs.begin() + std::min<long>(static_cast<long>(skip),
                                                               static_cast<long>(docs.size())));
    if (limit > 0 && static_cast<size_t>(limit) < docs.size())
        docs.resize(static_cast<size_t>(limit));
    if (has_field(c.cmd, "projection") && !bson_empty(projection.get())) {
        for (auto& d : docs) {
            bson_t v;
            view_of(*d, &v);
            auto p = apply_projection(&v, projection.get(), &vars.value());
            if (!p.ok()) return reply_error(p.error());
            d = std::make_shared<const std::string>(p.value().bytes());
        }
    }
    if (limit > 0 && batch_size < 0) batch_size = std::min<int64_t>(limit, 101);
    return first_batch(e, c, ns_of(c.db, name), std::move(docs), batch_size,
                       single || (limit == 1));
}

Outcome Commands::get_more(Engine& e, CommandCtx& c) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "getMore") || !BSON_ITER_HOLDS_INT64(&it))
        return reply_error(
            Error{14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'", {}});
    int64_t id = bson_iter_int64(&it);
    auto batch_size = get_int(c.cmd, "batchSize");
    if (batch_size && *batch_size < 0)
        return reply_error(Error{51024, "BSON field 'batchSize' value must be >= 0", {}});
    auto cit = e.cursors_.find(id);
    if (cit == e.cursors_.end())
        return reply_error(Error{43, "cursor id " + std::to_string(id) + " not found", {}});
    Cursor& cur = cit->second;
    cur.last_use = Clock::now();
    if (!c.rerun_after_deadline && e.fail_get_more_.fire()) {
        // failGetMoreAfterCursorCheckout: an error raised inside the getMore, which (unlike a
        // failCommand error) gets the labels of an error of the stream itself; the cursor is gone.
        int code = e.fail_get_more_.error_code;
        bool stream = cur.is_stream;
        e.cursors_.erase(cit);
        return reply_error(Error{code,
                                 "Failing getMore via 'failGetMoreAfterCursorCheckout' failpoint",
                                 e.automatic_labels(c, code, 0, stream)});
    }
    if (cur.is_stream) return stream_get_more(e, c, cur, batch_size.value_or(0));
    size_t max = batch_size && *batch_size > 0 ? static_cast<size_t>(*batch_size) : SIZE_MAX;
    std::vector<DocPtr> batch;
    size_t bytes = 0;
    while (!cur.pending.empty() && batch.size() < max &&
           bytes + cur.pending.front()->size() <= kMaxBatchBytes) {
        bytes += cur.pending.front()->size();
        batch.push_back(cur.pending.front());
        cur.pending.pop_front();
    }
    std::string ns = cur.ns;
    int64_t out_id = id;
    if (cur.pending.empty()) {
        e.cursors_.erase(cit);
        out_id = 0;
    }
    return reply_ok(cursor_reply(ns, out_id, "nextBatch", batch, nullptr));
}

Outcome Commands::kill_cursors(Engine& e, CommandCtx& c) {
    bson_iter_t it;
    Doc killed, not_found;
    size_t nk = 0, nn = 0;
    if (bson_iter_init_find(&it, c.cmd, "cursors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t a;
        bson_iter_recurse(&it, &a);
        while (bson_iter_next(&a)) {
            int64_t id = iter_as_int64(&a);
            std::string k;
            if (e.cursors_.erase(id)) {
                k = std::to_string(nk++);
                BSON_APPEND_INT64(killed.get(), k.c_str(), id);
            } else {
                k = std::to_string(nn++);
                BSON_APPEND_INT64(not_found.get(), k.c_str(), id);
            }
        }
    }
    Doc reply;
    BSON_APPEND_ARRAY(reply.get(), "cursorsKilled", killed.get());
    BSON_APPEND_ARRAY(reply.get(), "cursorsNotFound", not_found.get());
    Doc empty1, empty2;
    BSON_APPEND_ARRAY(reply.get(), "cursorsAlive", empty1.get());
    BSON_APPEND_ARRAY(reply.get(), "cursorsUnknown", empty2.get());
    return reply_ok(std::move(reply));
}

Outcome Commands::count(Engine& e, CommandCtx& c) {
    if (c.in_txn)
        return reply_error(Error{263, "Cannot run 'count' in a multi-document transaction.", {}});
    std::string name = coll_arg(c);
    Doc q = subdoc(c.cmd, "query");
    int64_t skip = get_int(c.cmd, "skip").value_or(0), limit = get_int(c.cmd, "limit").value_or(0);
    if (skip < 0) return reply_error(Error{2, "skip value is negative in count query", {}});
    Collection* coll = e.find_collection(c.db, name, c.txn);
    int64_t n = 0;
    if (coll && !is_view(*coll) && bson_empty(q.get())) {
        scan(*coll, c.txn, [&](const DocPtr&) {
            ++n;
            return true;
        });
    } else {
        auto found = read_documents(e, c, c.db, name, q.get(), 0, nullptr);
        if (!found.ok()) return reply_error(found.error());
        n = static_cast<int64_t>(found.value().size());
    }
    n = std::max<int64_t>(0, n - skip);
    if (limit != 0) n = std::min<int64_t>(n, limit < 0 ? -limit : limit);
    Doc reply;
    BSON_APPEND_INT32(reply.get(), "n", static_cast<int32_t>(n));
    return reply_ok(std::move(reply));
}

Outcome Commands::distinct(Engine& e, CommandCtx& c) {
    std::string name = coll_arg(c);
    auto key = get_string(c.cmd, "key");
    if (!key)
        return reply_error(
            Error{14, "BSON field 'distinct.key' is missing but a required field", {}});
    Doc q = subdoc(c.cmd, "query");
    auto found = read_documents(e, c, c.db, name, q.get(), 0, nullptr);
    if (!found.ok()) return reply_error(found.error());
    std::vector<Node> values;
    std::set<std::string> seen;
    for (const DocPtr& d : found.value()) {
        bson_t v;
        view_of(*d, &v);
        IterList vals;
        bool missing = false;
        values_at_path(&v, key->c_str(), &vals, &missing);
        for (auto& it : vals) {
            IterList items;
            if (BSON_ITER_HOLDS_ARRAY(&it)) {
                bson_iter_t a;
                bson_iter_recurse(&it, &a);
                while (bson_iter_next(&a)) items.push_back(a);
            } else {
                items.push_back(it);
            }
            for (auto& x : items)
                if (seen.insert(canonical_key(&x)).second) values.push_back(Node::from_iter(&x));
        }
    }
    std::sort(values.begin(), values.end(),
              [](const Node& a, const Node& b) { return compare_nodes(a, b) < 0; });
    Doc reply;
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(reply.get(), "values", &arr);
    for (size_t i = 0; i < values.size(); ++i) values[i].append_to(&arr, std::to_string(i));
    bson_append_array_end(reply.get(), &arr);
    return reply_ok(std::move(reply));
}

Outcome Commands::aggregate(Engine& e, CommandCtx& c) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "pipeline") || !BSON_ITER_HOLDS_ARRAY(&it))
        return reply_error(Error{14, "'pipeline' option must be specified as an array", {}});
    Doc pipeline = iter_subdoc(&it);
    bson_iter_t first;
    if (bson_iter_init(&first, pipeline.get()) && bson_iter_next(&first) &&
        BSON_ITER_HOLDS_DOCUMENT(&first)) {
        bson_iter_t s;
        if (bson_iter_recurse(&first, &s) && bson_iter_next(&s) &&
            !std::strcmp(bson_iter_key(&s), "$changeStream"))
            return open_change_stream(e, c, pipeline.get());
    }
    if (!bson_iter_init_find(&it, c.cmd, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
        if (!get_bool(c.cmd, "explain").value_or(false))
            return reply_error(Error{
                9,
                "The 'cursor' option is required, except for aggregate with the explain argument",
                {}});
    }
    Doc cursor_opts = subdoc(c.cmd, "cursor");
    auto vars = command_vars(c.cmd);
    if (!vars.ok()) return reply_error(vars.error());
    auto st = validate_stages(pipeline.get(), false, &vars.value());
    if (!st.ok()) return reply_error(st.error());
    std::string name = coll_arg(c);
    if (name.empty())
        return reply_error(Error{
            73,
            "aggregate with {aggregate: 1} needs a collection-less stage such as $changeStream",
            {}});
    auto docs = read_documents(e, c, c.db, name, nullptr, 0, &vars.value());
    if (!docs.ok()) return reply_error(docs.error());
    auto r = run_stages(std::move(docs.value()), pipeline.get(), &vars.value());
    if (!r.ok()) return reply_error(r.error());
    int64_t batch = get_int(cursor_opts.get(), "batchSize").value_or(101);
    if (batch < 0)
        return reply_error(Error{51024, "BSON field 'batchSize' value must be >= 0", {}});
    return first_batch(e, c, ns_of(c.db, name), std::move(r.value()), batch, false);
}

}  // namespace standin
