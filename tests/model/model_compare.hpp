#pragma once
// Field-by-field comparison of two models (Model has no operator==), with gtest failures that say
// which field differs.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "outpost/model.hpp"

namespace outpost::test {

inline void expect_same_property(const Property& a, const Property& b, const std::string& where) {
    SCOPED_TRACE(where + "." + a.name);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.flags, b.flags);
    EXPECT_EQ(a.index_id, b.index_id);
    EXPECT_EQ(a.target, b.target);
    EXPECT_EQ(a.external_name, b.external_name);
    EXPECT_EQ(a.external_type, b.external_type);
}

inline void expect_same_model(const Model& a, const Model& b) {
    ASSERT_EQ(a.entities.size(), b.entities.size());
    for (size_t i = 0; i < a.entities.size(); ++i) {
        const Entity& ea = a.entities[i];
        const Entity& eb = b.entities[i];
        SCOPED_TRACE("entity " + ea.name);
        EXPECT_EQ(ea.name, eb.name);
        EXPECT_EQ(ea.id, eb.id);
        EXPECT_EQ(ea.sync, eb.sync);
        EXPECT_EQ(ea.last_property_id, eb.last_property_id);
        EXPECT_EQ(ea.external_name, eb.external_name);
        ASSERT_EQ(ea.properties.size(), eb.properties.size());
        for (size_t p = 0; p < ea.properties.size(); ++p) {
            expect_same_property(ea.properties[p], eb.properties[p], ea.name);
        }
        ASSERT_EQ(ea.relations.size(), eb.relations.size());
        for (size_t r = 0; r < ea.relations.size(); ++r) {
            EXPECT_EQ(ea.relations[r].name, eb.relations[r].name);
            EXPECT_EQ(ea.relations[r].id, eb.relations[r].id);
            EXPECT_EQ(ea.relations[r].target, eb.relations[r].target);
            EXPECT_EQ(ea.relations[r].external_name, eb.relations[r].external_name);
        }
    }
    EXPECT_EQ(a.last_entity_id, b.last_entity_id);
    EXPECT_EQ(a.last_index_id, b.last_index_id);
    EXPECT_EQ(a.last_relation_id, b.last_relation_id);
    EXPECT_EQ(a.retired_entity_uids, b.retired_entity_uids);
    EXPECT_EQ(a.retired_property_uids, b.retired_property_uids);
    EXPECT_EQ(a.retired_index_uids, b.retired_index_uids);
    EXPECT_EQ(a.retired_relation_uids, b.retired_relation_uids);
}

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string tasks_model_path() {
    return std::string(OUTPOST_SOURCE_DIR) + "/examples/tasks/tasks-model.json";
}

}  // namespace outpost::test
