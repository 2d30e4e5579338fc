#include "wire.hpp"

#include <array>
#include <cstring>
#include <set>
#include <vector>

namespace standin {

namespace {

int32_t read_i32(const uint8_t* p) {
    uint32_t v = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                 (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
    return static_cast<int32_t>(v);
}

void put_i32(std::string& s, size_t at, int32_t v) {
    uint32_t u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((u >> (8 * i)) & 0xff);
}

void append_i32(std::string& s, int32_t v) {
    s.append(4, '\0');
    put_i32(s, s.size() - 4, v);
}

std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}

Error close_error(std::string msg) { return Error{0, std::move(msg), {}}; }

// Nesting limit for incoming documents. Checked without recursion before anything recursive
// (libbson's validator, our tree code) sees the document, so deep nesting cannot exhaust the stack.
constexpr int kMaxDepth = 200;

}  // namespace

namespace {

// Offset after the NUL of the C string at AT, searching before LIMIT; 0 if there is none.
size_t cstring_end(const uint8_t* p, size_t at, size_t limit) {
    const void* z = std::memchr(p + at, 0, limit - at);
    return z ? static_cast<size_t>(static_cast<const uint8_t*>(z) - p) + 1 : 0;
}

// Offset after the BSON string (int32 size, bytes, NUL) at AT, within LIMIT; 0 if malformed.
size_t string_end(const uint8_t* p, size_t at, size_t limit) {
    if (at + 4 > limit) return 0;
    int64_t n = read_i32(p + at);
    if (n < 1 || static_cast<size_t>(n) > limit - at - 4 || p[at + 4 + n - 1] != 0) return 0;
    return at + 4 + static_cast<size_t>(n);
}

// Offset after a value that holds no document, of TYPE at V, in an element list whose
// terminator is at LIMIT; 0 if malformed or of an unknown type.
size_t flat_value_end(const uint8_t* p, uint8_t type, size_t v, size_t limit) {
    size_t room = limit - v;  // bytes available for the value before the terminator
    auto fixed = [&](size_t n) { return n <= room ? v + n : 0; };
    switch (type) {
        case 0x01:
        case 0x09:
        case 0x11:
        case 0x12:
            return fixed(8);
        case 0x02:
        case 0x0D:
        case 0x0E:
            return string_end(p, v, limit);
        case 0x05: {
            if (room < 5) return 0;
            int64_t n = read_i32(p + v);
            if (n < 0 || static_cast<size_t>(n) > room - 5) return 0;
            return v + 5 + static_cast<size_t>(n);
        }
        case 0x06:
        case 0x0A:
        case 0x7F:
        case 0xFF:
            return v;
        case 0x07:
            return fixed(12);
        case 0x08:
            return fixed(1);
        case 0x0B: {
            size_t a = cstring_end(p, v, limit);
            return a ? cstring_end(p, a, limit) : 0;
        }
        case 0x0C: {
            size_t a = string_end(p, v, limit);
            return a && a + 12 <= limit ? a + 12 : 0;
        }
        case 0x10:
            return fixed(4);
        case 0x13:
            return fixed(16);
        default:
            return 0;
    }
}

// A document that opens inside a value: where its first element starts and where it ends
// (exclusive, after its terminating 0). first == 0 when malformed.
struct Opened {
    size_t first = 0;
    size_t end = 0;
};

// An embedded document or array at V, in an element list whose terminator is at LIMIT.
Opened open_document(const uint8_t* p, size_t v, size_t limit) {
    size_t room = limit - v;
    if (room < 5) return {};
    int64_t n = read_i32(p + v);
    if (n < 5 || static_cast<size_t>(n) > room || p[v + n - 1] != 0) return {};
    return {v + 4, v + static_cast<size_t>(n)};
}

// A code-with-scope value at V (int32 total, string, scope document): the scope document,
// checked like any document; it ends where the whole value ends.
Opened open_code_scope(const uint8_t* p, size_t v, size_t limit) {
    size_t room = limit - v;
    if (room < 4 + 5 + 5) return {};
    int64_t total = read_i32(p + v);
    if (total < 14 || static_cast<size_t>(total) > room) return {};
    size_t a = string_end(p, v + 4, v + static_cast<size_t>(total));
    if (!a || a + 4 > v + static_cast<size_t>(total)) return {};  // no room for the scope's size
    int64_t n = read_i32(p + a);
    if (n < 5 || a + static_cast<size_t>(n) != v + static_cast<size_t>(total)) return {};
    return {a + 4, a + static_cast<size_t>(n)};
}

}  // namespace

// Walks the element structure iteratively; false when malformed or nested deeper than kMaxDepth.
bool bson_structure_ok(const uint8_t* p, size_t len) {
    if (len < 5 || read_i32(p) != static_cast<int64_t>(len) || p[len - 1] != 0) return false;
    // End offsets (exclusive, after the terminating 0) of the documents open at OFF.
    std::vector<size_t> ends{len};
    size_t off = 4;
    while (!ends.empty()) {
        size_t end = ends.back();
        if (off >= end) return false;
        uint8_t type = p[off];
        if (type == 0) {
            if (off + 1 != end) return false;
            ends.pop_back();
            off = end;
            continue;
        }
        size_t v = cstring_end(p, off + 1, end - 1);
        if (v == 0) return false;
        if (type == 0x03 || type == 0x04 || type == 0x0F) {
            Opened d = type == 0x0F ? open_code_scope(p, v, end - 1) : open_document(p, v, end - 1);
            if (d.first == 0 || static_cast<int>(ends.size()) >= kMaxDepth) return false;
            // A code-with-scope element continues after its scope document closes.
            ends.push_back(d.end);
            off = d.first;
            continue;
        }
        size_t next = flat_value_end(p, type, v, end - 1);
        if (next == 0 || next > end - 1) return false;
        off = next;
    }
    return off == len;
}

namespace {

// Checks that [p, p+avail) starts with a complete, valid BSON document; returns its length or 0.
size_t valid_doc_at(const uint8_t* p, size_t avail) {
    if (avail < 5) return 0;
    int32_t n = read_i32(p);
    if (n < 5 || static_cast<size_t>(n) > avail) return 0;
    if (!bson_structure_ok(p, static_cast<size_t>(n))) return 0;
    bson_t b;
    if (!bson_init_static(&b, p, static_cast<size_t>(n))) return 0;
    size_t off = 0;
    if (!bson_validate(&b, BSON_VALIDATE_NONE, &off)) return 0;
    return static_cast<size_t>(n);
}

}  // namespace

uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc) {
    static const std::array<uint32_t, 256> table = make_crc_table();
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

Result<MsgHeader> parse_header(const uint8_t* p) {
    MsgHeader h;
    h.length = read_i32(p);
    h.request_id = read_i32(p + 4);
    h.response_to = read_i32(p + 8);
    h.opcode = read_i32(p + 12);
    if (h.length < static_cast<int32_t>(kHeaderSize) ||
        static_cast<size_t>(h.length) > kMaxMessageSize)
        return close_error("message length out of range: " + std::to_string(h.length));
    return h;
}

namespace {

// One kind-1 section: a named sequence of documents (views into the message).
struct DocSequence {
    std::string name;
    std::vector<std::pair<const uint8_t*, size_t>> docs;
};

// The sections of an OP_MSG as read from the wire.
struct MsgSections {
    bool body_seen = false;             // a kind-0 section was read (valid or not)
    const uint8_t* main_doc = nullptr;  // the kind-0 document when it is valid BSON
    size_t main_len = 0;
    std::vector<DocSequence> seqs;
    std::set<std::string> names;
    bool bad_bson = false;  // a section holds invalid BSON in a sane frame: reply 22
};

// Checks the flag bits and the optional CRC-32C trailer; returns where the sections end.
Result<size_t> check_op_msg_frame(const MsgHeader& h, const uint8_t* body, size_t len,
                                  uint32_t flags) {
    if (flags & 0xffffu & ~(kFlagChecksumPresent | kFlagMoreToCome)) {
        return close_error("illegal OP_MSG flag bits");  // 223 IllegalOpMsgFlag: connection closes
    }
    if (!(flags & kFlagChecksumPresent)) return len;
    if (len < 8) return close_error("OP_MSG too short for checksum");
    size_t end = len - 4;
    uint32_t want = static_cast<uint32_t>(read_i32(body + end));
    uint8_t hdr[kHeaderSize];
    std::memcpy(hdr, &h.length, 4);  // the header bytes are little-endian on this platform
    std::memcpy(hdr + 4, &h.request_id, 4);
    std::memcpy(hdr + 8, &h.response_to, 4);
    std::memcpy(hdr + 12, &h.opcode, 4);
    uint32_t got = crc32c(body, end, crc32c(hdr, kHeaderSize));
    if (got != want) return close_error("OP_MSG checksum mismatch");
    return end;
}

// Reads the kind-0 section that starts at OFF; returns the offset after it.
Result<size_t> read_body_section(const uint8_t* body, size_t off, size_t end, MsgSections& s) {
    if (s.body_seen) return close_error("two kind-0 sections");
    s.body_seen = true;
    size_t n = valid_doc_at(body + off, end - off);
    if (n) {
        s.main_doc = body + off;
        s.main_len = n;
        return off + n;
    }
    // Size field still tells where the section ends when it is sane; reply 22 then.
    if (end - off >= 4) {
        int32_t claimed = read_i32(body + off);
        if (claimed >= 5 && static_cast<size_t>(claimed) <= end - off) {
            s.bad_bson = true;
            return off + static_cast<size_t>(claimed);
        }
    }
    return close_error("malformed kind-0 section");
}

// Reads the kind-1 section that starts at OFF; returns the offset after it.
Result<size_t> read_sequence_section(const uint8_t* body, size_t off, size_t end, MsgSections& s) {
    if (end - off < 4) return close_error("truncated kind-1 section");
    int32_t size = read_i32(body + off);
    if (size < 5 || static_cast<size_t>(size) > end - off) return close_error("bad kind-1 size");
    size_t sec_end = off + static_cast<size_t>(size);
    size_t p = off + 4;
    const void* nul = std::memchr(body + p, 0, sec_end - p);
    if (!nul) return close_error("kind-1 identifier not terminated");
    DocSequence seq;
    seq.name.assign(reinterpret_cast<const char*>(body + p),
                    static_cast<const uint8_t*>(nul) - (body + p));
    p = static_cast<size_t>(static_cast<const uint8_t*>(nul) - body) + 1;
    while (p < sec_end) {
        size_t n = valid_doc_at(body + p, sec_end - p);
        if (!n) {
            s.bad_bson = true;
            break;
        }
        seq.docs.emplace_back(body + p, n);
        p += n;
    }
    if (!s.names.insert(seq.name).second) return close_error("duplicate document sequence");
    s.seqs.push_back(std::move(seq));
    return sec_end;
}

// Reads the sections in [4, END) of the message body.
Result<MsgSections> read_sections(const uint8_t* body, size_t end) {
    MsgSections s;
    size_t off = 4;
    while (off < end) {
        uint8_t kind = body[off++];
        if (kind != 0 && kind != 1) return close_error("unknown OP_MSG section kind");
        Result<size_t> next = kind == 0 ? read_body_section(body, off, end, s)
                                        : read_sequence_section(body, off, end, s);
        if (!next.ok()) return next.error();
        off = next.value();
    }
    if (!s.body_seen) return close_error("OP_MSG without a body section");
    return s;
}

// The command document: the kind-0 document with each sequence appended as an array field.
Result<Doc> assemble_body(const MsgSections& s, ParseFailure* failure) {
    if (s.seqs.empty()) return Doc::from_bytes(s.main_doc, s.main_len);
    bson_t view;
    bson_init_static(&view, s.main_doc, s.main_len);
    for (const auto& seq : s.seqs) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &view, seq.name.c_str())) {
            failure->reply = true;
            failure->error =
                Error{40, "duplicate field " + seq.name + " in body and document sequence", {}};
            return failure->error;
        }
    }
    Doc doc = Doc::copy_of(&view);
    for (const auto& seq : s.seqs) {
        bson_t arr;
        bson_append_array_begin(doc.get(), seq.name.c_str(), static_cast<int>(seq.name.size()),
                                &arr);
        size_t i = 0;
        for (const auto& [p, n] : seq.docs) {
            bson_t d;
            bson_init_static(&d, p, n);
            std::string key = std::to_string(i++);
            bson_append_document(&arr, key.c_str(), static_cast<int>(key.size()), &d);
        }
        bson_append_array_end(doc.get(), &arr);
    }
    return doc;
}

}  // namespace

