#pragma once
// The models of the tests, in one place. Each is built the same way every time, so two stores (or a
// store and a server) opened with the same call agree on every UID.

#include <stdexcept>
#include <string>

#include "outpost/model.hpp"

namespace outpost::test {

// The built model; a builder error (a mistake in this file) throws, which fails the test that
// asked.
inline Model built(ModelBuilder& b) {
    auto m = b.build();
    if (!m.is_ok()) throw std::logic_error("test model: " + m.status().to_string());
    return std::move(m).value();
}

// --- Sync (tests/sync, tests/integration) --------------------------------------------------------

struct SyncModelOptions {
    bool nick = true;            // Person.nick, a string (a model one property newer than without)
    bool age_as_string = false;  // Person.age a string: a model the server refuses
    bool kitchen_relations =
        false;          // Kitchen.owner (to-one) and Kitchen.guests (to-many) to Person
    bool item = false;  // Item: a bulk entity (writer, n indexed, payload)
};

// Person; Note with a to-one and a to-many to Person; Kitchen with every property type; Draft, a
// local-only entity; and what OPTIONS add.
inline Model sync_model(const SyncModelOptions& options = {}) {
    ModelBuilder b;
    b.entity("Person")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, kFlagIndexed)
        .property("age", options.age_as_string ? PropertyType::kString : PropertyType::kInt32)
        .property("email", PropertyType::kString);
    if (options.nick) b.property("nick", PropertyType::kString);
    b.entity("Note")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString)
        .relation_property("author", "Person")
        .to_many("readers", "Person");
    b.entity("Kitchen")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("b", PropertyType::kBool)
        .property("i8", PropertyType::kInt8)
        .property("i16", PropertyType::kInt16)
        .property("i32", PropertyType::kInt32)
        .property("i64", PropertyType::kInt64)
        .property("f", PropertyType::kFloat)
        .property("d", PropertyType::kDouble)
        .property("s", PropertyType::kString)
        .property("date", PropertyType::kDate)
        .property("dateNano", PropertyType::kDateNano)
        .property("bytes", PropertyType::kBytes)
        .property("flex", PropertyType::kFlex)
        .property("i8v", PropertyType::kInt8Vector)
        .property("i16v", PropertyType::kInt16Vector)
        .property("i32v", PropertyType::kInt32Vector)
        .property("i64v", PropertyType::kInt64Vector)
        .property("fv", PropertyType::kFloatVector)
        .property("dv", PropertyType::kDoubleVector)
        .property("sv", PropertyType::kStringVector)
        .property("datev", PropertyType::kDateVector);
    if (options.kitchen_relations) {
        b.relation_property("owner", "Person").to_many("guests", "Person");
    }
    if (options.item) {
        b.entity("Item")
            .sync()
            .property("id", PropertyType::kInt64, kFlagId)
            .property("writer", PropertyType::kString)
            .property("n", PropertyType::kInt64, kFlagIndexed)
            .property("payload", PropertyType::kString);
    }
    b.entity("Draft")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString);
    return built(b);
}

// --- Change log (tests/changelog) ---------------------------------------------------------------

// A synced model (Person with several property types, Note with a to-one and a to-many) and a
// local entity (Draft).
inline Model changelog_model() {
    ModelBuilder b;
    b.entity("Person")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, kFlagIndexed)
        .property("age", PropertyType::kInt32)
        .property("score", PropertyType::kDouble)
        .property("photo", PropertyType::kBytes)
        .property("tags", PropertyType::kStringVector)
        .property("extra", PropertyType::kFlex);
    b.entity("Note")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString)
        .relation_property("author", "Person")
        .to_many("readers", "Person");
    b.entity("Draft")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString);
    return built(b);
}

// --- Store (tests/store, tests/integration/crash_test) -------------------------------------------

// AllTypes: one property of every type. Unsigned: the unsigned flag on every integer width.
// Person: every kind of index and unique. Author/Book: to-one and to-many. Node: self relations.
// Item: a plain entity for box operations.
inline Model store_model() {
    using T = PropertyType;
    ModelBuilder b;
    b.entity("AllTypes");
    b.property("id", T::kInt64, kFlagId);
    b.property("b", T::kBool).property("i8", T::kInt8).property("i16", T::kInt16);
    b.property("i32", T::kInt32).property("i64", T::kInt64).property("f", T::kFloat);
    b.property("d", T::kDouble).property("s", T::kString).property("dt", T::kDate);
    b.property("dn", T::kDateNano).property("by", T::kBytes).property("fx", T::kFlex);
    b.relation_property("rel", "AllTypes");
    b.property("vi8", T::kInt8Vector).property("vi16", T::kInt16Vector);
    b.property("vi32", T::kInt32Vector).property("vi64", T::kInt64Vector);
    b.property("vf", T::kFloatVector).property("vd", T::kDoubleVector);
    b.property("vs", T::kStringVector).property("vdt", T::kDateVector);

    b.entity("Unsigned");
    b.property("id", T::kInt64, kFlagId);
    b.property("u8", T::kInt8, kFlagUnsigned).property("u16", T::kInt16, kFlagUnsigned);
    b.property("u32", T::kInt32, kFlagUnsigned).property("u64", T::kInt64, kFlagUnsigned);
    b.property("vu8", T::kInt8Vector, kFlagUnsigned)
        .property("vu16", T::kInt16Vector, kFlagUnsigned);
    b.property("vu32", T::kInt32Vector, kFlagUnsigned);

    b.entity("Person");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString, kFlagIndexed | kFlagUnique);
    b.property("email", T::kString, kFlagIndexHash | kFlagUnique);
    b.property("nick", T::kString, kFlagIndexed);
    b.property("code", T::kInt32, kFlagIndexed | kFlagUnique | kFlagUniqueReplace);
    b.property("age", T::kInt64, kFlagIndexed);
    b.property("score", T::kDouble, kFlagIndexed);
    b.property("active", T::kBool, kFlagIndexed);

    b.entity("Author");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.entity("Book");
    b.property("id", T::kInt64, kFlagId);
    b.property("title", T::kString);
    b.relation_property("author", "Author");
    b.to_many("readers", "Author");

    b.entity("Node");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.relation_property("parent", "Node");
    b.to_many("children", "Node");

    b.entity("Item");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.property("n", T::kInt64);
    return built(b);
}

