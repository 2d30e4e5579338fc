// Internal to the update implementation (update_ops.cpp, update_modifiers.cpp, update_paths.cpp):
// dotted paths over a Node tree, and the state of one operator update being applied.
#pragma once

#include <string>
#include <vector>

#include "bson_util.hpp"
#include "update_ops.hpp"

namespace standin::update_paths {

using Path = std::vector<std::string>;

// Paths deeper than this are refused (documents never nest deeper than 200 levels).
constexpr size_t kMaxPathParts = 200;

Path split(const std::string& s);
std::string join(const Path& p, size_t n);  // the first N parts, dotted
bool is_index(const std::string& s, size_t* idx);
bool identical(const Node& a, const Node& b);  // same type and bytes
const char* type_name(bson_type_t t);          // as the server's error messages name it

// The node at P, or null when a part is missing.
Node* get_node(Node& root, const Path& p);
// Sets P to V, creating missing parents (documents) and padding arrays with nulls.
// Errors: 28 a parent is a scalar or an array indexed by a name, 2 too far an index.
Status set_at(Node& root, const Path& p, Node v);
// Removes P from a document, or sets an array element to null (as the server does).
void unset_at(Node& root, const Path& p);
// Builds {name: elem} for matching array elements against filters.
Doc wrap_at(const std::string& name, const Node& elem);

struct Ctx {
    const UpdateSpec* spec;
    UpdateOutcome* out;
    Node* root;
};

// Expands $, $[] and $[id] in a path into concrete paths over the current document.
Result<std::vector<Path>> expand(Ctx& ctx, const Path& p);
// Reports P (with its current value) as an updated field.
void record_set(Ctx& ctx, const Path& p);

// Applies one operator (OP, e.g. "$set") to one field (FIELD, as written) with argument ARG.
Status apply_one(Ctx& ctx, const std::string& op, const std::string& field, const bson_iter_t* arg);

}  // namespace standin::update_paths
