// bench-mongo: the MongoDB connector against mongo-standin (in memory), with baselines measured in
// the same run through raw libmongoc:
//   outbound_docs_per_s    a backlog of device changes (server store transactions of --txn
//   objects),
//                          from the connector's start until MongoDB holds them all; baseline: raw
//                          bulk upserts ($set, batches of 1,000) of the same documents from one
//                          client
//   inbound_events_per_s   MongoDB inserts (insert_many, batches of 1,000) until the connector
//   applied
//                          them all to the server store; baseline: a raw libmongoc change-stream
//                          reader receiving the same number of events
//   import_docs_per_s      run_import of the inbound documents into an empty store
//   device_to_mongo_ms     one store put until a change-stream watcher sees the document (p50, p99)
//   mongo_to_device_ms     one MongoDB insert until the connector committed it to the store (p50,
//   p99)
// Output: "NAME: VALUE unit" lines.
#include <mongoc/mongoc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mongo/connector.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace outpost;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

struct StandIn {
    pid_t pid = -1;
    int port = 0;
    explicit StandIn(const std::string& binary) {
        int fds[2];
        if (pipe(fds) != 0) return;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        std::vector<std::string> args = {binary,  "--port",       "0",      "--log-level",
                                         "quiet", "--oplog-size", "3000000"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        FILE* out = fdopen(fds[0], "r");
        char line[256] = {};
        if (out && fgets(line, sizeof line, out)) {
            std::string s(line);
            auto colon = s.rfind(':');
            if (colon != std::string::npos) port = std::atoi(s.c_str() + colon + 1);
        }
        if (out) fclose(out);
    }
    ~StandIn() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
};

Model bench_model() {
    ModelBuilder b;
    b.entity("Doc")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString)
        .property("n", PropertyType::kInt32)
        .property("price", PropertyType::kDouble)
        .property("active", PropertyType::kBool)
        .property("created", PropertyType::kDate)
        .property("tags", PropertyType::kStringVector)
        .property("payload", PropertyType::kString);
    return b.build().value();
}

const std::string kPad(96, 'x');

void fill(Object& o, int64_t i) {
    (void)o.set("name", Value("document-name-for-benchmarks"));
    (void)o.set("n", Value(i % 1000));
    (void)o.set("price", Value(static_cast<double>(i) * 0.25));
    (void)o.set("active", Value(i % 2 == 0));
    (void)o.set("created", Value(int64_t{1700000000000} + i));
    (void)o.set("tags", Value(Value::StringVector{"a", "b"}));
    (void)o.set("payload", Value(kPad));
}

bson_t* make_fields(int64_t i) {
    return BCON_NEW("name", BCON_UTF8("document-name-for-benchmarks"), "n",
                    BCON_INT32(static_cast<int32_t>(i % 1000)), "price",
                    BCON_DOUBLE(static_cast<double>(i) * 0.25), "active", BCON_BOOL(i % 2 == 0),
                    "created", BCON_DATE_TIME(1700000000000 + i), "tags", "[", BCON_UTF8("a"),
                    BCON_UTF8("b"), "]", "payload", BCON_UTF8(kPad.c_str()));
}

bson_t* make_doc(int64_t i) {
    bson_t* f = make_fields(i);
    bson_t* d = BCON_NEW("_id", BCON_INT64(i));
    bson_concat(d, f);
    bson_destroy(f);
    return d;
}

bool insert_batches(mongoc_collection_t* coll, int64_t first, int64_t count) {
    auto** docs = static_cast<bson_t**>(bson_malloc(sizeof(bson_t*) * 1000));
    bool ok = true;
    for (int64_t done = 0; ok && done < count; done += 1000) {
        int64_t n = std::min<int64_t>(1000, count - done);
        for (int64_t i = 0; i < n; ++i) docs[i] = make_doc(first + done + i);
        bson_error_t err;
        ok = mongoc_collection_insert_many(coll, const_cast<const bson_t**>(docs),
                                           static_cast<size_t>(n), nullptr, nullptr, &err);
        for (int64_t i = 0; i < n; ++i) bson_destroy(docs[i]);
        if (!ok) std::fprintf(stderr, "insert_many: %s\n", err.message);
    }
    bson_free(docs);
    return ok;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
    return v[i];
}

