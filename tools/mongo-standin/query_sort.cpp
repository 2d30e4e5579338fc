// Sorting documents by a sort specification ({field: 1 | -1, ...}), as find and $sort do.
#include <algorithm>
#include <cstring>

#include "query_match.hpp"

namespace standin {

namespace {

Error bad(std::string msg) { return Error{2, std::move(msg), {}}; }

}  // namespace

Status sort_docs(std::vector<DocPtr>* docs, const bson_t* sort_spec) {
    std::vector<std::pair<std::string, int>> fields;
    bson_iter_t it;
    if (bson_iter_init(&it, sort_spec)) {
        while (bson_iter_next(&it)) {
            if (!std::strcmp(bson_iter_key(&it), "$natural")) continue;
            if (BSON_ITER_HOLDS_DOCUMENT(&it)) continue;  // {$meta: ...}: ignored
            if (!iter_is_number(&it)) return bad("sort direction must be 1 or -1");
            int64_t d = iter_as_int64(&it);
            if (d != 1 && d != -1) return bad("bad sort specification");
            fields.emplace_back(bson_iter_key(&it), static_cast<int>(d));
        }
    }
    if (fields.empty()) return ok_status();
    // Sort keys: for each doc a small BSON document "0","1",... holding the key values.
    struct Keyed {
        Doc keys;
        DocPtr doc;
    };
    std::vector<Keyed> items;
    items.reserve(docs->size());
    bson_t null_doc = BSON_INITIALIZER;
    BSON_APPEND_NULL(&null_doc, "v");
    bson_iter_t null_it;
    bson_iter_init(&null_it, &null_doc);
    bson_iter_next(&null_it);
    for (auto& d : *docs) {
        bson_t view;
        view_of(*d, &view);
        Doc keys;
        for (size_t i = 0; i < fields.size(); ++i) {
            IterList vals;
            bool missing = false;
            values_at_path(&view, fields[i].first.c_str(), &vals, &missing);
            // Expand arrays into their elements; ascending takes the smallest, descending the
            // largest.
            IterList flat;
            for (auto& v : vals) {
                if (BSON_ITER_HOLDS_ARRAY(&v)) {
                    bson_iter_t c;
                    bool any = false;
                    if (bson_iter_recurse(&v, &c))
                        while (bson_iter_next(&c)) {
                            flat.push_back(c);
                            any = true;
                        }
                    if (!any) flat.push_back(v);  // empty array sorts as itself
                } else {
                    flat.push_back(v);
                }
            }
            if (missing && flat.empty()) flat.push_back(null_it);
            const bson_iter_t* best = flat.empty() ? &null_it : &flat[0];
            for (auto& v : flat) {
                int c = compare_values(&v, best);
                if ((fields[i].second > 0 && c < 0) || (fields[i].second < 0 && c > 0)) best = &v;
            }
            std::string k = std::to_string(i);
            bson_append_iter(keys.get(), k.c_str(), static_cast<int>(k.size()), best);
        }
        items.push_back(Keyed{std::move(keys), d});
    }
    bson_destroy(&null_doc);
    std::stable_sort(items.begin(), items.end(), [&](const Keyed& a, const Keyed& b) {
        bson_iter_t ia, ib;
        bson_iter_init(&ia, a.keys.get());
        bson_iter_init(&ib, b.keys.get());
        for (size_t i = 0; i < fields.size(); ++i) {
            bson_iter_next(&ia);
            bson_iter_next(&ib);
            int c = compare_values(&ia, &ib);
            if (c) return fields[i].second > 0 ? c < 0 : c > 0;
        }
        return false;
    });
    for (size_t i = 0; i < items.size(); ++i) (*docs)[i] = items[i].doc;
    return ok_status();
}

}  // namespace standin
