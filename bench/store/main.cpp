// bench-store: Outpost's typed API against raw LMDB and SQLite on the same data and batching.
// Usage: bench-store [--n N] [--engines outpost,outpost_synced,lmdb,sqlite] [--dir DIR] [--keep]
//                    [--verify-objects]
// outpost_synced is the same entity marked sync: every put also writes a GID and a change-log
// record. Figures go to stdout as "NAME: VALUE unit" (grouped by row: each row runs for every
// engine in turn), then "ratio NAME: VALUE (target ...)"; progress goes to stderr. query_indexed
// runs on the put_1txn store after an index on category is added to it (Outpost: reopened with the
// indexed model; SQLite: CREATE INDEX), so no other row maintains that index.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <random>

#include "store/engine.hpp"

namespace outpost::bench {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBatch = 1000;
constexpr size_t kQueries = 1000;   // equality queries per round of the query row
constexpr size_t kQueryRounds = 5;  // rounds, engines alternating; the median round is reported

std::string g_run_dir;  // removed at exit unless --keep
bool g_keep = false;

void remove_run_dir() {
    if (g_run_dir.empty() || g_keep) return;
    std::error_code ec;
    fs::remove_all(g_run_dir, ec);
}

std::string make_run_dir(const std::string& base) {
    std::string pattern = (fs::path(base) / "outpost-bench-store-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) fail("creating a temp dir in " + base, std::strerror(errno));
    return pattern;
}

// A fresh, empty directory for one store.
std::string fresh_dir(std::string_view engine, std::string_view what) {
    fs::path p = fs::path(g_run_dir) / (std::string(engine) + "-" + std::string(what));
    std::error_code ec;
    fs::remove_all(p, ec);
    if (!fs::create_directories(p, ec)) fail("creating " + p.string(), ec.message());
    return p.string();
}

struct Report {
    std::map<std::string, double> values;  // "outpost_put_1txn" -> objects/s
    void print(const std::string& name, double value, std::string_view unit) {
        values[name] = value;
        if (unit == "objects/s" || unit == "queries/s" || unit == "bytes") {
            std::printf("%s: %.0f %.*s\n", name.c_str(), value, static_cast<int>(unit.size()),
                        unit.data());
        } else {
            std::printf("%s: %.2f %.*s\n", name.c_str(), value, static_cast<int>(unit.size()),
                        unit.data());
        }
        std::fflush(stdout);
    }
};

// Runs FN once and prints its throughput over OBJECTS objects as ENGINE_ROW.
void time_row(Report& report, const Engine& engine, std::string_view row, size_t objects,
              const std::function<void()>& fn) {
    std::fprintf(stderr, "bench-store: %.*s %.*s (%zu objects) ...\n",
                 static_cast<int>(engine.name().size()), engine.name().data(),
                 static_cast<int>(row.size()), row.data(), objects);
    auto start = std::chrono::steady_clock::now();
    fn();
    std::chrono::duration<double> secs = std::chrono::steady_clock::now() - start;
    std::fprintf(stderr, "bench-store:   %.3f s\n", secs.count());
    report.print(std::string(engine.name()) + "_" + std::string(row),
                 static_cast<double>(objects) / secs.count(), "objects/s");
}

void expect_sum(const Engine& engine, std::string_view row, const Checksum& got,
                const Checksum& want) {
    if (got == want) return;
    fail(std::string(engine.name()) + " " + std::string(row),
         "checksum " + std::to_string(got.value) + " over " + std::to_string(got.objects) +
             " objects, want " + std::to_string(want.value) + " over " +
             std::to_string(want.objects));
}

void expect_ids(const Engine& engine, const std::vector<BenchObject>& objects) {
    for (size_t i = 0; i < objects.size(); ++i) {
        if (objects[i].id != i + 1)
            fail(std::string(engine.name()) + " put",
                 "object " + std::to_string(i) + " got id " + std::to_string(objects[i].id));
    }
}

void expect_count(Engine& engine, std::string_view row, uint64_t want) {
    uint64_t n = engine.count();
    if (n != want) {
        fail(std::string(engine.name()) + " " + std::string(row),
             "count " + std::to_string(n) + ", want " + std::to_string(want));
    }
}

struct Expected {
    Checksum stored;   // every object as put
    Checksum updated;  // every object after the update row (counter + 1)
    Checksum queried;  // every object that the query row's queries find, as put
};

// The query row on the put_1txn stores: adds the index (timed, as ENGINE_index_build), then runs
// the CATEGORIES queries kQueryRounds times, the engines taking turns, and reports the median
// round.
void run_query_row(std::vector<std::unique_ptr<Engine>>& engines,
                   std::span<const int64_t> categories, size_t objects, const Checksum& want,
                   Report& report) {
    std::vector<Engine*> queried;
    for (auto& e : engines) {
        if (e->has_queries()) queried.push_back(e.get());
    }
    for (Engine* e : queried) {
        time_row(report, *e, "index_build", objects, [&] { e->add_category_index(); });
    }
    std::vector<std::vector<double>> secs(queried.size());
    for (size_t round = 0; round < kQueryRounds; ++round) {
        for (size_t i = 0; i < queried.size(); ++i) {
            Checksum sum;
            auto start = std::chrono::steady_clock::now();
            queried[i]->query_category(categories, kBatch, sum);
            std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
            expect_sum(*queried[i], "query_indexed", sum, want);
            secs[i].push_back(d.count());
        }
    }
    for (size_t i = 0; i < queried.size(); ++i) {
        std::sort(secs[i].begin(), secs[i].end());
        std::fprintf(stderr, "bench-store: %.*s query_indexed rounds: %.4f .. %.4f s\n",
                     static_cast<int>(queried[i]->name().size()), queried[i]->name().data(),
                     secs[i].front(), secs[i].back());
        report.print(std::string(queried[i]->name()) + "_query_indexed",
                     static_cast<double>(categories.size()) / secs[i][secs[i].size() / 2],
                     "queries/s");
    }
}

// Runs every row for every engine, one row at a time across the engines, so that the figures a
// ratio compares are measured close together in time (the machine's load drifts).
void run_rows(std::vector<std::unique_ptr<Engine>>& engines, std::vector<BenchObject>& objects,
              std::span<const uint64_t> seq_ids, std::span<const uint64_t> random_ids,
              std::span<const int64_t> categories, const Expected& want, Report& report) {
    size_t n = objects.size();
    // put_1txn in a store of its own, which then gives the size figure and, with the index on
    // category added, the query row.
    for (auto& e : engines) {
        std::string name(e->name());
        e->open(fresh_dir(name, "1txn"));
        time_row(report, *e, "put_1txn", n, [&] { e->put(objects, std::max<size_t>(n, 1)); });
        expect_ids(*e, objects);
        expect_count(*e, "put_1txn", n);
        report.print(name + "_used_bytes", static_cast<double>(e->used_bytes()), "bytes");
    }
    run_query_row(engines, categories, n, want.queried, report);
    for (auto& e : engines) e->close();
    // The other rows in a second store per engine, in this order (each row needs the one before).
    for (auto& e : engines) e->open(fresh_dir(e->name(), "batched"));
    for (auto& e : engines) {
        time_row(report, *e, "put_batch1000", n, [&] { e->put(objects, kBatch); });
        expect_ids(*e, objects);
        expect_count(*e, "put_batch1000", n);
    }
    for (auto& e : engines) {
        Checksum sum;
        time_row(report, *e, "get_seq", n, [&] { e->get(seq_ids, kBatch, sum); });
        expect_sum(*e, "get_seq", sum, want.stored);
    }
    for (auto& e : engines) {
        Checksum sum;
        time_row(report, *e, "get_random", n, [&] { e->get(random_ids, kBatch, sum); });
        expect_sum(*e, "get_random", sum, want.stored);
    }
    for (auto& e : engines) time_row(report, *e, "update", n, [&] { e->update(seq_ids, kBatch); });
    for (auto& e : engines) {
        Checksum sum;
        time_row(report, *e, "scan", n, [&] { e->scan(sum); });
        expect_sum(*e, "scan", sum, want.updated);
    }
    for (auto& e : engines) {
        time_row(report, *e, "remove", n, [&] { e->remove(seq_ids, kBatch); });
        expect_count(*e, "remove", 0);
    }
    for (auto& e : engines) e->close();
}

void print_ratio(const Report& report, std::string_view name, const std::string& ours,
                 const std::string& base, bool at_least, double target) {
    auto a = report.values.find(ours), b = report.values.find(base);
    if (a == report.values.end() || b == report.values.end() || b->second == 0) return;
    double r = a->second / b->second;
    bool met = at_least ? r >= target : r <= target;
    std::printf("ratio %.*s: %.2f (target %s %.1f: %s)\n", static_cast<int>(name.size()),
                name.data(), r, at_least ? ">=" : "<=", target, met ? "met" : "MISSED");
}

int run(int argc, char** argv) {
    size_t n = 1000000;
    std::vector<std::string> engine_names = {"outpost", "outpost_synced", "lmdb", "sqlite"};
    std::string base = fs::temp_directory_path().string();
    CLI::App app{"Store benchmark: Outpost's typed API against raw LMDB and SQLite"};
    app.add_option("--n", n, "number of objects")->check(CLI::PositiveNumber);
    app.add_option("--engines", engine_names, "engines to run, in order")
        ->delimiter(',')
        ->check(CLI::IsMember({"outpost", "outpost_synced", "lmdb", "sqlite"}));
    app.add_option("--dir", base, "where to make the run's temp dir")
        ->check(CLI::ExistingDirectory);
    app.add_flag("--keep", g_keep, "keep the stores after the run");
    bool verify_objects = false;
    app.add_flag("--verify-objects", verify_objects,
                 "open the Outpost stores with StoreOptions::verify_objects (every read verified)");
    CLI11_PARSE(app, argc, argv);
    for (const auto& name : engine_names) {
        if (std::count(engine_names.begin(), engine_names.end(), name) > 1)
            fail("--engines", name + " twice");
    }

    std::fprintf(stderr, "bench-store: making %zu objects ...\n", n);
    std::vector<BenchObject> objects = make_objects(n);
    uint64_t payload = payload_bytes(objects);
    Expected want;
    for (size_t i = 0; i < n; ++i) {
        BenchObject o = objects[i];
        o.id = i + 1;
        want.stored.add(o);
        o.counter += 1;
        want.updated.add(o);
    }
    std::vector<uint64_t> seq_ids(n);
    std::iota(seq_ids.begin(), seq_ids.end(), uint64_t{1});
    std::vector<uint64_t> random_ids = seq_ids;
    std::shuffle(random_ids.begin(), random_ids.end(), std::mt19937_64(7));
    // The query row looks up the categories of kQueries objects picked at random (so every query
    // finds at least one object); want.queried sums every object of each such category.
    std::vector<int64_t> categories(kQueries);
    for (size_t j = 0; j < kQueries; ++j) categories[j] = objects[random_ids[j % n] - 1].category;
    {
        std::vector<std::pair<int64_t, size_t>> by_category(n);
        for (size_t i = 0; i < n; ++i) by_category[i] = {objects[i].category, i};
        std::sort(by_category.begin(), by_category.end());
        for (int64_t c : categories) {
            auto it = std::lower_bound(by_category.begin(), by_category.end(),
                                       std::pair<int64_t, size_t>{c, 0});
            for (; it != by_category.end() && it->first == c; ++it) {
                BenchObject o = objects[it->second];
                o.id = it->second + 1;
                want.queried.add(o);
            }
        }
    }

    g_run_dir = make_run_dir(base);
    std::atexit(remove_run_dir);
    std::fprintf(stderr, "bench-store: stores under %s\n", g_run_dir.c_str());

    std::printf(
        "# store benchmark: %zu objects, %.1f bytes of payload each on average "
        "(id, int64, double, date, int64 category: 8 bytes each; a string of 64-76 chars)\n",
        n, static_cast<double>(payload) / static_cast<double>(n));
    std::printf(
        "# no fsync: every engine in its own fresh temp dir with Outpost StoreOptions::no_sync, "
        "LMDB MDB_NOSYNC, SQLite WAL + synchronous=OFF\n");
    std::printf(
        "# rows: put_1txn = all in one write txn; put_batch1000, get_*, update (get + put of one "
        "property), remove = txns of %zu objects; scan = all objects into a vector in one read "
        "txn; "
        "every read materializes a BenchObject (string copied); each row runs once\n",
        kBatch);
    std::printf(
        "# query_indexed: %zu equality queries (category == value, about 10 objects each; "
        "%.2f on average here) in one read txn, on the put_1txn store after adding an index on "
        "category (index_build: Outpost reopens with the indexed model, SQLite CREATE INDEX); "
        "query built/prepared once, then per value set_parameter + find (Outpost TypedQuery) or "
        "bind + step (SQLite); %zu rounds, engines alternating, median round reported; "
        "no raw LMDB (no secondary index); no other row maintains that index\n",
        kQueries, static_cast<double>(want.queried.objects) / static_cast<double>(kQueries),
        kQueryRounds);
    if (verify_objects) {
        std::printf(
            "# --verify-objects: the Outpost stores verify every object they read "
            "(StoreOptions::verify_objects)\n");
    }
    Report report;
    report.print("payload_bytes", static_cast<double>(payload), "bytes");
    std::vector<std::unique_ptr<Engine>> engines;
    for (const auto& name : engine_names) {
        engines.push_back(name == "outpost"          ? make_outpost_engine(false, verify_objects)
                          : name == "outpost_synced" ? make_outpost_engine(true, verify_objects)
                          : name == "lmdb"           ? make_lmdb_engine()
                                                     : make_sqlite_engine());
    }
    run_rows(engines, objects, seq_ids, random_ids, categories, want, report);
    for (const auto& e : engines) {
        std::string name(e->name());
        report.print(name + "_size_vs_payload",
                     report.values[name + "_used_bytes"] / static_cast<double>(payload), "x");
    }
    std::printf("checksum: %llu over %llu objects per read row (equal in every engine)\n",
                static_cast<unsigned long long>(want.stored.value),
                static_cast<unsigned long long>(want.stored.objects));
    print_ratio(report, "put_vs_lmdb", "outpost_put_1txn", "lmdb_put_1txn", true, 0.5);
    print_ratio(report, "get_vs_lmdb", "outpost_get_random", "lmdb_get_random", true, 0.5);
    print_ratio(report, "put_vs_sqlite", "outpost_put_1txn", "sqlite_put_1txn", true, 1.5);
    print_ratio(report, "get_vs_sqlite", "outpost_get_random", "sqlite_get_random", true, 1.5);
    print_ratio(report, "put_synced_vs_local", "outpost_synced_put_1txn", "outpost_put_1txn", true,
                0.7);
    print_ratio(report, "query_indexed_vs_sqlite", "outpost_query_indexed", "sqlite_query_indexed",
                true, 1.5);
    if (report.values.count("outpost_used_bytes")) {
        double r = report.values["outpost_used_bytes"] / static_cast<double>(payload);
        std::printf("ratio size_vs_payload: %.2f (target <= 2.5: %s)\n", r,
                    r <= 2.5 ? "met" : "MISSED");
    }
    return 0;
}

}  // namespace
}  // namespace outpost::bench

int main(int argc, char** argv) { return outpost::bench::run(argc, argv); }
