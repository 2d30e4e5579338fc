// libFuzzer target: query filters, projections, sorts, update documents and aggregation pipelines,
// straight through the library functions and then as commands through the engine.
//
// An input is one document, as relaxed extended JSON when it starts with '{' (what the corpus holds
// and what mutates best) or as raw BSON otherwise:
//   {docs: [...], filter: {...}, projection: {...}, sort: {...}, update: {...} | [...],
//    arrayFilters: [...], pipeline: [...], upsert: bool, key: "path"}
// Any field may be missing or of the wrong type: the code under test must answer with an error.
// Build: the `fuzz` preset (clang); run: scripts/fuzz standin_query_fuzz.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine.hpp"
#include "pipeline.hpp"
#include "query_match.hpp"
#include "update_ops.hpp"
#include "wire.hpp"

namespace {

using namespace standin;  // NOLINT: a fuzz entry point over the whole library

// A document or array field of IN as a view into IN (an empty document when absent or not one).
bool field_view(const bson_t* in, const char* key, bson_t* out, bson_type_t* type = nullptr) {
    bson_iter_t it;
    bool found = bson_iter_init_find(&it, in, key);
    if (type) *type = found ? bson_iter_type(&it) : BSON_TYPE_EOD;
    if (found) {
        iter_view(&it, out);
    } else {
        empty_view(out);
    }
    return found;
}

void run_library(const bson_t* in) {
    bson_t docs, filter, projection, sort, update, array_filters, pipeline;
    bson_type_t update_type;
    field_view(in, "docs", &docs);
    field_view(in, "filter", &filter);
    bool has_projection = field_view(in, "projection", &projection);
    field_view(in, "sort", &sort);
    bool has_update = field_view(in, "update", &update, &update_type);
    bool has_af = field_view(in, "arrayFilters", &array_filters);
    bool has_pipeline = field_view(in, "pipeline", &pipeline);

    (void)validate_filter(&filter);
    (void)validate_projection(&projection);
    (void)validate_stages(&pipeline, false);
    (void)validate_stages(&pipeline, true);
    Doc seed = upsert_seed(&filter);

    std::vector<DocPtr> all;
    bson_iter_t it;
    if (bson_iter_init(&it, &docs)) {
        while (bson_iter_next(&it)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
            bson_t d;
            iter_view(&it, &d);
            all.push_back(std::make_shared<const std::string>(
                reinterpret_cast<const char*>(bson_get_data(&d)), d.len));
            (void)matches(&d, &filter);
            if (has_projection) (void)apply_projection(&d, &projection);
            if (has_update && update_type == BSON_TYPE_DOCUMENT) {
                UpdateSpec spec;
                spec.update = &update;
                spec.array_filters = has_af ? &array_filters : nullptr;
                spec.query = &filter;
                spec.upsert_insert = true;
                (void)apply_update(&d, spec);
            }
        }
    }
    (void)sort_docs(&all, &sort);
    if (has_pipeline) (void)run_stages(all, &pipeline);
    if (has_update && update_type == BSON_TYPE_ARRAY) (void)run_stages(all, &update);
}

// The input's field KEY as it would appear in a command (nothing when absent).
void copy_field(const bson_t* in, const char* key, bson_t* cmd, const char* as = nullptr) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, in, key)) bson_append_iter(cmd, as ? as : key, -1, &it);
}

class EngineRunner {
  public:
    EngineRunner() : engine_(options()) {
        (void)engine_.open();
        engine_.set_advertised("127.0.0.1:27017");
    }

    Doc run(Doc cmd) {
        BSON_APPEND_UTF8(cmd.get(), "$db", "f");
        Request r;
        r.opcode = kOpMsg;
        r.body = std::move(cmd);
        Outcome o = engine_.run(r, conn_, true, Clock::now());
        return std::move(o.reply);
    }

