#include "mongo/change_event.hpp"

#include "mongo/connector.hpp"

namespace outpost::mongo::detail {

namespace {

// The first field KEY of the document or array IT holds.
bool child_find(const bson_iter_t& it, const char* key, bson_iter_t* out) {
    return (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) &&
           bson_iter_recurse(&it, out) && bson_iter_find(out, key);
}

}  // namespace

std::string sub_json(const bson_t* doc, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key)) return "null";
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
        uint32_t len;
        const uint8_t* data;
        bson_iter_document(&it, &len, &data);
        if (BSON_ITER_HOLDS_ARRAY(&it)) bson_iter_array(&it, &len, &data);
        bson_t sub;
        if (bson_init_static(&sub, data, len)) return detail::to_json(&sub);
    }
    Bson one;
    bson_append_iter(one.get(), key, -1, &it);
    return one.json();
}

bool sub_doc(const bson_t* doc, const char* key, bson_t* out) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    uint32_t len;
    const uint8_t* data;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(out, data, len);
}

// One pass over the event's top-level fields; the first of each name counts (as bson_iter_find).
Event parse_event(const bson_t* raw, const std::string& marker_id) {
    Event e;
    e.data = bson_get_data(raw);
    e.len = raw->len;
    bson_iter_t it, lsid, txn_number, key, full, desc;
    bool have_op = false, have_ns = false, have_lsid = false, have_txn = false, have_key = false,
         have_full = false, have_desc = false;
    auto part = [&](const bson_iter_t& at, Event::Part* out) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&at)) return;
        uint32_t len;
        const uint8_t* data;
        bson_iter_document(&at, &len, &data);
        out->off = static_cast<uint32_t>(data - e.data);
        out->len = len;
    };
    if (!bson_iter_init(&it, raw)) return e;
    while (bson_iter_next(&it)) {
        std::string_view k(bson_iter_key(&it), bson_iter_key_len(&it));
        if (k == "operationType") {
            if (!have_op && BSON_ITER_HOLDS_UTF8(&it)) e.op = bson_iter_utf8(&it, nullptr);
            have_op = true;
        } else if (k == "ns") {
            bson_iter_t c;
            if (!have_ns && child_find(it, "coll", &c) && BSON_ITER_HOLDS_UTF8(&c))
                e.coll = bson_iter_utf8(&c, nullptr);
            have_ns = true;
        } else if (k == "lsid") {
            if (!have_lsid) lsid = it;
            have_lsid = true;
        } else if (k == "txnNumber") {
            if (!have_txn) txn_number = it;
            have_txn = true;
        } else if (k == "documentKey") {
            if (!have_key) {
                key = it;
                part(it, &e.key);
            }
            have_key = true;
        } else if (k == "fullDocument") {
            if (!have_full) {
                full = it;
                part(it, &e.full);
            }
            have_full = true;
        } else if (k == "updateDescription") {
            if (!have_desc) {
                desc = it;
                part(it, &e.desc);
            }
            have_desc = true;
        }
    }
    bson_iter_t id;
    if (have_lsid && child_find(lsid, "id", &id) && BSON_ITER_HOLDS_BINARY(&id)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t* data;
        bson_iter_binary(&id, &st, &len, &data);
        e.txn_key.assign(reinterpret_cast<const char*>(data), len);
        if (have_txn && BSON_ITER_HOLDS_NUMBER(&txn_number)) {
            int64_t n = bson_iter_as_int64(&txn_number);
            e.txn_key.append(reinterpret_cast<const char*>(&n), 8);
        }
    }
    if (!e.txn_key.empty() && e.coll == kMetaCollection && have_key &&
        child_find(key, "_id", &id) && BSON_ITER_HOLDS_UTF8(&id) &&
        marker_id == bson_iter_utf8(&id, nullptr)) {
        e.own_marker = true;
        bson_iter_t fields, p;
        if ((have_full && child_find(full, "position", &p) && BSON_ITER_HOLDS_NUMBER(&p)) ||
            (have_desc && child_find(desc, "updatedFields", &fields) &&
             child_find(fields, "position", &p) && BSON_ITER_HOLDS_NUMBER(&p))) {
            e.marker_position = bson_iter_as_int64(&p);
        }
    }
    return e;
}

Bson event_token(const bson_t* ev) {
    Bson t;
    bson_t sub;
    if (sub_doc(ev, "_id", &sub)) bson_concat(t.get(), &sub);
    return t;
}

}  // namespace outpost::mongo::detail
