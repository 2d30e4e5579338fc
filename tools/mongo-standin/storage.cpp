#include "storage.hpp"

#include <algorithm>
#include <cstring>

#include "query_match.hpp"

namespace standin {

DocPtr Collection::current(const std::string& id_key) const {
    auto it = by_id.find(id_key);
    if (it == by_id.end()) return nullptr;
    auto r = records.find(it->second);
    if (r == records.end() || r->second.versions.empty()) return nullptr;
    return r->second.versions.back().doc;
}

std::string id_key_of(const bson_t* doc) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) return std::string();
    return canonical_key(&it);
}

std::string id_key_of(const DocPtr& doc) {
    bson_t v;
    if (!doc || !view_of(*doc, &v)) return std::string();
    return id_key_of(&v);
}

DocPtr visible(const Record& r, uint64_t snapshot) {
    if (r.versions.empty()) return nullptr;
    if (snapshot == kLatest) return r.versions.back().doc;
    for (auto it = r.versions.rbegin(); it != r.versions.rend(); ++it)
        if (it->ts <= snapshot) return it->doc;
    return nullptr;
}

static const std::map<std::string, OverlayEntry>* overlay_for(const Collection& c, const Txn* txn) {
    if (!txn) return nullptr;
    auto it = txn->overlay.find(ns_of(c.db, c.name));
    return it == txn->overlay.end() ? nullptr : &it->second;
}

