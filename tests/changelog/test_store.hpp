#pragma once
// Helpers of the change-log tests over a temporary store with the change-log model
// (tests/common/models.hpp: Person, Note with a to-one and a to-many, and a local entity).
#include <gtest/gtest.h>
#include <lmdb.h>

#include <string>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"

namespace outpost::testing {

using ::outpost::test::changelog_model;
using ::outpost::test::TempDir;

inline std::shared_ptr<Store> open_store(const std::string& dir, const Model& m) {
    StoreOptions o;
    o.no_sync = true;
    auto s = Store::open(dir, m, o);
    EXPECT_OK(s);
    return s.value();
}

inline std::vector<ChangeLogRecord> read_all(Store& store) {
    auto txn = store.begin_read();
    auto recs = ChangeLog::read(*txn, 0, 1000000);
    EXPECT_OK(recs);
    return recs.value();
}

// Entries in the LMDB table TABLE of DIR's store (the store must be closed).
inline size_t table_entries(const std::string& dir, const char* table) {
    MDB_env* env = nullptr;
    EXPECT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 64);
    EXPECT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644), 0);
    MDB_txn* txn = nullptr;
    EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
    MDB_dbi dbi;
    size_t n = 0;
    if (mdb_dbi_open(txn, table, 0, &dbi) == 0) {
        MDB_stat st;
        EXPECT_EQ(mdb_stat(txn, dbi, &st), 0);
        n = st.ms_entries;
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}

inline uint64_t uid_of(const Store& store, const char* entity, const char* prop) {
    return store.model().entity(entity)->property(prop)->id.uid;
}

inline const PropertyChange* find_prop(const ObjectChange& c, uint64_t uid) {
    for (const auto& p : c.properties) {
        if (p.property_uid == uid) return &p;
    }
    return nullptr;
}

}  // namespace outpost::testing