std::shared_ptr<Store> open_store(const std::string& dir, bool no_sync) {
    StoreOptions o;
    o.no_sync = no_sync;
    auto s = Store::open(dir, bench_model(), o);
    if (!s) {
        std::fprintf(stderr, "%s\n", s.status().to_string().c_str());
        std::exit(1);
    }
    return *s;
}

std::unique_ptr<mongo::Connector> connector(std::shared_ptr<Store> store, const std::string& uri,
                                            const std::string& db, std::function<void()> on_commit,
                                            bool start = true) {
    mongo::ConnectorOptions o;
    o.url = uri;
    o.database = db;
    o.max_await_ms = 200;
    auto c = mongo::Connector::create(std::move(store), o);
    if (!c) {
        std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
        std::exit(1);
    }
    if (start) {
        Status s = (*c)->start(std::move(on_commit));
        if (!s) {
            std::fprintf(stderr, "%s\n", s.to_string().c_str());
            std::exit(1);
        }
    }
    return std::move(c).value();
}

}  // namespace

int main(int argc, char** argv) {
    std::string binary = "mongo-standin";
    int64_t docs = 100000;
    int txn = 100, samples = 200;
    bool no_sync = false;
    std::vector<std::string> only;
    CLI::App app{"MongoDB connector throughput and latency against mongo-standin"};
    app.add_option("--standin", binary, "path of the mongo-standin binary");
    app.add_option("--docs", docs, "documents each way")->capture_default_str();
    app.add_option("--txn", txn, "objects per server store transaction (outbound)")
        ->capture_default_str();
    app.add_option("--samples", samples, "latency samples each way")->capture_default_str();
    app.add_flag("--no-sync", no_sync, "server store without fsync on commit");
    app.add_option("--only", only,
                   "run only these parts, each with its baseline: outbound, inbound (with the "
                   "import of its documents), latency")
        ->delimiter(',')
        ->check(CLI::IsMember({"outbound", "inbound", "latency"}));
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    auto runs = [&](const char* part) {
        return only.empty() || std::find(only.begin(), only.end(), part) != only.end();
    };

    StandIn server(binary);
    if (server.port == 0) {
        std::fprintf(stderr, "could not start %s\n", binary.c_str());
        return 1;
    }
    mongoc_init();
    std::string uri = "mongodb://127.0.0.1:" + std::to_string(server.port) + "/?replicaSet=rs0";
    mongoc_client_t* client = mongoc_client_new(uri.c_str());
    auto tmp = std::filesystem::temp_directory_path() / ("bench-mongo-" + std::to_string(getpid()));
    std::filesystem::create_directories(tmp);
    std::printf(
        "# bench-mongo: %lld documents each way (~220 bytes), outbound in store transactions of "
        "%d, "
        "%d latency samples; stand-in in memory; server store %s\n",
        static_cast<long long>(docs), txn, samples, no_sync ? "without fsync" : "with fsync");

    // ---- raw bulk upsert baseline
    double raw_bulk = 0;
    if (runs("outbound")) {
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "raw", "bulk");
        auto t = Clock::now();
        for (int64_t done = 0; done < docs; done += 1000) {
            mongoc_bulk_operation_t* bulk =
                mongoc_collection_create_bulk_operation_with_opts(coll, nullptr);
            bson_t* upsert = BCON_NEW("upsert", BCON_BOOL(true));
            for (int64_t i = done; i < std::min(docs, done + 1000); ++i) {
                bson_t* sel = BCON_NEW("_id", BCON_INT64(i));
                bson_t* f = make_fields(i);
                bson_t* upd = BCON_NEW("$set", BCON_DOCUMENT(f));
                bson_error_t err;
                mongoc_bulk_operation_update_one_with_opts(bulk, sel, upd, upsert, &err);
                bson_destroy(sel);
                bson_destroy(f);
                bson_destroy(upd);
            }
            bson_error_t err;
            bson_t reply;
            if (!mongoc_bulk_operation_execute(bulk, &reply, &err))
                std::fprintf(stderr, "bulk: %s\n", err.message);
            bson_destroy(&reply);
            bson_destroy(upsert);
            mongoc_bulk_operation_destroy(bulk);
        }
        raw_bulk = static_cast<double>(docs) / seconds_since(t);
        mongoc_collection_destroy(coll);
    }

    // ---- outbound: the device changes are committed first; the connector then writes the backlog
    double outbound = 0;
    if (runs("outbound")) {
        auto store = open_store((tmp / "out").string(), no_sync);
        auto box = store->box("Doc").value();
        for (int64_t done = 0; done < docs; done += txn) {
            Status s = store->write([&](WriteTxn& w) -> Status {
                for (int64_t i = done; i < std::min<int64_t>(docs, done + txn); ++i) {
                    Object o = box.new_object();
                    fill(o, i);
                    OUTPOST_RETURN_IF_ERROR(box.put(w, o).status());
                }
                return Status::ok();
            });
            if (!s) {
                std::fprintf(stderr, "%s\n", s.to_string().c_str());
                return 1;
            }
        }
        auto t = Clock::now();
        auto c = connector(store, uri, "outbound", nullptr);
        for (;;) {
            auto st = c->status();
            if (st.outbound_position == st.server_head) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        outbound = static_cast<double>(docs) / seconds_since(t);
        std::printf("outbound_mongo_txns: %llu\n",
                    static_cast<unsigned long long>(c->status().outbound_txns));
        c->stop();
        // The timed writes are all there (after the clock stopped).
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "outbound", "Doc");
        bson_t* all = bson_new();
        bson_error_t err;
        int64_t n = mongoc_collection_count_documents(coll, all, nullptr, nullptr, nullptr, &err);
        bson_destroy(all);
        mongoc_collection_destroy(coll);
        if (n != docs) {
            std::fprintf(stderr, "outbound: MongoDB holds %lld documents, expected %lld\n",
                         static_cast<long long>(n), static_cast<long long>(docs));
            return 1;
        }
    }

    // ---- raw change-stream reader baseline
    double raw_stream = 0;
    if (runs("inbound")) {
        mongoc_database_t* db = mongoc_client_get_database(client, "rawstream");
        bson_t* pipeline = bson_new();
        bson_t* opts = BCON_NEW("maxAwaitTimeMS", BCON_INT64(200));
        mongoc_client_t* reader = mongoc_client_new(uri.c_str());
        mongoc_database_t* rdb = mongoc_client_get_database(reader, "rawstream");
        mongoc_change_stream_t* stream = mongoc_database_watch(rdb, pipeline, opts);
        const bson_t* ev;
        (void)mongoc_change_stream_next(stream, &ev);  // opened
        mongoc_collection_t* coll = mongoc_database_get_collection(db, "c");
        auto t = Clock::now();
        std::thread writer([&] { insert_batches(coll, 0, docs); });
        int64_t got = 0;
        while (got < docs) {
            if (mongoc_change_stream_next(stream, &ev)) ++got;
        }
        raw_stream = static_cast<double>(docs) / seconds_since(t);
        writer.join();
        mongoc_change_stream_destroy(stream);
        mongoc_collection_destroy(coll);
        mongoc_database_destroy(rdb);
        mongoc_client_destroy(reader);
        mongoc_database_destroy(db);
        bson_destroy(pipeline);
        bson_destroy(opts);
    }

    // ---- inbound
    double inbound = 0;
    if (runs("inbound")) {
        auto store = open_store((tmp / "in").string(), no_sync);
        auto c = connector(store, uri, "inbound", nullptr);
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "inbound", "Doc");
        auto t = Clock::now();
        std::thread writer([&] { insert_batches(coll, 0, docs); });
        while (c->status().inbound_events < static_cast<uint64_t>(docs))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        inbound = static_cast<double>(docs) / seconds_since(t);
        writer.join();
        std::printf("inbound_store_txns: %llu\n",
                    static_cast<unsigned long long>(c->status().inbound_txns));
        c->stop();
        mongoc_collection_destroy(coll);
    }

    // ---- import of the inbound documents
    double import_rate = 0;
    if (runs("inbound")) {
        auto store = open_store((tmp / "import").string(), no_sync);
        auto c = connector(store, uri, "inbound", nullptr, false);
        auto r = c->run_import(nullptr);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
            return 1;
        }
        import_rate = r->docs_per_s;
    }

    // ---- latencies
    std::vector<double> d2m, m2d;
    if (runs("latency")) {
        auto store = open_store((tmp / "lat").string(), no_sync);
        std::mutex mu;
        std::condition_variable cv;
        uint64_t commits = 0;
        auto c = connector(store, uri, "latency", [&] {
            std::lock_guard<std::mutex> l(mu);
            ++commits;
            cv.notify_all();
        });
        mongoc_client_t* watcher = mongoc_client_new(uri.c_str());
        mongoc_database_t* wdb = mongoc_client_get_database(watcher, "latency");
        bson_t* pipeline = BCON_NEW("pipeline", "[", "{", "$match", "{", "ns.coll",
                                    BCON_UTF8("Doc"), "}", "}", "]");
        bson_t* opts = BCON_NEW("maxAwaitTimeMS", BCON_INT64(1000));
        mongoc_change_stream_t* stream = mongoc_database_watch(wdb, pipeline, opts);
        const bson_t* ev;
        (void)mongoc_change_stream_next(stream, &ev);
        auto box = store->box("Doc").value();
        for (int i = 0; i < samples; ++i) {
            Object o = box.new_object();
            fill(o, i);
            auto t = Clock::now();
            if (!box.put(o)) return 1;
            while (!mongoc_change_stream_next(stream, &ev)) {
            }
            d2m.push_back(seconds_since(t) * 1000);
        }
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "latency", "Doc");
        for (int i = 0; i < samples; ++i) {
            bson_t* d = make_doc(1000000 + i);
            std::unique_lock<std::mutex> l(mu);
            uint64_t before = commits;
            l.unlock();
            auto t = Clock::now();
            bson_error_t err;
            mongoc_collection_insert_one(coll, d, nullptr, nullptr, &err);
            l.lock();
            cv.wait(l, [&] { return commits > before; });
            m2d.push_back(seconds_since(t) * 1000);
            l.unlock();
            bson_destroy(d);
            (void)mongoc_change_stream_next(stream, &ev);  // drain the watcher
        }
        mongoc_collection_destroy(coll);
        mongoc_change_stream_destroy(stream);
        bson_destroy(pipeline);
        bson_destroy(opts);
        mongoc_database_destroy(wdb);
        mongoc_client_destroy(watcher);
        c->stop();
    }

    if (runs("outbound")) {
        std::printf("raw_bulk_upsert_docs_per_s: %.0f docs/s\n", raw_bulk);
        std::printf("outbound_docs_per_s: %.0f docs/s\n", outbound);
        std::printf("ratio outbound_vs_raw_bulk: %.2f (target >= 0.5)\n", outbound / raw_bulk);
    }
    if (runs("inbound")) {
        std::printf("raw_stream_events_per_s: %.0f events/s\n", raw_stream);
        std::printf("inbound_events_per_s: %.0f events/s\n", inbound);
        std::printf("ratio inbound_vs_raw_stream: %.2f (target >= 0.5)\n", inbound / raw_stream);
        std::printf("import_docs_per_s: %.0f docs/s\n", import_rate);
    }
    if (runs("latency")) {
        std::printf("device_to_mongo_p50_ms: %.2f ms\n", percentile(d2m, 0.5));
        std::printf("device_to_mongo_p99_ms: %.2f ms\n", percentile(d2m, 0.99));
        std::printf("mongo_to_device_p50_ms: %.2f ms\n", percentile(m2d, 0.5));
        std::printf("mongo_to_device_p99_ms: %.2f ms\n", percentile(m2d, 0.99));
    }
    mongoc_client_destroy(client);
    mongoc_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    return 0;
}