static Result<Request> parse_op_msg(const MsgHeader& h, const uint8_t* body, size_t len,
                                    ParseFailure* failure) {
    if (len < 4) return close_error("OP_MSG too short");
    uint32_t flags = static_cast<uint32_t>(read_i32(body));
    Result<size_t> end = check_op_msg_frame(h, body, len, flags);
    if (!end.ok()) return end.error();
    Result<MsgSections> sections = read_sections(body, end.value());
    if (!sections.ok()) return sections.error();
    if (sections.value().bad_bson) {
        failure->reply = true;
        failure->error = Error{22, "invalid BSON in OP_MSG", {}};
        return failure->error;
    }
    Result<Doc> doc = assemble_body(sections.value(), failure);
    if (!doc.ok()) return doc.error();
    Request r;
    r.opcode = kOpMsg;
    r.request_id = h.request_id;
    r.more_to_come = (flags & kFlagMoreToCome) != 0;
    r.body = std::move(doc.value());
    return r;
}

static Result<Request> parse_op_query(const MsgHeader& h, const uint8_t* body, size_t len,
                                      ParseFailure* failure) {
    if (len < 4 + 1 + 8 + 5) return close_error("OP_QUERY too short");
    size_t off = 4;
    const void* nul = std::memchr(body + off, 0, len - off);
    if (!nul) return close_error("OP_QUERY namespace not terminated");
    std::string ns(reinterpret_cast<const char*>(body + off),
                   static_cast<const uint8_t*>(nul) - (body + off));
    off += ns.size() + 1;
    if (len - off < 8) return close_error("OP_QUERY truncated");
    off += 8;  // skip, numberToReturn
    size_t n = valid_doc_at(body + off, len - off);
    if (!n) return close_error("OP_QUERY with malformed query document");
    Request r;
    r.opcode = kOpQuery;
    r.request_id = h.request_id;
    const std::string suffix = ".$cmd";
    if (ns.size() <= suffix.size() ||
        ns.compare(ns.size() - suffix.size(), suffix.size(), suffix) != 0) {
        failure->reply = true;
        failure->error = Error{352, "OP_QUERY is only supported on <db>.$cmd", {}};
        return failure->error;
    }
    r.query_db = ns.substr(0, ns.size() - suffix.size());
    bson_t q;
    bson_init_static(&q, body + off, n);
    bson_iter_t it;
    if (bson_iter_init_find(&it, &q, "$query") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        r.body = iter_subdoc(&it);
    } else {
        r.body = Doc::copy_of(&q);
    }
    return r;
}

