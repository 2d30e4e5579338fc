#include "update_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "query_match.hpp"
#include "update_paths.hpp"
#include "update_top_level.hpp"
#include "wire.hpp"

namespace standin {

using namespace update_paths;

namespace {

bool paths_conflict(const std::string& a, const std::string& b) {
    if (a == b) return true;
    auto prefix = [](const std::string& x, const std::string& y) {
        return y.size() > x.size() && y.compare(0, x.size(), x) == 0 && y[x.size()] == '.';
    };
    return prefix(a, b) || prefix(b, a);
}

const char* kKnownOps[] = {"$set",      "$unset",  "$inc",         "$mul",         "$min",
                           "$max",      "$rename", "$currentDate", "$setOnInsert", "$push",
                           "$addToSet", "$pull",   "$pullAll",     "$pop"};

}  // namespace

namespace {

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Compares one path component: numerically when both are made of digits.
int compare_component(std::string_view a, std::string_view b) {
    if (all_digits(a) && all_digits(b)) {
        while (a.size() > 1 && a[0] == '0') a.remove_prefix(1);
        while (b.size() > 1 && b[0] == '0') b.remove_prefix(1);
        if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    }
    int c = a.compare(b);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

bool update_path_less(std::string_view a, std::string_view b) {
    while (true) {
        size_t da = a.find('.'), db = b.find('.');
        int c = compare_component(a.substr(0, da), b.substr(0, db));
        if (c != 0) return c < 0;
        if (da == std::string_view::npos || db == std::string_view::npos)
            return da == std::string_view::npos && db != std::string_view::npos;
        a.remove_prefix(da + 1);
        b.remove_prefix(db + 1);
    }
}

bool is_operator_update(const bson_t* update) {
    bson_iter_t it;
    return bson_iter_init(&it, update) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
}

namespace {

// A replacement document: the original's _id first, then the replacement's fields.
Result<UpdateOutcome> apply_replacement(const bson_t* original, const bson_t* replacement) {
    UpdateOutcome out;
    out.replacement = true;
    bson_iter_t orig_id;
    bool has_id = bson_iter_init_find(&orig_id, original, "_id");
    Doc nd;
    bson_iter_t it;
    if (has_id) append_value(nd.get(), "_id", &orig_id);
    if (bson_iter_init(&it, replacement)) {
        while (bson_iter_next(&it)) {
            const char* k = bson_iter_key(&it);
            if (k[0] == '$') return Error{9, std::string("Unknown modifier: ") + k, {}};
            if (!std::strcmp(k, "_id")) {
                if (has_id && compare_values(&it, &orig_id) != 0)
                    return Error{66,
                                 "After applying the update, the (immutable) field '_id' was "
                                 "found to have been altered to _id: ...",
                                 {}};
                if (has_id) continue;
            }
            append_value(nd.get(), k, &it);
        }
    }
    out.modified =
        nd.get()->len != original->len ||
        std::memcmp(bson_get_data(nd.get()), bson_get_data(original), original->len) != 0;
    out.doc = std::move(nd);
    return out;
}

// One (operator, field) pair of an operator update.
struct Item {
    std::string op, path;
    bson_iter_t arg;
};

// The pairs of UPDATE, checked (known operators, no empty or conflicting paths) and in the order
// MongoDB 5.0+ applies them: path order, not the update's order, which decides where new fields
// land.
Result<std::vector<Item>> collect_items(const bson_t* update) {
    std::vector<Item> items;
    std::vector<std::string> all_paths;
    bson_iter_t it;
    if (bson_iter_init(&it, update)) {
        while (bson_iter_next(&it)) {
            std::string op = bson_iter_key(&it);
            bool known = false;
            for (const char* k : kKnownOps) known = known || op == k;
            if (!known)
                return Error{9,
                             "Unknown modifier: " + op +
                                 ". Expected a valid update modifier or pipeline-style update "
                                 "specified as an array",
                             {}};
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return Error{9,
                             "Modifiers operate on fields but we found type " +
                                 std::string(type_name(bson_iter_type(&it))) + " instead.",
                             {}};
            bson_iter_t f;
            bson_iter_recurse(&it, &f);
            while (bson_iter_next(&f)) {
                std::string path = bson_iter_key(&f);
                if (path.empty()) return Error{56, "An empty update path is not valid.", {}};
                std::vector<std::string> ps{path};
                if (op == "$rename" && BSON_ITER_HOLDS_UTF8(&f))
                    ps.emplace_back(bson_iter_utf8(&f, nullptr));
                for (const auto& p : ps) {
                    for (const auto& q : all_paths)
                        if (paths_conflict(p, q))
                            return Error{40,
                                         "Updating the path '" + p +
                                             "' would create a conflict at '" + q + "'",
                                         {}};
                }
                for (const auto& p : ps) all_paths.push_back(p);
                items.push_back(Item{op, path, f});
            }
        }
    }
    // Sorted through indices: Item holds a bson_iter_t (128-byte aligned), which std::stable_sort's
    // temporary buffer does not allocate aligned.
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return update_path_less(items[a].path, items[b].path);
    });
    std::vector<Item> sorted;
    sorted.reserve(items.size());
    for (size_t i : order) sorted.push_back(std::move(items[i]));
    return sorted;
}

// _id must not change and stays first; the result must still be a valid document.
Status finish_document(const bson_t* original, Node& root, UpdateOutcome& out) {
    bson_iter_t orig_id;
    bool has_id = bson_iter_init_find(&orig_id, original, "_id");
    Node* new_id = root.find("_id");
    if (has_id) {
        Node oid = Node::from_iter(&orig_id);
        if (!new_id || !identical(*new_id, oid))
            return Error{
                66,
                "Performing an update on the path '_id' would modify the immutable field '_id'",
                {}};
    }
    if (new_id && root.kids[0].first != "_id") {
        auto pos = std::find_if(root.kids.begin(), root.kids.end(),
                                [](const auto& kv) { return kv.first == "_id"; });
        auto idkv = std::move(*pos);
        root.kids.erase(pos);
        root.kids.insert(root.kids.begin(), std::move(idkv));
    }
    out.updated_fields.erase("_id");
    out.doc = root.to_doc();
    if (!bson_structure_ok(bson_get_data(out.doc.get()), out.doc.get()->len))
        return Error{2, "the updated document would be nested deeper than 200 levels", {}};
    if (out.doc.get()->len > 16777216u)
        return Error{10334, "Resulting document after update is larger than 16777216", {}};
    return ok_status();
}

}  // namespace

Result<UpdateOutcome> apply_update(const bson_t* original, const UpdateSpec& spec) {
    if (!is_operator_update(spec.update)) return apply_replacement(original, spec.update);
    if (std::optional<Result<UpdateOutcome>> direct = apply_top_level_update(original, spec.update))
        return std::move(*direct);
    auto items = collect_items(spec.update);
    if (!items.ok()) return items.error();
    UpdateOutcome out;
    Node root = Node::from_bson(original);
    Ctx ctx{&spec, &out, &root};
    for (auto& item : items.value()) {
        auto s = apply_one(ctx, item.op, item.path, &item.arg);
        if (!s.ok()) return s.error();
    }
    if (auto st = finish_document(original, root, out); !st.ok()) return st.error();
    out.modified =
        out.doc.get()->len != original->len ||
        std::memcmp(bson_get_data(out.doc.get()), bson_get_data(original), original->len) != 0;
    if (!out.modified) {
        out.updated_fields = Node::document();
        out.removed_fields.clear();
    }
    return out;
}

Doc upsert_seed(const bson_t* query) {
    // {_id: <scalar>} (every upsert by key) seeds {_id: <scalar>}, as the general path below does.
    bson_iter_t it;
    if (bson_iter_init(&it, query) && bson_iter_next(&it) &&
        !std::strcmp(bson_iter_key(&it), "_id")) {
        bson_type_t t = bson_iter_type(&it);
        bson_iter_t rest = it;
        if (!bson_iter_next(&rest) && t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY &&
            t != BSON_TYPE_REGEX) {
            Doc seed;
            append_value(seed.get(), "_id", &it);
            return seed;
        }
    }
    Doc eq = equality_seed(query);
    Node root = Node::document();
    if (bson_iter_init(&it, eq.get())) {
        while (bson_iter_next(&it)) {
            std::string k = bson_iter_key(&it);
            Path p = split(k);
            if (!set_at(root, p, Node::from_iter(&it)).ok()) continue;
        }
    }
    return root.to_doc();
}

}  // namespace standin