    // Every command the input can feed, in an order that lets later ones see earlier writes.
    void run_all(const bson_t* in) {
        insert_docs(in);
        // A change stream opened before the writes, with the input's pipeline after $changeStream.
        Doc stream = change_stream(in);
        int64_t stream_id = cursor_id(stream.get());
        find_docs(in);
        update_docs(in);
        find_and_modify(in);
        aggregate_docs(in);
        distinct_and_count(in);
        if (stream_id) get_more(stream_id);
        delete_matching(in);
        if (stream_id) get_more(stream_id);
        Doc drop;
        BSON_APPEND_INT32(drop.get(), "dropDatabase", 1);
        run(std::move(drop));
        if (stream_id) kill(stream_id);
    }

  private:
    void insert_docs(const bson_t* in) {
        Doc insert;
        BSON_APPEND_UTF8(insert.get(), "insert", "c");
        copy_field(in, "docs", insert.get(), "documents");
        BSON_APPEND_BOOL(insert.get(), "ordered", false);
        run(std::move(insert));
    }

    void find_docs(const bson_t* in) {
        Doc find;
        BSON_APPEND_UTF8(find.get(), "find", "c");
        copy_field(in, "filter", find.get());
        copy_field(in, "projection", find.get());
        copy_field(in, "sort", find.get());
        BSON_APPEND_INT32(find.get(), "batchSize", 2);
        Doc found = run(std::move(find));
        if (int64_t id = cursor_id(found.get())) get_more(id);
    }

    // The input's update as a single and as a multi update statement.
    void update_docs(const bson_t* in) {
        Doc update;
        BSON_APPEND_UTF8(update.get(), "update", "c");
        bson_t ups, u;
        BSON_APPEND_ARRAY_BEGIN(update.get(), "updates", &ups);
        for (int multi = 0; multi < 2; ++multi) {
            BSON_APPEND_DOCUMENT_BEGIN(&ups, multi ? "1" : "0", &u);
            copy_field(in, "filter", &u, "q");
            copy_field(in, "update", &u, "u");
            copy_field(in, "arrayFilters", &u);
            copy_field(in, "upsert", &u);
            BSON_APPEND_BOOL(&u, "multi", multi == 1);
            bson_append_document_end(&ups, &u);
        }
        bson_append_array_end(update.get(), &ups);
        run(std::move(update));
    }

    void find_and_modify(const bson_t* in) {
        Doc fam;
        BSON_APPEND_UTF8(fam.get(), "findAndModify", "c");
        copy_field(in, "filter", fam.get(), "query");
        copy_field(in, "update", fam.get());
        copy_field(in, "sort", fam.get());
        copy_field(in, "projection", fam.get(), "fields");
        copy_field(in, "arrayFilters", fam.get());
        copy_field(in, "upsert", fam.get());
        BSON_APPEND_BOOL(fam.get(), "new", true);
        run(std::move(fam));
    }

    void aggregate_docs(const bson_t* in) {
        Doc agg;
        BSON_APPEND_UTF8(agg.get(), "aggregate", "c");
        copy_field(in, "pipeline", agg.get());
        bson_t cursor;
        BSON_APPEND_DOCUMENT_BEGIN(agg.get(), "cursor", &cursor);
        BSON_APPEND_INT32(&cursor, "batchSize", 1);
        bson_append_document_end(agg.get(), &cursor);
        Doc aggregated = run(std::move(agg));
        if (int64_t id = cursor_id(aggregated.get())) get_more(id);
    }

    void distinct_and_count(const bson_t* in) {
        Doc distinct;
        BSON_APPEND_UTF8(distinct.get(), "distinct", "c");
        copy_field(in, "key", distinct.get());
        copy_field(in, "filter", distinct.get(), "query");
        run(std::move(distinct));

        Doc count;
        BSON_APPEND_UTF8(count.get(), "count", "c");
        copy_field(in, "filter", count.get(), "query");
        run(std::move(count));
    }

    void delete_matching(const bson_t* in) {
        Doc remove;
        BSON_APPEND_UTF8(remove.get(), "delete", "c");
        bson_t dels, d;
        BSON_APPEND_ARRAY_BEGIN(remove.get(), "deletes", &dels);
        BSON_APPEND_DOCUMENT_BEGIN(&dels, "0", &d);
        copy_field(in, "filter", &d, "q");
        BSON_APPEND_INT32(&d, "limit", 0);
        bson_append_document_end(&dels, &d);
        bson_append_array_end(remove.get(), &dels);
        run(std::move(remove));
    }