Result<Request> parse_message(const MsgHeader& h, const uint8_t* body, size_t len,
                              ParseFailure* failure) {
    failure->reply = false;
    switch (h.opcode) {
        case kOpMsg:
            return parse_op_msg(h, body, len, failure);
        case kOpQuery:
            return parse_op_query(h, body, len, failure);
        default:
            return close_error("unsupported opcode " + std::to_string(h.opcode));
    }
}

std::string build_op_msg(int32_t request_id, int32_t response_to, const bson_t* doc) {
    std::string s;
    s.reserve(kHeaderSize + 5 + doc->len);
    append_i32(s, 0);
    append_i32(s, request_id);
    append_i32(s, response_to);
    append_i32(s, kOpMsg);
    append_i32(s, 0);   // flagBits
    s.push_back('\0');  // kind 0
    s.append(reinterpret_cast<const char*>(bson_get_data(doc)), doc->len);
    put_i32(s, 0, static_cast<int32_t>(s.size()));
    return s;
}

std::string build_op_reply(int32_t request_id, int32_t response_to, const bson_t* doc) {
    std::string s;
    s.reserve(kHeaderSize + 20 + doc->len);
    append_i32(s, 0);
    append_i32(s, request_id);
    append_i32(s, response_to);
    append_i32(s, kOpReply);
    append_i32(s, 0);  // responseFlags
    append_i32(s, 0);  // cursorID (int64)
    append_i32(s, 0);
    append_i32(s, 0);  // startingFrom
    append_i32(s, 1);  // numberReturned
    s.append(reinterpret_cast<const char*>(bson_get_data(doc)), doc->len);
    put_i32(s, 0, static_cast<int32_t>(s.size()));
    return s;
}

}  // namespace standin
