#pragma once
// Helpers shared by the store tests and the crash test: tests/common (temporary directories, status
// assertions) and a white-box check that every index and backlink table agrees with the objects.

#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "outpost/store.hpp"
#include "store/index.hpp"
#include "store/value_printer.hpp"

namespace outpost::test {

// Compares every index and to-many backlink table of the box's entity with what its objects say.
// Returns an empty string when they agree, else a description of the first differences.
inline std::string check_indexes(const DynamicBox& box, Txn& txn) {
    const detail::EntityInfo& e = *detail::Access::info(box);
    MDB_txn* t = detail::Access::state(txn)->txn;
    std::string problems;
    using Entries = std::set<std::pair<std::string, uint64_t>>;
    auto scan = [&](MDB_dbi dbi, auto&& fn) {
        if (dbi == 0) return;
        MDB_cursor* cur = nullptr;
        if (mdb_cursor_open(t, dbi, &cur) != 0) {
            problems += "cannot open a cursor; ";
            return;
        }
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            fn(k, v);
        }
        mdb_cursor_close(cur);
    };
    auto describe = [](const Entries& a, const Entries& b) {
        std::string out;
        int shown = 0;
        for (const auto& x : a) {
            if (b.count(x) || shown >= 5) continue;
            out += " id " + std::to_string(x.second) + " (key of " +
                   std::to_string(x.first.size()) + " bytes)";
            ++shown;
        }
        return out;
    };
    for (const auto& idx : e.indexes) {
        Entries want, have;
        scan(e.objects, [&](const MDB_val& k, const MDB_val& v) {
            ObjectReader r =
                detail::Access::reader(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
            if (auto key = detail::index_key(idx, r)) want.emplace(*key, detail::read_u64(k));
        });
        scan(idx.dbi, [&](const MDB_val& k, const MDB_val& v) {
            have.emplace(std::string(detail::as_view(k)), detail::read_u64(v));
        });
        if (want != have) {
            problems += e.entity->name + "." + idx.prop->name +
                        ": missing from the index:" + describe(want, have) +
                        "; stale in the index:" + describe(have, want) + ". ";
        }
    }
    for (const auto& r : e.relations) {
        std::set<std::pair<uint64_t, uint64_t>> want, have;  // (target, source)
        scan(r.list_dbi, [&](const MDB_val& k, const MDB_val& v) {
            uint64_t src = detail::read_u64(k);
            std::vector<uint64_t> ids(v.mv_size / 8);
            if (!ids.empty()) std::memcpy(ids.data(), v.mv_data, ids.size() * 8);
            for (uint64_t target : ids) {
                if (target != 0) want.emplace(target, src);
            }
        });
        scan(r.backlink_dbi, [&](const MDB_val& k, const MDB_val& v) {
            have.emplace(detail::read_u64(k), detail::read_u64(v));
        });
        if (want != have) {
            problems += e.entity->name + "." + r.rel->name + ": backlinks (" +
                        std::to_string(have.size()) + ") disagree with the lists (" +
                        std::to_string(want.size()) + "). ";
        }
    }
    return problems;
}

}  // namespace outpost::test
