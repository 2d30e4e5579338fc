// libFuzzer target: the MongoDB mapping both ways (docs/mongo-mapping.md), over a model with a
// property of every type and externalType. The input is read three ways, each of which must end
// in a value or a clean error, never a crash:
//   - as a BSON document from MongoDB: a full document and an updateDescription for each
//   collection;
//     what maps is written back to BSON as the outbound writer would;
//   - as a change set from a device (its objects and properties folded onto the model), written to
//     BSON as the outbound writer would;
//   - as the text of a jsonToNative property (deeply nested JSON included).
#include <bson/bson.h>

#include <string>
#include <vector>

#include "common/models.hpp"
#include "mongo/mapping.hpp"
#include "outpost/changelog.hpp"

namespace {

using outpost::mongo::Mapping;

const Mapping& mapping() {
    static const outpost::Model model = outpost::test::mongo_mapping_model();
    static const Mapping m = Mapping::create(model).value();
    return m;
}

void write_back(const outpost::mongo::CollectionMap& c, const outpost::ObjectChange& change) {
    outpost::mongo::UpdateSpec spec;
    std::vector<std::string> skipped;
    if (!mapping().build_update(c, change, spec, &skipped)) return;
    bson_t update = BSON_INITIALIZER;
    spec.build(&update);
    bson_destroy(&update);
}

void from_mongo(const uint8_t* data, size_t size) {
    bson_t doc;
    if (!bson_init_static(&doc, data, size)) return;
    for (const auto& c : mapping().collections()) {
        auto change = mapping().change_from_document(c, &doc);
        if (change.is_ok()) write_back(c, change.value());
        std::vector<std::string> lookups;
        auto update = mapping().change_from_update(c,
                                                   outpost::Gid("\x02"
                                                                "k"),
                                                   &doc, &lookups);
        if (update.is_ok()) {
            outpost::ObjectChange ch = std::move(update).value();
            (void)mapping().add_fields_from_document(c, &doc, lookups, ch);
            write_back(c, ch);
        }
    }
}

void from_device(const uint8_t* data, size_t size) {
    auto cs = outpost::decode_change_set({data, size});
    if (!cs.is_ok()) return;
    const auto& c = mapping().collections().front();
    const auto& props = c.entity->properties;
    for (auto& change : cs.value().objects) {
        change.entity_uid = c.entity->id.uid;
        for (auto& pc : change.properties)
            pc.property_uid = props[pc.property_uid % props.size()].id.uid;
        if (change.kind == outpost::ObjectChange::kPut) write_back(c, change);
    }
}

void json_to_native(const uint8_t* data, size_t size) {
    const auto& c = mapping().collections().front();
    const outpost::Property* doc = c.entity->property("doc");
    bson_t out = BSON_INITIALIZER;
    (void)mapping().append_value(
        &out, "v", *doc, outpost::Value(std::string(reinterpret_cast<const char*>(data), size)));
    bson_destroy(&out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    from_mongo(data, size);
    from_device(data, size);
    json_to_native(data, size);
    return 0;
}
