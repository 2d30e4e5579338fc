// Wire parser: well-formed messages decode; garbage, truncated and tampered messages are
// rejected without crashing (the same inputs the fuzz target explores).
#include "wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "query_match.hpp"
#include "update_ops.hpp"

namespace standin {
namespace {

void put_i32(std::string& s, int32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }

std::string doc_bytes(const char* json) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json), -1, &err);
    EXPECT_NE(b, nullptr) << err.message;
    std::string s(reinterpret_cast<const char*>(bson_get_data(b)), b->len);
    bson_destroy(b);
    return s;
}

// A full OP_MSG: header + flags + sections (+ checksum when asked).
std::string op_msg(uint32_t flags, const std::string& sections, bool checksum = false,
                   bool bad_checksum = false) {
    std::string m;
    put_i32(m, 0);
    put_i32(m, 7);
    put_i32(m, 0);
    put_i32(m, kOpMsg);
    put_i32(m, static_cast<int32_t>(flags | (checksum ? kFlagChecksumPresent : 0)));
    m += sections;
    int32_t len = static_cast<int32_t>(m.size() + (checksum ? 4 : 0));
    std::memcpy(&m[0], &len, 4);
    if (checksum) {
        uint32_t crc = crc32c(reinterpret_cast<const uint8_t*>(m.data()), m.size());
        if (bad_checksum) crc ^= 1;
        m.append(reinterpret_cast<const char*>(&crc), 4);
    }
    return m;
}

std::string kind1(const std::string& name, const std::vector<std::string>& docs) {
    std::string body = name + std::string(1, '\0');
    for (const auto& d : docs) body += d;
    std::string s(1, '\x01');
    put_i32(s, static_cast<int32_t>(body.size() + 4));
    return s + body;
}

Result<Request> parse(const std::string& m, ParseFailure* f) {
    auto h = parse_header(reinterpret_cast<const uint8_t*>(m.data()));
    if (!h.ok()) return h.error();
    if (static_cast<size_t>(h.value().length) != m.size()) return Error{0, "length mismatch", {}};
    return parse_message(h.value(), reinterpret_cast<const uint8_t*>(m.data()) + kHeaderSize,
                         m.size() - kHeaderSize, f);
}

// A code-with-scope value whose string fills the whole value leaves no room for the scope
// document: refused without reading its size past the buffer. The read past the end is what this
// test catches, so it fails only where reads are checked: the ASan pass of scripts/test
// (build/standin-asan), which reported a 3-byte overread here before the fix.
TEST(Wire, CodeWithScopeWithoutRoomForTheScopeIsRefused) {
    std::string body;
    body.push_back(0x0F);
    body.append("c", 2);
    const int32_t string_len = 10;      // 9 characters and the terminating 0
    put_i32(body, 4 + 4 + string_len);  // the value's total: only its string, no scope
    put_i32(body, string_len);
    body.append("123456789", 10);
    std::string doc;
    put_i32(doc, static_cast<int32_t>(4 + body.size() + 1));
    doc += body;
    doc.push_back(0);
    // Exactly the document's bytes on the heap, so that a read past the end is one.
    std::vector<uint8_t> bytes(doc.begin(), doc.end());
    EXPECT_FALSE(bson_structure_ok(bytes.data(), bytes.size()));
}

TEST(Wire, ParsesKind0Body) {
    ParseFailure f;
    auto r =
        parse(op_msg(0, std::string(1, '\0') + doc_bytes(R"({"ping": 1, "$db": "admin"})")), &f);
    ASSERT_TRUE(r.ok()) << r.error().msg;
    EXPECT_EQ(get_string(r.value().body.get(), "$db").value_or(""), "admin");
    EXPECT_FALSE(r.value().more_to_come);
}