// --- Query (tests/query) -----------------------------------------------------------------------

// Person (name, age, email) and Item (a property of every comparable type, a to-one owner, a
// to-many "likes" to Person). With INDEXED, Item.i, Item.d, Item.s, Item.b, Item.t get value
// indexes and Item.h a hash index, Person.name a value index.
inline Model query_model(bool indexed) {
    uint32_t idx = indexed ? uint32_t{kFlagIndexed} : 0u;
    uint32_t hash = indexed ? uint32_t{kFlagIndexHash} : 0u;
    ModelBuilder b;
    b.entity("Person")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, idx)
        .property("age", PropertyType::kInt32)
        .property("email", PropertyType::kString);
    b.entity("Item")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("i", PropertyType::kInt64, idx)
        .property("d", PropertyType::kDouble, idx)
        .property("s", PropertyType::kString, idx)
        .property("h", PropertyType::kString, hash)
        .property("b", PropertyType::kBool, idx)
        .property("t", PropertyType::kInt32, idx)
        .property("f", PropertyType::kFloat)
        .property("u", PropertyType::kInt64, kFlagUnsigned | idx)
        .property("date", PropertyType::kDate)
        .property("raw", PropertyType::kBytes)
        .property("tags", PropertyType::kStringVector)
        .property("nums", PropertyType::kInt64Vector)
        .property("ds", PropertyType::kDoubleVector)
        .property("extra", PropertyType::kFlex)
        .relation_property("owner", "Person")
        .to_many("likes", "Person");
    return built(b);
}

// --- MongoDB connector (tests/mongo) -----------------------------------------------------------

// Item (collection "items") with a property of every type and externalType, a to-one and a to-many
// relation; Tag; and a local-only entity.
inline Model mongo_mapping_model() {
    using P = PropertyType;
    using X = ExternalType;
    ModelBuilder b;
    b.entity("Item")
        .sync()
        .external_name("items")
        .property("id", P::kInt64, kFlagId)
        .property("name", P::kString)
        .external_name("label")
        .property("flag", P::kBool)
        .property("i8", P::kInt8)
        .property("i16", P::kInt16)
        .property("i32", P::kInt32)
        .property("u32", P::kInt32, kFlagUnsigned)
        .property("i64", P::kInt64)
        .property("f", P::kFloat)
        .property("d", P::kDouble)
        .property("when", P::kDate)
        .property("nanos", P::kDateNano)
        .property("blob", P::kBytes)
        .property("extra", P::kFlex)
        .property("oid", P::kString)
        .external_type(X::kObjectId)
        .property("oid_bytes", P::kBytes)
        .external_type(X::kObjectId)
        .property("uuid", P::kString)
        .external_type(X::kUuid)
        .property("uuid_bytes", P::kBytes)
        .external_type(X::kUuid)
        .property("dec", P::kString)
        .external_type(X::kDecimal128)
        .property("dec_bytes", P::kBytes)
        .external_type(X::kDecimal128)
        .property("ts", P::kInt64)
        .external_type(X::kTimestamp)
        .property("rx", P::kStringVector)
        .external_type(X::kRegex)
        .property("js", P::kString)
        .external_type(X::kJavaScript)
        .property("doc", P::kString)
        .external_type(X::kJsonToNative)
        .property("bin", P::kBytes)
        .external_type(X::kBinary)
        .property("fmap", P::kFlex)
        .external_type(X::kFlexMap)
        .property("fvec", P::kFlex)
        .external_type(X::kFlexVector)
        .property("i8v", P::kInt8Vector)
        .property("i16v", P::kInt16Vector)
        .property("i32v", P::kInt32Vector)
        .property("i64v", P::kInt64Vector)
        .property("fv", P::kFloatVector)
        .property("dv", P::kDoubleVector)
        .property("tags", P::kStringVector)
        .property("dtv", P::kDateVector)
        .relation_property("owner", "Item")
        .to_many("children", "Item");
    b.entity("Tag")
        .sync()
        .property("id", P::kInt64, kFlagId)
        .property("title", P::kString)
        .property("weight", P::kDouble)
        .to_many("items", "Item");
    b.entity("Local").property("id", P::kInt64, kFlagId).property("text", P::kString);
    return built(b);
}

}  // namespace outpost::test
