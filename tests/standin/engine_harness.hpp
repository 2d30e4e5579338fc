// Runs commands (given as relaxed extended JSON) straight through a stand-in Engine, without a
// socket, and reads the replies: for tests of command behaviour that need no driver.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine.hpp"

namespace standin::testing {

inline Doc json_doc(const std::string& json) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.c_str()), -1, &err);
    EXPECT_NE(b, nullptr) << json << ": " << err.message;
    return b ? Doc(b) : Doc();
}

// Relaxed extended JSON of a document, for comparisons in assertions.
inline std::string relaxed(const bson_t* b) {
    char* s = bson_as_relaxed_extended_json(b, nullptr);
    std::string out = s ? s : "";
    bson_free(s);
    return out;
}

// The same JSON as libbson prints it, so that expectations may be written loosely.
inline std::string normalized(const std::string& json) { return relaxed(json_doc(json).get()); }

class EngineHarness {
  public:
    explicit EngineHarness(bool test_commands = true) : engine_(make_options(test_commands)) {
        EXPECT_TRUE(engine_.open().ok());
        engine_.set_advertised("127.0.0.1:1");
    }

    // Runs one command; "$db" defaults to "t". Returns what the connection would do with it.
    Outcome run_outcome(const std::string& json) {
        Doc cmd = json_doc(json);
        if (!bson_has_field(cmd.get(), "$db")) BSON_APPEND_UTF8(cmd.get(), "$db", "t");
        Request r;
        r.opcode = kOpMsg;
        r.body = std::move(cmd);
        Outcome o = engine_.run(r, conn_, false, Clock::time_point{});
        if (o.park) {
            // A command that would wait: run it again as if its deadline had passed.
            o = engine_.run(r, conn_, true, Clock::now());
        }
        return o;
    }

    // Runs one command; returns the reply (ok:1 or the error document).
    Doc run(const std::string& json) { return std::move(run_outcome(json).reply); }

    // Runs a command that must succeed.
    Doc ok(const std::string& json) {
        Doc r = run(json);
        EXPECT_EQ(get_int(r.get(), "ok").value_or(0), 1) << json << " -> " << relaxed(r.get());
        return r;
    }

    // Runs a command that must fail with CODE; returns the error reply.
    Doc fails(const std::string& json, int code) {
        Doc r = run(json);
        EXPECT_EQ(get_int(r.get(), "ok").value_or(1), 0) << json << " -> " << relaxed(r.get());
        EXPECT_EQ(get_int(r.get(), "code").value_or(0), code) << json << " -> " << relaxed(r.get());
        return r;
    }

    // The documents of a cursor reply's first batch, each as relaxed JSON.
    static std::vector<std::string> batch(const bson_t* reply) {
        std::vector<std::string> out;
        bson_iter_t it, b;
        if (!bson_iter_init_find(&it, reply, "cursor") || !bson_iter_recurse(&it, &b)) return out;
        while (bson_iter_next(&b)) {
            const char* k = bson_iter_key(&b);
            if (std::string(k) != "firstBatch" && std::string(k) != "nextBatch") continue;
            bson_iter_t d;
            bson_iter_recurse(&b, &d);
            while (bson_iter_next(&d)) {
                Doc doc = iter_subdoc(&d);
                out.push_back(relaxed(doc.get()));
            }
        }
        return out;
    }

    // The cursor id of a cursor reply (0 when there is none).
    static int64_t cursor_id(const bson_t* reply) {
        bson_iter_t it;
        if (bson_iter_init(&it, reply) && bson_iter_find_descendant(&it, "cursor.id", &it) &&
            BSON_ITER_HOLDS_INT64(&it))
            return bson_iter_int64(&it);
        return 0;
    }

    // getMore on cursor ID of collection COLL (waits at most MAX_TIME_MS for a change stream).
    Doc get_more(int64_t id, const std::string& coll, int max_time_ms = 10) {
        return run(R"({"getMore": {"$numberLong": ")" + std::to_string(id) +
                   R"("}, "collection": ")" + coll + R"(", "maxTimeMS": )" +
                   std::to_string(max_time_ms) + "}");
    }

    // find with FILTER_AND_OPTIONS (the JSON after {"find": "c", ...}) on collection COLL.
    std::vector<std::string> find(const std::string& coll, const std::string& rest = "") {
        std::string json = "{\"find\": \"" + coll + "\"" + (rest.empty() ? "" : ", " + rest) + "}";
        Doc r = ok(json);
        return batch(r.get());
    }

    Engine& engine() { return engine_; }

  private:
    static Options make_options(bool test_commands) {
        Options o;
        o.test_commands = test_commands;
        return o;
    }

    Engine engine_;
    ConnInfo conn_;
};

// Normalized expectations: each JSON document as libbson prints it.
inline std::vector<std::string> docs(std::initializer_list<const char*> jsons) {
    std::vector<std::string> out;
    for (const char* j : jsons) out.push_back(normalized(j));
    return out;
}

}  // namespace standin::testing
