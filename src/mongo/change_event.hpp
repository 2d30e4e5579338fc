// Change events of a database change stream, read in place in the getMore reply (inbound.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mongo/handles.hpp"

namespace outpost::mongo::detail {

// A change event: a view into the getMore reply while that batch is processed; events kept for the
// next batch own a copy.
struct Event {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    std::shared_ptr<std::vector<uint8_t>> owned;
    void own() {
        owned = std::make_shared<std::vector<uint8_t>>(data, data + len);
        data = owned->data();
    }
    std::string txn_key;           // lsid.id bytes + txnNumber; empty outside transactions
    int64_t marker_position = -1;  // this server's marker event: the outbound position it wrote
    std::string op;
    std::string coll;
    bool own_marker = false;
    // Where the first documentKey, fullDocument and updateDescription documents are (len 0: none).
    struct Part {
        uint32_t off = 0;
        uint32_t len = 0;
    };
    Part key, full, desc;
    // The document at P as a view. False when the event has none.
    bool doc(Part p, bson_t* out) const {
        return p.len != 0 && bson_init_static(out, data + p.off, p.len);
    }
};

struct View {
    bson_t b;
    explicit View(const Event& e) { bson_init_static(&b, e.data, e.len); }
    const bson_t* get() const { return &b; }
};

// The value of KEY in DOC as relaxed extended JSON ("null" when absent).
std::string sub_json(const bson_t* doc, const char* key);
// The embedded document KEY of DOC as a view; false when there is none.
bool sub_doc(const bson_t* doc, const char* key, bson_t* out);
// The event RAW parsed in one pass: its operation, collection, transaction, and whether it is this
// server's marker (MARKER_ID) with the outbound position it wrote.
Event parse_event(const bson_t* raw, const std::string& marker_id);
// The _id of a change event (its resume token).
Bson event_token(const bson_t* ev);

}  // namespace outpost::mongo::detail