TEST(Wire, MergesKind1SequenceAsArray) {
    ParseFailure f;
    std::string secs = std::string(1, '\0') + doc_bytes(R"({"insert": "c", "$db": "t"})") +
                       kind1("documents", {doc_bytes(R"({"_id": 1})"), doc_bytes(R"({"_id": 2})")});
    auto r = parse(op_msg(kFlagMoreToCome, secs), &f);
    ASSERT_TRUE(r.ok()) << r.error().msg;
    EXPECT_TRUE(r.value().more_to_come);
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, r.value().body.get(), "documents"));
    ASSERT_TRUE(BSON_ITER_HOLDS_ARRAY(&it));
    Doc arr = iter_subdoc(&it);
    EXPECT_EQ(bson_count_keys(arr.get()), 2u);
}

TEST(Wire, RejectsDuplicateSequenceName) {
    ParseFailure f;
    std::string secs = std::string(1, '\0') + doc_bytes(R"({"insert": "c", "$db": "t"})") +
                       kind1("documents", {doc_bytes(R"({"_id": 1})")}) +
                       kind1("documents", {doc_bytes(R"({"_id": 2})")});
    EXPECT_FALSE(parse(op_msg(0, secs), &f).ok());
    EXPECT_FALSE(f.reply);
}

TEST(Wire, VerifiesChecksum) {
    ParseFailure f;
    std::string secs = std::string(1, '\0') + doc_bytes(R"({"ping": 1, "$db": "admin"})");
    EXPECT_TRUE(parse(op_msg(0, secs, true), &f).ok());
    EXPECT_FALSE(parse(op_msg(0, secs, true, true), &f).ok());
}

TEST(Wire, RejectsIllegalFlagBitsButIgnoresHighBits) {
    ParseFailure f;
    std::string secs = std::string(1, '\0') + doc_bytes(R"({"ping": 1, "$db": "admin"})");
    EXPECT_FALSE(parse(op_msg(1u << 5, secs), &f).ok());
    EXPECT_TRUE(parse(op_msg(1u << 20, secs), &f).ok());
    EXPECT_TRUE(parse(op_msg(kFlagExhaustAllowed, secs), &f).ok());
}

TEST(Wire, InvalidBsonBodyGetsError22) {
    ParseFailure f;
    std::string body = doc_bytes(R"({"ping": 1, "$db": "admin"})");
    body[4] = 0x42;  // an unknown element type
    auto r = parse(op_msg(0, std::string(1, '\0') + body), &f);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(f.reply);
    EXPECT_EQ(f.error.code, 22);
}

TEST(Wire, DeepNestingIsInvalidBsonNotAStackOverflow) {
    // {a: {a: ... {}}} DEPTH levels deep, written front to back (each level adds 8 bytes: its
    // length, the type byte, the name "a" and the terminator).
    auto nested = [](int depth) {
        std::string doc;
        doc.reserve(static_cast<size_t>(depth) * 8 + 5);
        for (int i = depth; i > 0; --i) {
            put_i32(doc, 5 + 8 * i);
            doc += std::string(
                       "\x03"
                       "a",
                       2) +
                   '\0';
        }
        doc += std::string("\x05\x00\x00\x00\x00", 5);
        doc += std::string(static_cast<size_t>(depth), '\0');
        return doc;
    };
    std::string head = std::string(1, '\0') + doc_bytes(R"({"insert": "c", "$db": "t"})");
    ParseFailure f;
    EXPECT_TRUE(parse(op_msg(0, head + kind1("documents", {nested(150)})), &f).ok());
    auto r = parse(op_msg(0, head + kind1("documents", {nested(100000)})), &f);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(f.reply);
    EXPECT_EQ(f.error.code, 22);
}