void scan(const Collection& c, const Txn* txn, const std::function<bool(const DocPtr&)>& f) {
    uint64_t snap = txn ? txn->snapshot_ts : kLatest;
    const auto* ov = overlay_for(c, txn);
    if (!ov || ov->empty()) {
        for (const auto& [order, rec] : c.records) {
            DocPtr d = visible(rec, snap);
            if (d && !f(d)) return;
        }
        return;
    }
    std::set<std::string> seen;
    for (const auto& [order, rec] : c.records) {
        auto o = ov->find(rec.key);
        if (o != ov->end()) {
            if (!seen.insert(rec.key).second) continue;
            if (o->second.doc && !f(o->second.doc)) return;
            continue;
        }
        DocPtr d = visible(rec, snap);
        if (d && !f(d)) return;
    }
    std::vector<const OverlayEntry*> fresh;
    for (const auto& [k, e] : *ov)
        if (!seen.count(k) && e.doc) fresh.push_back(&e);
    std::sort(fresh.begin(), fresh.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    for (auto* e : fresh)
        if (!f(e->doc)) return;
}

DocPtr lookup(const Collection& c, const Txn* txn, const std::string& id_key) {
    if (const auto* ov = overlay_for(c, txn)) {
        auto o = ov->find(id_key);
        if (o != ov->end()) return o->second.doc;
    }
    uint64_t snap = txn ? txn->snapshot_ts : kLatest;
    auto it = c.by_id.find(id_key);
    if (it != c.by_id.end()) {
        auto r = c.records.find(it->second);
        if (r != c.records.end()) {
            DocPtr d = visible(r->second, snap);
            if (d || snap == kLatest) return d;
        }
    }
    // Every record's key has a by_id entry (pointing at its newest record), so a key without one
    // has no older record either: skip the scan (a transaction's upserts of new _ids would be O(n)
    // each).
    if (snap == kLatest || it == c.by_id.end()) return nullptr;
    // An older record with this _id may be the one the snapshot sees (deleted and re-inserted
    // since).
    for (const auto& [order, rec] : c.records)
        if (rec.key == id_key)
            if (DocPtr d = visible(rec, snap)) return d;
    return nullptr;
}

Doc index_key_value(const bson_t* doc, const bson_t* key_pattern) {
    Doc out;
    bson_iter_t k;
    if (!bson_iter_init(&k, key_pattern)) return out;
    while (bson_iter_next(&k)) {
        const char* field = bson_iter_key(&k);
        IterList vals;
        bool missing = false;
        values_at_path(doc, field, &vals, &missing);
        if (vals.empty())
            bson_append_null(out.get(), field, -1);
        else
            bson_append_iter(out.get(), field, -1, &vals[0]);
    }
    return out;
}

static std::string key_of_doc(const bson_t* d) {
    std::string s;
    bson_iter_t it;
    if (bson_iter_init(&it, d))
        while (bson_iter_next(&it)) append_canonical_key(&it, s);
    return s;
}

std::string shell_format(const bson_t* doc) {
    std::string s = "{ ";
    bson_iter_t it;
    bool first = true;
    if (bson_iter_init(&it, doc)) {
        while (bson_iter_next(&it)) {
            if (!first) s += ", ";
            first = false;
            s += bson_iter_key(&it);
            s += ": ";
            bson_t w = BSON_INITIALIZER;
            bson_append_iter(&w, "v", 1, &it);
            char* j = bson_as_relaxed_extended_json(&w, nullptr);
            std::string js = j ? j : "";
            bson_free(j);
            bson_destroy(&w);
            // js looks like { "v" : VALUE }
            auto p = js.find(" : ");
            if (p != std::string::npos && js.size() >= p + 5)
                js = js.substr(p + 3, js.size() - p - 5);
            s += js;
        }
    }
    s += first ? "}" : " }";
    return s;
}

Error duplicate_key_error(const Collection& c, const std::string& index, const bson_t* key_pattern,
                          const bson_t* key_value) {
    Error e;
    e.code = 11000;
    // The displayed dup key uses the pattern's field names with the values.
    Doc shown;
    bson_iter_t kp, kv;
    if (bson_iter_init(&kp, key_pattern) && bson_iter_init(&kv, key_value)) {
        while (bson_iter_next(&kp) && bson_iter_next(&kv))
            bson_append_iter(shown.get(), bson_iter_key(&kp), -1, &kv);
    }
    e.msg = "E11000 duplicate key error collection: " + c.db + "." + c.name + " index: " + index +
            " dup key: " + shell_format(shown.get());
    Doc info;
    BSON_APPEND_DOCUMENT(info.get(), "keyPattern", key_pattern);
    BSON_APPEND_DOCUMENT(info.get(), "keyValue", shown.get());
    e.info = info.bytes();
    return e;
}

Status check_unique(const Collection& c, const bson_t* doc, const std::string& id_key,
                    const Txn* txn) {
    for (const auto& idx : c.indexes) {
        if (!idx.unique || idx.name == "_id_") continue;
        Doc kv = index_key_value(doc, idx.key.get());
        std::string key = key_of_doc(kv.get());
        auto t = c.unique_keys.find(idx.name);
        if (t != c.unique_keys.end()) {
            auto hit = t->second.find(key);
            if (hit != t->second.end() && hit->second != id_key) {
                // The holder may have been changed or deleted by this transaction.
                bool still = true;
                if (txn) {
                    DocPtr holder = lookup(c, txn, hit->second);
                    if (!holder) {
                        still = false;
                    } else {
                        bson_t hv;
                        view_of(*holder, &hv);
                        Doc hk = index_key_value(&hv, idx.key.get());
                        still = key_of_doc(hk.get()) == key;
                    }
                }
                if (still) return duplicate_key_error(c, idx.name, idx.key.get(), kv.get());
            }
        }
        if (txn) {
            auto ov = txn->overlay.find(ns_of(c.db, c.name));
            if (ov != txn->overlay.end()) {
                for (const auto& [k, e] : ov->second) {
                    if (k == id_key || !e.doc) continue;
                    bson_t ev;
                    view_of(*e.doc, &ev);
                    Doc ek = index_key_value(&ev, idx.key.get());
                    if (key_of_doc(ek.get()) == key)
                        return duplicate_key_error(c, idx.name, idx.key.get(), kv.get());
                }
            }
        }
    }
    return ok_status();
}

static void unique_update(Collection& c, const DocPtr& before, const DocPtr& after,
                          const std::string& id_key) {
    for (const auto& idx : c.indexes) {
        if (!idx.unique || idx.name == "_id_") continue;
        auto& table = c.unique_keys[idx.name];
        if (before) {
            bson_t bv;
            view_of(*before, &bv);
            Doc k = index_key_value(&bv, idx.key.get());
            auto it = table.find(key_of_doc(k.get()));
            if (it != table.end() && it->second == id_key) table.erase(it);
        }
        if (after) {
            bson_t av;
            view_of(*after, &av);
            Doc k = index_key_value(&av, idx.key.get());
            table[key_of_doc(k.get())] = id_key;
        }
    }
}

Status rebuild_unique(Collection& c) {
    c.unique_keys.clear();
    for (const auto& idx : c.indexes) {
        if (!idx.unique || idx.name == "_id_") continue;
        auto& table = c.unique_keys[idx.name];
        for (const auto& [order, rec] : c.records) {
            DocPtr d = visible(rec, kLatest);
            if (!d) continue;
            bson_t v;
            view_of(*d, &v);
            Doc k = index_key_value(&v, idx.key.get());
            if (!table.emplace(key_of_doc(k.get()), rec.key).second) {
                c.unique_keys.clear();
                return duplicate_key_error(c, idx.name, idx.key.get(), k.get());
            }
        }
    }
    return ok_status();
}

void prune_record(Collection& c, uint64_t order) {
    auto it = c.records.find(order);
    if (it == c.records.end()) return;
    Record& r = it->second;
    if (r.versions.size() > 1) r.versions.erase(r.versions.begin(), r.versions.end() - 1);
    if (r.versions.empty() || !r.versions.back().doc) {
        auto b = c.by_id.find(r.key);
        if (b != c.by_id.end() && b->second == order) c.by_id.erase(b);
        c.records.erase(it);
    }
}

void apply_committed(Collection& c, const std::string& id_key, const DocPtr& doc, uint64_t ts,
                     bool keep_history) {
    auto [b, inserted] = c.by_id.try_emplace(id_key, 0);
    Record* rec = nullptr;
    uint64_t order = b->second;
    if (!inserted) {
        auto r = c.records.find(order);
        if (r != c.records.end()) rec = &r->second;
    }
    DocPtr before = rec && !rec->versions.empty() ? rec->versions.back().doc : nullptr;
    if (!before && doc) {
        // A fresh insert (or re-insert after a delete) gets a new record at the end.
        if (rec && !keep_history) c.records.erase(order);
        order = c.next_order++;
        Record nr;
        nr.key = id_key;
        nr.versions.push_back(Version{ts, doc});
        c.records.emplace_hint(c.records.end(), order, std::move(nr));
        b->second = order;
    } else if (rec) {
        rec->versions.push_back(Version{ts, doc});
        if (!keep_history) prune_record(c, order);
    } else {
        c.by_id.erase(b);  // deleting something that is not there
    }
    if (!c.unique_keys.empty()) unique_update(c, before, doc, id_key);
}

}  // namespace standin
