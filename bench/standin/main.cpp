// bench-standin: starts mongo-standin (in memory) and measures, through libmongoc:
//   bulk insert (batches of 1,000 documents of about 200 bytes), find by _id (one round trip
//   each), and change-stream delivery (events/s reaching one watcher while another client inserts).
// Baseline measured in the same run: encoding the same batches with libbson alone (client cost),
// and ping round trips (the floor for a one-document find).
// Output: "NAME: VALUE unit" lines.
#include <mongoc/mongoc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

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
                                         "quiet", "--oplog-size", "2000000"};
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

// A ~200-byte document: _id, a few scalars and a 96-character string.
bson_t* make_doc(int64_t id) {
    static const std::string pad(96, 'x');
    return BCON_NEW("_id", BCON_INT64(id), "name", BCON_UTF8("document-name-for-benchmarks"), "n",
                    BCON_INT32(static_cast<int32_t>(id % 1000)), "price",
                    BCON_DOUBLE(static_cast<double>(id) * 0.25), "active", BCON_BOOL(id % 2 == 0),
                    "created", BCON_DATE_TIME(1700000000000 + id), "tags", "[", BCON_UTF8("a"),
                    BCON_UTF8("b"), "]", "payload", BCON_UTF8(pad.c_str()));
}

bool insert_batches(mongoc_collection_t* coll, int64_t first, int64_t count, int batch) {
    // A plain array: std::vector<bson_t*> trips -Wignored-attributes on bson_t's alignment.
    auto** docs = static_cast<bson_t**>(bson_malloc(sizeof(bson_t*) * static_cast<size_t>(batch)));
    bool ok = true;
    for (int64_t done = 0; ok && done < count; done += batch) {
        int64_t n = std::min<int64_t>(batch, count - done);
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

}  // namespace

int main(int argc, char** argv) {
    std::string binary = "mongo-standin";
    int64_t docs = 300000, finds = 20000, events = 200000;
    int batch = 1000;
    CLI::App app{"mongo-standin throughput through libmongoc"};
    app.add_option("--standin", binary, "path of the mongo-standin binary");
    app.add_option("--docs", docs, "documents for the bulk insert")->capture_default_str();
    app.add_option("--finds", finds, "finds by _id")->capture_default_str();
    app.add_option("--events", events, "change events to deliver")->capture_default_str();
    app.add_option("--batch", batch, "documents per insert batch")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    StandIn server(binary);
    if (server.port == 0) {
        std::fprintf(stderr, "could not start %s\n", binary.c_str());
        return 1;
    }
    mongoc_init();
    std::string uri = "mongodb://127.0.0.1:" + std::to_string(server.port) + "/?replicaSet=rs0";
    mongoc_client_t* client = mongoc_client_new(uri.c_str());
    mongoc_collection_t* coll = mongoc_client_get_collection(client, "bench", "bulk");
    std::printf(
        "# bench-standin: %lld docs in batches of %d, %lld finds by _id, %lld change events; "
        "server in memory\n",
        static_cast<long long>(docs), batch, static_cast<long long>(finds),
        static_cast<long long>(events));
    {
        bson_t* d = make_doc(1);
        std::printf("doc_bytes: %u bytes\n", d->len);
        bson_destroy(d);
    }

    // Baseline: building the same documents with libbson only.
    auto t0 = Clock::now();
    size_t sink = 0;
    for (int64_t i = 0; i < docs; ++i) {
        bson_t* d = make_doc(i);
        sink += d->len;
        bson_destroy(d);
    }
    double encode_rate = static_cast<double>(docs) / seconds_since(t0);
    std::printf("baseline_bson_encode_docs_per_s: %.0f docs/s\n",
                encode_rate + static_cast<double>(sink % 2) * 0);

    t0 = Clock::now();
    if (!insert_batches(coll, 0, docs, batch)) return 1;
    double insert_rate = static_cast<double>(docs) / seconds_since(t0);
    std::printf("bulk_insert_docs_per_s: %.0f docs/s\n", insert_rate);

    // Find by _id, one round trip each; ping round trips as the baseline.
    bson_t* ping = BCON_NEW("ping", BCON_INT32(1));
    t0 = Clock::now();
    for (int64_t i = 0; i < finds; ++i) {
        bson_error_t err;
        if (!mongoc_client_command_simple(client, "admin", ping, nullptr, nullptr, &err)) return 1;
    }
    double ping_rate = static_cast<double>(finds) / seconds_since(t0);
    bson_destroy(ping);
    std::printf("baseline_ping_per_s: %.0f ops/s\n", ping_rate);
    std::mt19937_64 rng(42);
    int64_t found = 0;
    t0 = Clock::now();
    for (int64_t i = 0; i < finds; ++i) {
        bson_t* q =
            BCON_NEW("_id", BCON_INT64(static_cast<int64_t>(rng() % static_cast<uint64_t>(docs))));
        bson_t* opts = BCON_NEW("limit", BCON_INT64(1));
        mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, q, opts, nullptr);
        const bson_t* doc;
        while (mongoc_cursor_next(cur, &doc)) ++found;
        mongoc_cursor_destroy(cur);
        bson_destroy(opts);
        bson_destroy(q);
    }
    double find_rate = static_cast<double>(finds) / seconds_since(t0);
    std::printf("find_by_id_per_s: %.0f ops/s\n", find_rate);
    std::printf("find_by_id_vs_ping: %.2f ratio\n", find_rate / ping_rate);
    if (found != finds)
        std::fprintf(stderr, "warning: %lld of %lld finds hit\n", static_cast<long long>(found),
                     static_cast<long long>(finds));

    // Change-stream delivery: a watcher on its own client and thread, another client inserting.
    std::atomic<bool> ready{false};
    std::atomic<int64_t> received{0};
    Clock::time_point first_insert;
    double delivery_seconds = 0;
    std::thread watcher([&] {
        mongoc_client_t* wc = mongoc_client_new(uri.c_str());
        mongoc_collection_t* wcoll = mongoc_client_get_collection(wc, "bench", "stream");
        bson_t* pipeline = bson_new();
        bson_t* opts = BCON_NEW("batchSize", BCON_INT32(10000), "maxAwaitTimeMS", BCON_INT32(100));
        mongoc_change_stream_t* stream = mongoc_collection_watch(wcoll, pipeline, opts);
        const bson_t* ev;
        mongoc_change_stream_next(stream, &ev);  // opens the cursor
        ready = true;
        auto deadline = Clock::now() + std::chrono::seconds(120);
        while (received < events && Clock::now() < deadline) {
            if (mongoc_change_stream_next(stream, &ev)) ++received;
        }
        delivery_seconds = seconds_since(first_insert);
        mongoc_change_stream_destroy(stream);
        bson_destroy(opts);
        bson_destroy(pipeline);
        mongoc_collection_destroy(wcoll);
        mongoc_client_destroy(wc);
    });
    while (!ready) std::this_thread::yield();
    mongoc_collection_t* scoll = mongoc_client_get_collection(client, "bench", "stream");
    first_insert = Clock::now();
    if (!insert_batches(scoll, 0, events, batch)) return 1;
    double insert_seconds = seconds_since(first_insert);
    watcher.join();
    std::printf("change_events_per_s: %.0f events/s\n",
                static_cast<double>(received.load()) / delivery_seconds);
    std::printf("change_stream_insert_docs_per_s: %.0f docs/s\n",
                static_cast<double>(events) / insert_seconds);
    std::printf("change_events_received: %lld events\n", static_cast<long long>(received.load()));
    mongoc_collection_destroy(scoll);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return received == events ? 0 : 1;
}
