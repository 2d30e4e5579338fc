#pragma once
// Objects of a store by local id or by GID, for tests of replicas: put, gid, find, count. A failure
// is a test failure (EXPECT_OK...), and the result then empty or 0.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/status_macros.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "outpost/store.hpp"

namespace outpost::test {

// Puts VALUES into ENTITY (updating object ID when not 0: only the named properties change);
// returns the object's id.
inline uint64_t put(Store& store, const char* entity, const std::map<std::string, Value>& values,
                    uint64_t id = 0) {
    auto box = store.box(entity).value();
    Object o = box.new_object();
    if (id != 0) {
        auto existing = box.get(id);
        EXPECT_TRUE(existing.is_ok() && existing->has_value());
        if (existing.is_ok() && existing->has_value()) o = **existing;
    }
    for (const auto& [k, v] : values) EXPECT_OK(o.set(k, v)) << k;
    auto r = box.put(o);
    EXPECT_OK(r);
    return r.is_ok() ? *r : 0;
}

// The GID of ENTITY's object ID; nullopt when it has none.
inline std::optional<Gid> gid(Store& store, const char* entity, uint64_t id) {
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    auto g = gid_of(*txn, box, id);
    EXPECT_OK(g);
    return g.is_ok() ? *g : std::nullopt;
}

// The object with GID in ENTITY, if any.
inline std::optional<Object> find(Store& store, const char* entity, const Gid& g) {
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    auto id = local_id_of(*txn, box, g);
    if (!id.is_ok() || !id->has_value()) return std::nullopt;
    auto o = box.get(*txn, **id);
    if (!o.is_ok()) return std::nullopt;
    return *o;
}

inline uint64_t count(Store& store, const char* entity) {
    auto c = store.box(entity).value().count();
    EXPECT_OK(c);
    return c.is_ok() ? *c : 0;
}

}  // namespace outpost::test