TEST(Wire, UnwrapsOpQueryCommand) {
    std::string m;
    put_i32(m, 0);
    put_i32(m, 3);
    put_i32(m, 0);
    put_i32(m, kOpQuery);
    put_i32(m, 0);
    m += std::string("admin.$cmd") + '\0';
    put_i32(m, 0);
    put_i32(m, -1);
    m += doc_bytes(R"({"$query": {"isMaster": 1}, "$readPreference": {"mode": "primary"}})");
    int32_t len = static_cast<int32_t>(m.size());
    std::memcpy(&m[0], &len, 4);
    ParseFailure f;
    auto r = parse(m, &f);
    ASSERT_TRUE(r.ok()) << r.error().msg;
    EXPECT_EQ(r.value().query_db, "admin");
    EXPECT_TRUE(get_int(r.value().body.get(), "isMaster").has_value());
}

TEST(Wire, RejectsOutOfRangeLengths) {
    std::string m;
    put_i32(m, 48000001);
    put_i32(m, 1);
    put_i32(m, 0);
    put_i32(m, kOpMsg);
    EXPECT_FALSE(parse_header(reinterpret_cast<const uint8_t*>(m.data())).ok());
    std::memset(&m[0], 0, 4);
    EXPECT_FALSE(parse_header(reinterpret_cast<const uint8_t*>(m.data())).ok());
}

TEST(Wire, SurvivesTruncationsAndRandomMutations) {
    std::string secs = std::string(1, '\0') +
                       doc_bytes(R"({"insert": "c", "$db": "t", "x": {"y": [1, 2, "z"]}})") +
                       kind1("documents", {doc_bytes(R"({"_id": 1, "s": "abc"})")});
    std::string good = op_msg(0, secs, true);
    std::mt19937 rng(1234);
    size_t accepted = 0;
    for (size_t cut = 0; cut < good.size(); ++cut) {
        // Truncated body: parse only the first `cut` bytes after the header.
        if (cut < kHeaderSize) continue;
        ParseFailure f;
        MsgHeader h;
        h.length = static_cast<int32_t>(cut);
        h.opcode = kOpMsg;
        auto r = parse_message(h, reinterpret_cast<const uint8_t*>(good.data()) + kHeaderSize,
                               cut - kHeaderSize, &f);
        if (r.ok()) ++accepted;
    }
    EXPECT_EQ(accepted, 0u) << "a truncated message with a checksum must not parse";
    for (int i = 0; i < 20000; ++i) {
        std::string m = good;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) m[rng() % m.size()] = static_cast<char>(rng());
        if (rng() % 2) m.resize(rng() % m.size());
        ParseFailure f;
        MsgHeader h;
        h.opcode = (rng() % 2) ? kOpMsg : kOpQuery;
        size_t body_len = m.size() > kHeaderSize ? m.size() - kHeaderSize : 0;
        std::vector<uint8_t> body(m.begin() + static_cast<long>(m.size() - body_len), m.end());
        (void)parse_message(h, body.data(), body.size(), &f);
    }
    for (int i = 0; i < 5000; ++i) {
        std::vector<uint8_t> junk(rng() % 200);
        for (auto& b : junk) b = static_cast<uint8_t>(rng());
        ParseFailure f;
        MsgHeader h;
        h.opcode = (i % 3 == 0) ? kOpQuery : kOpMsg;
        (void)parse_message(h, junk.data(), junk.size(), &f);
        if (junk.size() >= kHeaderSize) (void)parse_header(junk.data());
    }
}

TEST(QueryMatch, NumbersCompareAcrossTypesAndNullMatchesMissing) {
    std::string d = doc_bytes(R"({"a": 1, "arr": [{"b": 2}, {"b": 5}]})");
    bson_t v;
    ASSERT_TRUE(view_of(d, &v));
    auto check = [&](const char* filter) {
        std::string f = doc_bytes(filter);
        bson_t fv;
        view_of(f, &fv);
        auto r = matches(&v, &fv);
        EXPECT_TRUE(r.ok());
        return r.ok() && r.value();
    };
    EXPECT_TRUE(check(R"({"a": 1.0})"));
    EXPECT_TRUE(check(R"({"missing": null})"));
    EXPECT_TRUE(check(R"({"arr.b": {"$gt": 4}})"));
    EXPECT_FALSE(check(R"({"arr.b": {"$gt": 5}})"));
    EXPECT_FALSE(check(R"({"a": {"$gt": "0"}})"));  // no comparison across type brackets
    EXPECT_TRUE(check(R"({"arr": {"$elemMatch": {"b": {"$gte": 5}}}})"));
    EXPECT_TRUE(check(R"({"$or": [{"a": 2}, {"arr": {"$size": 2}}]})"));
}

