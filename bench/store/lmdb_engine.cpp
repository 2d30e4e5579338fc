// Baseline: raw LMDB. One named database with MDB_INTEGERKEY (id -> value), the value a packed
// record of the same data (counter, score, created, category, then the text's bytes), the same
// environment flags as Outpost's store (MDB_NOTLS, and MDB_NOSYNC for the benchmark). No query
// row: raw LMDB has no secondary index.
#include <lmdb.h>

#include <cstring>

#include "store/engine.hpp"

namespace outpost::bench {

namespace {

constexpr size_t kHeader = 4 * 8;

void check(int rc, std::string_view what) {
    if (rc != MDB_SUCCESS) fail(what, mdb_strerror(rc));
}

void encode(const BenchObject& o, std::string& out) {
    out.resize(kHeader + o.text.size());
    std::memcpy(out.data(), &o.counter, 8);
    std::memcpy(out.data() + 8, &o.score, 8);
    std::memcpy(out.data() + 16, &o.created, 8);
    std::memcpy(out.data() + 24, &o.category, 8);
    std::memcpy(out.data() + kHeader, o.text.data(), o.text.size());
}

BenchObject decode(uint64_t id, const MDB_val& v) {
    if (v.mv_size < kHeader) fail("decode", "short record");
    const char* p = static_cast<const char*>(v.mv_data);
    BenchObject o;
    o.id = id;
    std::memcpy(&o.counter, p, 8);
    std::memcpy(&o.score, p + 8, 8);
    std::memcpy(&o.created, p + 16, 8);
    std::memcpy(&o.category, p + 24, 8);
    o.text.assign(p + kHeader, v.mv_size - kHeader);
    return o;
}

class LmdbEngine : public Engine {
  public:
    ~LmdbEngine() override { close(); }
    std::string_view name() const override { return "lmdb"; }

    void open(const std::string& dir) override {
        check(mdb_env_create(&env_), "mdb_env_create");
        check(mdb_env_set_mapsize(env_, 1ull << 32), "mdb_env_set_mapsize");
        check(mdb_env_set_maxdbs(env_, 4), "mdb_env_set_maxdbs");
        check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0644), "mdb_env_open");
        MDB_txn* txn;
        check(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
        check(mdb_dbi_open(txn, "objects", MDB_INTEGERKEY | MDB_CREATE, &dbi_), "mdb_dbi_open");
        check(mdb_txn_commit(txn), "mdb_txn_commit");
    }

    void close() override {
        if (env_) mdb_env_close(env_);
        env_ = nullptr;
    }

    void put(std::vector<BenchObject>& objects, size_t batch) override {
        std::string buf;
        for (size_t i = 0; i < objects.size(); i += batch) {
            MDB_txn* txn = begin(0);
            for (size_t j = i; j < std::min(objects.size(), i + batch); ++j) {
                objects[j].id = j + 1;
                encode(objects[j], buf);
                MDB_val k{8, &objects[j].id}, v{buf.size(), buf.data()};
                check(mdb_put(txn, dbi_, &k, &v, 0), "mdb_put");
            }
            check(mdb_txn_commit(txn), "mdb_txn_commit");
        }
    }

    void get(std::span<const uint64_t> ids, size_t batch, Checksum& sum) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            MDB_txn* txn = begin(MDB_RDONLY);
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                uint64_t id = ids[j];
                MDB_val k{8, &id}, v;
                check(mdb_get(txn, dbi_, &k, &v), "mdb_get");
                sum.add(decode(id, v));
            }
            mdb_txn_abort(txn);
        }
    }

    void update(std::span<const uint64_t> ids, size_t batch) override {
        std::string buf;
        for (size_t i = 0; i < ids.size(); i += batch) {
            MDB_txn* txn = begin(0);
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                uint64_t id = ids[j];
                MDB_val k{8, &id}, v;
                check(mdb_get(txn, dbi_, &k, &v), "mdb_get");
                BenchObject o = decode(id, v);
                o.counter += 1;
                encode(o, buf);
                v = MDB_val{buf.size(), buf.data()};
                check(mdb_put(txn, dbi_, &k, &v, 0), "mdb_put");
            }
            check(mdb_txn_commit(txn), "mdb_txn_commit");
        }
    }

    void scan(Checksum& sum) override {
        MDB_txn* txn = begin(MDB_RDONLY);
        std::vector<BenchObject> all;
        all.reserve(entries(txn));
        MDB_cursor* cur;
        check(mdb_cursor_open(txn, dbi_, &cur), "mdb_cursor_open");
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint64_t id;
            std::memcpy(&id, k.mv_data, 8);
            all.push_back(decode(id, v));
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        for (const auto& o : all) sum.add(o);
    }

    void remove(std::span<const uint64_t> ids, size_t batch) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            MDB_txn* txn = begin(0);
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                uint64_t id = ids[j];
                MDB_val k{8, &id};
                check(mdb_del(txn, dbi_, &k, nullptr), "mdb_del");
            }
            check(mdb_txn_commit(txn), "mdb_txn_commit");
        }
    }

    uint64_t count() override {
        MDB_txn* txn = begin(MDB_RDONLY);
        uint64_t n = entries(txn);
        mdb_txn_abort(txn);
        return n;
    }

    uint64_t used_bytes() override {
        MDB_envinfo info;
        MDB_stat st;
        check(mdb_env_info(env_, &info), "mdb_env_info");
        check(mdb_env_stat(env_, &st), "mdb_env_stat");
        return (info.me_last_pgno + 1) * st.ms_psize;
    }

  private:
    MDB_txn* begin(unsigned flags) {
        MDB_txn* txn;
        check(mdb_txn_begin(env_, nullptr, flags, &txn), "mdb_txn_begin");
        return txn;
    }
    uint64_t entries(MDB_txn* txn) {
        MDB_stat st;
        check(mdb_stat(txn, dbi_, &st), "mdb_stat");
        return st.ms_entries;
    }

    MDB_env* env_ = nullptr;
    MDB_dbi dbi_ = 0;
};

}  // namespace

std::unique_ptr<Engine> make_lmdb_engine() { return std::make_unique<LmdbEngine>(); }

}  // namespace outpost::bench
