#pragma once
// Models for the connector tests: Item (collection "items") with a property of every type and
// externalType, a to-one and a to-many relation; Tag; and a local-only entity.
#include "outpost/model.hpp"

namespace outpost::mongo::testing {

inline Model mapping_model() {
    using P = PropertyType;
    using X = ExternalType;
    ModelBuilder b;
    b.entity("Item").sync().external_name("items")
        .property("id", P::kInt64, kFlagId)
        .property("name", P::kString).external_name("label")
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
        .property("oid", P::kString).external_type(X::kObjectId)
        .property("oid_bytes", P::kBytes).external_type(X::kObjectId)
        .property("uuid", P::kString).external_type(X::kUuid)
        .property("uuid_bytes", P::kBytes).external_type(X::kUuid)
        .property("dec", P::kString).external_type(X::kDecimal128)
        .property("dec_bytes", P::kBytes).external_type(X::kDecimal128)
        .property("ts", P::kInt64).external_type(X::kTimestamp)
        .property("rx", P::kStringVector).external_type(X::kRegex)
        .property("js", P::kString).external_type(X::kJavaScript)
        .property("doc", P::kString).external_type(X::kJsonToNative)
        .property("bin", P::kBytes).external_type(X::kBinary)
        .property("fmap", P::kFlex).external_type(X::kFlexMap)
        .property("fvec", P::kFlex).external_type(X::kFlexVector)
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
    b.entity("Tag").sync()
        .property("id", P::kInt64, kFlagId)
        .property("title", P::kString)
        .property("weight", P::kDouble)
        .to_many("items", "Item");
    b.entity("Local")
        .property("id", P::kInt64, kFlagId)
        .property("text", P::kString);
    return b.build().value();
}

}  // namespace outpost::mongo::testing
