#pragma once
// The store benchmark's common parts: the benchmark object, its data, the checksum that keeps reads
// from being optimized away, and the interface each engine (Outpost, raw LMDB, SQLite) implements.

#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/box.hpp"

namespace outpost::bench {

// About 110 bytes of payload: id, an int64, a double, a date (ms), a string of 64-76 chars and
// the int64 that the query row looks objects up by (category: about 10 objects share a value).
struct BenchObject {
    uint64_t id = 0;
    int64_t counter = 0;
    double score = 0;
    std::string text;
    int64_t created = 0;
    int64_t category = 0;
};

// The model the Outpost engines open their stores with (built in code). SYNCED makes BenchObject a
// synced entity (GIDs and a change log). INDEXED adds the index on category; the rows other than
// query_indexed run without it, so that their puts maintain no index, like raw LMDB's.
Model bench_model(bool synced = false, bool indexed = false);

// N objects with ids 0; the same N gives the same objects. category is in [0, max(1, N / 10)).
std::vector<BenchObject> make_objects(size_t n);

// Bytes of the data itself: 8 per integer, double and date field (id and category included) plus
// the string.
uint64_t payload_bytes(const std::vector<BenchObject>& objects);

// An order-independent sum over every object read; engines that read the same data agree.
struct Checksum {
    uint64_t value = 0;
    uint64_t objects = 0;
    void add(const BenchObject& o) {
        uint64_t h = o.id * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(o.counter) * 31 +
                     std::bit_cast<uint64_t>(o.score) + static_cast<uint64_t>(o.created) +
                     static_cast<uint64_t>(o.category) * 131 + o.text.size();
        if (!o.text.empty()) {
            h += static_cast<unsigned char>(o.text.front()) * 7u +
                 static_cast<unsigned char>(o.text.back());
        }
        value += h;
        ++objects;
    }
    friend bool operator==(const Checksum&, const Checksum&) = default;
};

// One engine under test. Every method runs one benchmark row; an error ends the program (fail()).
class Engine {
  public:
    virtual ~Engine() = default;
    virtual std::string_view name() const = 0;
    // Opens a new store in the empty directory DIR, without fsync on commit.
    virtual void open(const std::string& dir) = 0;
    virtual void close() = 0;
    // Inserts OBJECTS in write transactions of BATCH objects; object i gets id i + 1.
    virtual void put(std::vector<BenchObject>& objects, size_t batch) = 0;
    // Reads each of IDS into a new BenchObject, in read transactions of BATCH ids, and adds it to
    // SUM.
    virtual void get(std::span<const uint64_t> ids, size_t batch, Checksum& sum) = 0;
    // Adds 1 to the counter of each of IDS (read the object, write it back), write txns of BATCH.
    virtual void update(std::span<const uint64_t> ids, size_t batch) = 0;
    // Reads all objects into a vector in one read transaction and adds each to SUM.
    virtual void scan(Checksum& sum) = 0;
    // Removes each of IDS, in write transactions of BATCH ids.
    virtual void remove(std::span<const uint64_t> ids, size_t batch) = 0;
    virtual uint64_t count() = 0;
    // Bytes of the store's files in use (pages up to the last one used; SQLite: after a
    // checkpoint).
    virtual uint64_t used_bytes() = 0;

    // The query row. Engines without queries (raw LMDB) keep these defaults and skip the row.
    virtual bool has_queries() const { return false; }
    // Adds an index on category to the open store (built from the objects in it).
    virtual void add_category_index() {}
    // Runs one equality query per value of CATEGORIES (category == value), in read transactions of
    // BATCH queries, reads every object found into a new BenchObject and adds it to SUM.
    virtual void query_category(std::span<const int64_t> categories, size_t batch, Checksum& sum) {
        (void)categories, (void)batch, (void)sum;
    }
};

// VERIFY_OBJECTS: the store is opened with StoreOptions::verify_objects (every read verified).
std::unique_ptr<Engine> make_outpost_engine(bool synced = false, bool verify_objects = false);
std::unique_ptr<Engine> make_lmdb_engine();
std::unique_ptr<Engine> make_sqlite_engine();

// Prints "bench-store: WHAT: DETAIL" to stderr and exits 1.
[[noreturn]] void fail(std::string_view what, std::string_view detail);

}  // namespace outpost::bench

OUTPOST_ENTITY_AS(outpost::bench::BenchObject, "BenchObject",
                  outpost::field("id", &outpost::bench::BenchObject::id),
                  outpost::field("counter", &outpost::bench::BenchObject::counter),
                  outpost::field("score", &outpost::bench::BenchObject::score),
                  outpost::field("text", &outpost::bench::BenchObject::text),
                  outpost::field("created", &outpost::bench::BenchObject::created),
                  outpost::field("category", &outpost::bench::BenchObject::category))