    static Options options() {
        Options o;
        o.oplog_size = 64;
        o.test_commands = true;
        return o;
    }

    static int64_t cursor_id(const bson_t* reply) {
        bson_iter_t it;
        if (bson_iter_init(&it, reply) && bson_iter_find_descendant(&it, "cursor.id", &it) &&
            BSON_ITER_HOLDS_INT64(&it))
            return bson_iter_int64(&it);
        return 0;
    }

    Doc change_stream(const bson_t* in) {
        Doc agg;
        BSON_APPEND_UTF8(agg.get(), "aggregate", "c");
        bson_t stages, first, opts;
        BSON_APPEND_ARRAY_BEGIN(agg.get(), "pipeline", &stages);
        BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &first);
        BSON_APPEND_DOCUMENT_BEGIN(&first, "$changeStream", &opts);
        BSON_APPEND_UTF8(&opts, "fullDocument", "updateLookup");
        BSON_APPEND_UTF8(&opts, "fullDocumentBeforeChange", "whenAvailable");
        bson_append_document_end(&first, &opts);
        bson_append_document_end(&stages, &first);
        bson_t pipeline;
        bson_type_t type;
        if (field_view(in, "pipeline", &pipeline, &type) && type == BSON_TYPE_ARRAY) {
            bson_iter_t it;
            int i = 1;
            if (bson_iter_init(&it, &pipeline)) {
                while (bson_iter_next(&it) && i < 50) {
                    std::string k = std::to_string(i++);
                    bson_append_iter(&stages, k.c_str(), -1, &it);
                }
            }
        }
        bson_append_array_end(agg.get(), &stages);
        bson_t cursor;
        BSON_APPEND_DOCUMENT_BEGIN(agg.get(), "cursor", &cursor);
        bson_append_document_end(agg.get(), &cursor);
        return run(std::move(agg));
    }

    void get_more(int64_t id) {
        Doc g;
        BSON_APPEND_INT64(g.get(), "getMore", id);
        BSON_APPEND_UTF8(g.get(), "collection", "c");
        run(std::move(g));
    }

    void kill(int64_t id) {
        Doc k;
        BSON_APPEND_UTF8(k.get(), "killCursors", "c");
        bson_t ids;
        BSON_APPEND_ARRAY_BEGIN(k.get(), "cursors", &ids);
        BSON_APPEND_INT64(&ids, "0", id);
        bson_append_array_end(k.get(), &ids);
        run(std::move(k));
    }

    Engine engine_;
    ConnInfo conn_;
};

// The input as a document: JSON when it starts with '{', raw BSON otherwise; checked as the wire
// parser checks a command (structure without recursion first, then bson_validate).
std::unique_ptr<bson_t, void (*)(bson_t*)> input_document(const uint8_t* data, size_t size) {
    std::unique_ptr<bson_t, void (*)(bson_t*)> none(nullptr, bson_destroy);
    bson_t* b = nullptr;
    if (size > 0 && data[0] == '{') {
        bson_error_t err;
        b = bson_new_from_json(data, static_cast<ssize_t>(size), &err);
    } else if (size >= 5) {
        b = bson_new_from_data(data, size);
    }
    if (!b) return none;
    std::unique_ptr<bson_t, void (*)(bson_t*)> doc(b, bson_destroy);
    size_t offset = 0;
    if (!bson_structure_ok(bson_get_data(b), b->len) ||
        !bson_validate(b, BSON_VALIDATE_NONE, &offset))
        return none;
    return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 * 1024) return 0;
    auto in = input_document(data, size);
    if (!in) return 0;
    run_library(in.get());
    // A fresh engine every 1,000 inputs keeps memory bounded while cursors and sessions carry over.
    static std::unique_ptr<EngineRunner> runner;
    static int runs = 0;
    if (!runner || ++runs % 1000 == 0) runner = std::make_unique<EngineRunner>();
    runner->run_all(in.get());
    return 0;
}
