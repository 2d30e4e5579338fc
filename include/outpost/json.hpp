#pragma once
// Objects as JSON (docs/object-json.md): the format of the outpost tool and of `outpost sync
// --watch`.
//   {"id": 3, "text": "Buy milk", "done": false, "dateCreated": 1700000000000, "owner": 1,
//    "tags": ["home"], "photo": "iVBORw0KGgo=", "extra": {"any": ["json"]}, "tasks": [4, 5]}
// Integers, dates and relations are numbers; bytes are base64; flex is any JSON; float and double
// NaN and infinities are the strings "NaN", "Infinity", "-Infinity"; to-many relations are arrays
// of ids under the relation's name; null or a missing key is null.

#include <string>
#include <string_view>

#include "outpost/object.hpp"

namespace outpost {

std::string object_to_json(const Object& object);
// Sets the properties named in JSON on OBJECT (others keep their values); "id" sets the id. Unknown
// keys and values that do not fit their property are errors naming the property.
Status object_update_from_json(Object& object, std::string_view json);

std::string base64_encode(std::span<const uint8_t> data);
Result<Bytes> base64_decode(std::string_view text);

}  // namespace outpost
