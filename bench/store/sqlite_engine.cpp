// Baseline: SQLite with prepared statements, WAL, an INTEGER PRIMARY KEY and synchronous=OFF (the
// benchmark's no-fsync setting); other settings (page cache, page size) are SQLite's defaults. The
// query row adds an index on category (CREATE INDEX) and runs a prepared SELECT ... WHERE category
// = ?.
#include <sqlite3.h>

#include "store/engine.hpp"

namespace outpost::bench {

namespace {

class SqliteEngine : public Engine {
  public:
    ~SqliteEngine() override { close(); }
    std::string_view name() const override { return "sqlite"; }

    void open(const std::string& dir) override {
        check(sqlite3_open((dir + "/bench.sqlite").c_str(), &db_), "sqlite3_open");
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=OFF");
        exec(
            "CREATE TABLE objects (id INTEGER PRIMARY KEY, counter INTEGER NOT NULL, "
            "score REAL NOT NULL, text TEXT NOT NULL, created INTEGER NOT NULL, "
            "category INTEGER NOT NULL)");
        begin_ = prepare("BEGIN");
        commit_ = prepare("COMMIT");
        insert_ = prepare(
            "INSERT INTO objects (id, counter, score, text, created, category) "
            "VALUES (?, ?, ?, ?, ?, ?)");
        select_ =
            prepare("SELECT counter, score, text, created, category FROM objects WHERE id = ?");
        update_ = prepare("UPDATE objects SET counter = ? WHERE id = ?");
        scan_ =
            prepare("SELECT id, counter, score, text, created, category FROM objects ORDER BY id");
        delete_ = prepare("DELETE FROM objects WHERE id = ?");
        count_ = prepare("SELECT count(*) FROM objects");
    }

    void close() override {
        for (sqlite3_stmt** s : {&begin_, &commit_, &insert_, &select_, &update_, &scan_, &delete_,
                                 &count_, &query_}) {
            sqlite3_finalize(*s);
            *s = nullptr;
        }
        if (db_) sqlite3_close(db_);
        db_ = nullptr;
    }

    void put(std::vector<BenchObject>& objects, size_t batch) override {
        for (size_t i = 0; i < objects.size(); i += batch) {
            step_done(begin_, "BEGIN");
            for (size_t j = i; j < std::min(objects.size(), i + batch); ++j) {
                BenchObject& o = objects[j];
                o.id = j + 1;
                sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(o.id));
                sqlite3_bind_int64(insert_, 2, o.counter);
                sqlite3_bind_double(insert_, 3, o.score);
                sqlite3_bind_text(insert_, 4, o.text.data(), static_cast<int>(o.text.size()),
                                  SQLITE_STATIC);
                sqlite3_bind_int64(insert_, 5, o.created);
                sqlite3_bind_int64(insert_, 6, o.category);
                step_done(insert_, "INSERT");
            }
            step_done(commit_, "COMMIT");
        }
    }