TEST(QueryMatch, RegexIsPcreAndSurvivesHugeSubjects) {
    std::string big(2 * 1024 * 1024, 'a');
    bson_t* d = BCON_NEW("s", BCON_UTF8("a123"), "big", BCON_UTF8(big.c_str()));
    auto check = [&](const char* filter) {
        std::string f = doc_bytes(filter);
        bson_t fv;
        view_of(f, &fv);
        auto r = matches(d, &fv);
        EXPECT_TRUE(r.ok());
        return r.ok() && r.value();
    };
    EXPECT_TRUE(check(R"({"s": {"$regex": "^a\\d+$"}})"));
    EXPECT_TRUE(check(R"({"s": {"$regex": "^A", "$options": "i"}})"));
    EXPECT_FALSE(check(R"({"s": {"$regex": "^A"}})"));
    EXPECT_TRUE(check(R"({"big": {"$regex": "^a+$"}})"));
    EXPECT_FALSE(check(R"({"big": {"$regex": "(a+)+b"}})"));  // catastrophic pattern: bounded
    EXPECT_FALSE(check(R"({"s": {"$regex": "(unclosed"}})"));
    bson_destroy(d);
}

TEST(UpdateOps, FarArrayIndexIsRefusedNotPadded) {
    std::string d = doc_bytes(R"({"_id": 1, "a": [1]})");
    std::string u = doc_bytes(R"({"$set": {"a.999999999": 2}})");
    bson_t dv, uv;
    view_of(d, &dv);
    view_of(u, &uv);
    UpdateSpec spec;
    spec.update = &uv;
    auto r = apply_update(&dv, spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, 2);
    std::string near = doc_bytes(R"({"$set": {"a.3": 2}})");
    view_of(near, &uv);
    auto ok = apply_update(&dv, spec);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok.value().doc.json(),
              Doc::from_string(doc_bytes(R"({"_id": 1, "a": [1, null, null, 2]})")).json());
}

TEST(UpdateOps, ConflictingPathsAreError40) {
    std::string d = doc_bytes(R"({"_id": 1, "a": {"b": 1}})");
    std::string u = doc_bytes(R"({"$set": {"a.b": 2}, "$unset": {"a": 1}})");
    bson_t dv, uv;
    view_of(d, &dv);
    view_of(u, &uv);
    UpdateSpec spec;
    spec.update = &uv;
    auto r = apply_update(&dv, spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, 40);
}

}  // namespace
}  // namespace standin

// ---- the engine on hostile commands: wrong types everywhere, never a crash ----

#include "engine.hpp"

namespace standin {
namespace {

Request command(const std::string& json) {
    Request r;
    r.opcode = kOpMsg;
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.c_str()), -1, &err);
    EXPECT_NE(b, nullptr) << json << ": " << err.message;
    if (b) r.body = Doc(b);
    return r;
}

