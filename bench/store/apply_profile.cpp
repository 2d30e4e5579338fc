// The store's share of the sync server's ingest, for callgrind: a synced store makes N new objects
// (the shape bench-sync pushes: two int64s, a date, a string) in transactions of 1,000, and a
// second store applies their change-log records with ApplyMode::kRecord, one transaction per
// record, as the server does. Also N local and N synced puts in one transaction each. Usage:
// bench-apply [N] [DIR]   (defaults: 20000, /dev/shm/outpost-bench-apply; DIR is deleted)
// Instructions per object: valgrind --tool=callgrind --toggle-collect=outpost_bench_apply_all
//   build/release/bin/bench-apply 20000   (or outpost_bench_put_local, outpost_bench_put_synced)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"

using namespace outpost;

namespace {

Model bench_model(bool synced) {
    ModelBuilder b;
    b.entity("Obj")
        .sync(synced)
        .property("id", PropertyType::kInt64, kFlagId)
        .property("a", PropertyType::kInt64)
        .property("b", PropertyType::kInt64)
        .property("when", PropertyType::kDate)
        .property("text", PropertyType::kString);
    return b.build().value();
}

void check(const Status& s) {
    if (s.is_ok()) return;
    std::fprintf(stderr, "bench-apply: %s\n", s.to_string().c_str());
    std::exit(1);
}

void put_objects(Store& store, int n) {
    auto box = store.box("Obj").value();
    auto txn = store.begin_write();
    check(txn.status());
    for (int i = 0; i < n; ++i) {
        Object o = box.new_object();
        check(o.set("a", int64_t{i}));
        check(o.set("b", int64_t{2} * i));
        check(o.set("when", int64_t{1700000000000} + i));
        check(o.set("text", "text of object " + std::to_string(100000 + i)));
        check(box.put(*txn, o).status());
    }
    check(txn->commit());
}

}  // namespace

extern "C" __attribute__((noinline)) void outpost_bench_apply_all(
    Store& server, const std::vector<ChangeSet>& sets) {
    for (const auto& cs : sets) {
        auto txn = server.begin_write();
        check(txn.status());
        check(ChangeLog::apply(*txn, cs, "client", ApplyMode::kRecord));
        check(txn->commit());
    }
}
extern "C" __attribute__((noinline)) void outpost_bench_put_local(Store& store, int n) {
    put_objects(store, n);
}
extern "C" __attribute__((noinline)) void outpost_bench_put_synced(Store& store, int n) {
    put_objects(store, n);
}

int main(int argc, char** argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 20000;
    std::string dir = argc > 2 ? argv[2] : "/dev/shm/outpost-bench-apply";
    std::filesystem::remove_all(dir);
    StoreOptions options;
    options.no_sync = true;
    auto client = Store::open(dir + "/client", bench_model(true), options).value();
    auto server = Store::open(dir + "/server", bench_model(true), options).value();
    auto local = Store::open(dir + "/local", bench_model(false), options).value();
    auto synced = Store::open(dir + "/synced", bench_model(true), options).value();
    outpost_bench_put_local(*local, n);
    outpost_bench_put_synced(*synced, n);
    for (int i = 0; i < n; i += 1000) put_objects(*client, std::min(1000, n - i));
    std::vector<ChangeSet> sets;
    {
        auto t = client->begin_read();
        check(t.status());
        auto records = ChangeLog::read(*t, 0, SIZE_MAX);
        check(records.status());
        for (auto& r : *records) sets.push_back(std::move(r.changes));
    }
    auto t0 = std::chrono::steady_clock::now();
    outpost_bench_apply_all(*server, sets);
    auto t1 = std::chrono::steady_clock::now();
    std::printf("apply_kRecord_objects_per_s: %.0f objects/s (%d objects)\n",
                n / std::chrono::duration<double>(t1 - t0).count(), n);
    std::filesystem::remove_all(dir);
}