    void get(std::span<const uint64_t> ids, size_t batch, Checksum& sum) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            step_done(begin_, "BEGIN");
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) sum.add(select(ids[j]));
            step_done(commit_, "COMMIT");
        }
    }

    void update(std::span<const uint64_t> ids, size_t batch) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            step_done(begin_, "BEGIN");
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                BenchObject o = select(ids[j]);
                o.counter += 1;
                sqlite3_bind_int64(update_, 1, o.counter);
                sqlite3_bind_int64(update_, 2, static_cast<sqlite3_int64>(o.id));
                step_done(update_, "UPDATE");
            }
            step_done(commit_, "COMMIT");
        }
    }

    void scan(Checksum& sum) override {
        step_done(begin_, "BEGIN");
        std::vector<BenchObject> all;
        all.reserve(count());
        int rc;
        while ((rc = sqlite3_step(scan_)) == SQLITE_ROW) {
            BenchObject o;
            o.id = static_cast<uint64_t>(sqlite3_column_int64(scan_, 0));
            read_columns(scan_, 1, o);
            all.push_back(std::move(o));
        }
        if (rc != SQLITE_DONE) fail("SELECT all", sqlite3_errmsg(db_));
        sqlite3_reset(scan_);
        step_done(commit_, "COMMIT");
        for (const auto& o : all) sum.add(o);
    }

    void remove(std::span<const uint64_t> ids, size_t batch) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            step_done(begin_, "BEGIN");
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                sqlite3_bind_int64(delete_, 1, static_cast<sqlite3_int64>(ids[j]));
                step_done(delete_, "DELETE");
                if (sqlite3_changes(db_) != 1) fail("DELETE", "no such row");
            }
            step_done(commit_, "COMMIT");
        }
    }

    uint64_t count() override {
        if (sqlite3_step(count_) != SQLITE_ROW) fail("SELECT count", sqlite3_errmsg(db_));
        auto n = static_cast<uint64_t>(sqlite3_column_int64(count_, 0));
        sqlite3_reset(count_);
        return n;
    }

    uint64_t used_bytes() override {
        exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return pragma_int("PRAGMA page_count") * pragma_int("PRAGMA page_size");
    }

    bool has_queries() const override { return true; }

    void add_category_index() override {
        exec("CREATE INDEX objects_category ON objects (category)");
        query_ = prepare(
            "SELECT id, counter, score, text, created, category FROM objects WHERE category = ?");
    }

    void query_category(std::span<const int64_t> categories, size_t batch, Checksum& sum) override {
        for (size_t i = 0; i < categories.size(); i += batch) {
            step_done(begin_, "BEGIN");
            for (size_t j = i; j < std::min(categories.size(), i + batch); ++j) {
                sqlite3_bind_int64(query_, 1, categories[j]);
                int rc;
                while ((rc = sqlite3_step(query_)) == SQLITE_ROW) {
                    BenchObject o;
                    o.id = static_cast<uint64_t>(sqlite3_column_int64(query_, 0));
                    read_columns(query_, 1, o);
                    sum.add(o);
                }
                if (rc != SQLITE_DONE) fail("SELECT by category", sqlite3_errmsg(db_));
                sqlite3_reset(query_);
            }
            step_done(commit_, "COMMIT");
        }
    }

  private:
    void check(int rc, std::string_view what) {
        if (rc != SQLITE_OK) fail(what, db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    }
    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            fail(sql, msg);
        }
    }
    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* s = nullptr;
        check(sqlite3_prepare_v2(db_, sql, -1, &s, nullptr), sql);
        return s;
    }
    uint64_t pragma_int(const char* sql) {
        sqlite3_stmt* s = prepare(sql);
        if (sqlite3_step(s) != SQLITE_ROW) fail(sql, sqlite3_errmsg(db_));
        auto v = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
        sqlite3_finalize(s);
        return v;
    }
    // Runs a statement that returns no rows, then resets it for the next use.
    void step_done(sqlite3_stmt* s, std::string_view what) {
        if (sqlite3_step(s) != SQLITE_DONE) fail(what, sqlite3_errmsg(db_));
        sqlite3_reset(s);
    }
    static void read_columns(sqlite3_stmt* s, int first, BenchObject& o) {
        o.counter = sqlite3_column_int64(s, first);
        o.score = sqlite3_column_double(s, first + 1);
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, first + 2));
        o.text.assign(text, static_cast<size_t>(sqlite3_column_bytes(s, first + 2)));
        o.created = sqlite3_column_int64(s, first + 3);
        o.category = sqlite3_column_int64(s, first + 4);
    }
    BenchObject select(uint64_t id) {
        sqlite3_bind_int64(select_, 1, static_cast<sqlite3_int64>(id));
        if (sqlite3_step(select_) != SQLITE_ROW)
            fail("SELECT", "object " + std::to_string(id) + " is missing");
        BenchObject o;
        o.id = id;
        read_columns(select_, 0, o);
        sqlite3_reset(select_);
        return o;
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* begin_ = nullptr;
    sqlite3_stmt* commit_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* select_ = nullptr;
    sqlite3_stmt* update_ = nullptr;
    sqlite3_stmt* scan_ = nullptr;
    sqlite3_stmt* delete_ = nullptr;
    sqlite3_stmt* count_ = nullptr;
    sqlite3_stmt* query_ = nullptr;
};

}  // namespace

std::unique_ptr<Engine> make_sqlite_engine() { return std::make_unique<SqliteEngine>(); }

}  // namespace outpost::bench