TEST(EngineInput, WrongTypesGetErrorsNotCrashes) {
    Options o;
    o.test_commands = true;
    Engine e(o);
    ASSERT_TRUE(e.open().ok());
    e.set_advertised("127.0.0.1:1");
    ConnInfo conn;
    const char* templates[] = {
        R"({"insert": X, "documents": X, "ordered": X, "$db": "t"})",
        R"({"insert": "c", "documents": [X, {"_id": X}], "$db": "t"})",
        R"({"update": "c", "updates": [{"q": X, "u": X, "upsert": X, "multi": X, "arrayFilters": X}], "$db": "t"})",
        R"({"update": "c", "updates": X, "$db": "t"})",
        R"({"delete": "c", "deletes": [{"q": X, "limit": X}], "$db": "t"})",
        R"({"find": X, "filter": X, "sort": X, "projection": X, "skip": X, "limit": X, "batchSize": X, "$db": "t"})",
        R"({"find": "c", "filter": {"a": X, "b": {"$in": X}, "c": {"$elemMatch": X}, "$or": X}, "$db": "t"})",
        R"({"find": "c", "filter": {"a": {"$size": X, "$all": X, "$mod": X, "$type": X, "$regex": X}}, "$db": "t"})",
        R"({"aggregate": X, "pipeline": X, "cursor": X, "$db": "t"})",
        R"({"aggregate": "c", "pipeline": [{"$group": X}, {"$project": X}, {"$sort": X}], "cursor": {}, "$db": "t"})",
        R"({"aggregate": "c", "pipeline": [{"$changeStream": X}], "cursor": X, "$db": "t"})",
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {"resumeAfter": X, "fullDocument": X}}], "cursor": {}, "$db": "t"})",
        R"({"aggregate": 1, "pipeline": [{"$changeStream": {"startAtOperationTime": X, "startAfter": X}}], "cursor": {}, "$db": "t"})",
        R"({"getMore": X, "collection": X, "batchSize": X, "maxTimeMS": X, "$db": "t"})",
        R"({"killCursors": X, "cursors": X, "$db": "t"})",
        R"({"findAndModify": X, "query": X, "update": X, "remove": X, "new": X, "fields": X, "upsert": X, "sort": X, "$db": "t"})",
        R"({"count": X, "query": X, "skip": X, "limit": X, "$db": "t"})",
        R"({"distinct": X, "key": X, "query": X, "$db": "t"})",
        R"({"createIndexes": X, "indexes": X, "$db": "t"})",
        R"({"createIndexes": "c", "indexes": [{"key": X, "name": X, "unique": X}], "$db": "t"})",
        R"({"dropIndexes": X, "index": X, "$db": "t"})",
        R"({"renameCollection": X, "to": X, "dropTarget": X, "$db": "admin"})",
        R"({"listCollections": X, "filter": X, "nameOnly": X, "$db": "t"})",
        R"({"create": X, "$db": "t"})",
        R"({"drop": X, "$db": "t"})",
        R"({"insert": "c", "documents": [{}], "lsid": X, "txnNumber": X, "$db": "t"})",
        R"({"insert": "c", "documents": [{}], "lsid": {"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAA==", "subType": "04"}}}, "txnNumber": X, "autocommit": X, "startTransaction": X, "readConcern": X, "$db": "t"})",
        R"({"commitTransaction": 1, "lsid": X, "txnNumber": X, "autocommit": X, "$db": "admin"})",
        R"({"endSessions": X, "$db": "admin"})",
        R"({"configureFailPoint": X, "mode": X, "data": X, "$db": "admin"})",
        R"({"hello": X, "helloOk": X, "$db": X})",
    };
    const char* values[] = {"1",
                            "-1",
                            "\"s\"",
                            "{}",
                            "[]",
                            "null",
                            "true",
                            "{\"$x\": 1}",
                            "[1, \"a\", {}]",
                            "{\"$numberLong\": \"9223372036854775807\"}",
                            "{\"a\": [{\"b\": null}]}",
                            "{\"$timestamp\": {\"t\": 1, \"i\": 1}}"};
    int replies = 0;
    for (const char* t : templates) {
        for (const char* v : values) {
            std::string json = t;
            for (size_t p; (p = json.find('X')) != std::string::npos;) json.replace(p, 1, v);
            Request r = command(json);
            Outcome out = e.run(r, conn, true, Clock::now());
            if (!out.close && !out.park) {
                EXPECT_TRUE(bson_has_field(out.reply.get(), "ok")) << json;
                ++replies;
            }
        }
    }
    EXPECT_GT(replies, 300);
}

}  // namespace
}  // namespace standin
