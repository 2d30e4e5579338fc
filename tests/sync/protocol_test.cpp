#include "sync/protocol.hpp"

#include <gtest/gtest.h>

#include <random>

#include "common/status_macros.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

ChangeSet sample_changes() {
    ChangeSet cs;
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = 42;
    put.gid = new_object_id_gid();
    put.is_new = true;
    put.properties.push_back({7, Value("hello")});
    put.properties.push_back({8, Value(int64_t{-5})});
    put.to_many.push_back({9, {new_object_id_gid(), new_object_id_gid()}});
    cs.objects.push_back(put);
    ObjectChange rm;
    rm.kind = ObjectChange::kRemove;
    rm.entity_uid = 42;
    rm.gid = new_object_id_gid();
    cs.objects.push_back(rm);
    return cs;
}

std::vector<Message> every_message() {
    Login login;
    login.client_id[0] = 1;
    login.client_id[15] = 0xff;
    login.credentials = "secret";
    login.model = describe_model(testing::sync_model());
    login.last_server_seq = 77;
    login.last_server_tag = 0x1234;
    login.client_key.assign(32, 0xa5);
    login.next_client_txn = 9;
    Login jwt = login;  // version 5: a token, filter variables, the scope held
    jwt.credential_kind = 2;
    jwt.credentials = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
    jwt.variables = {{"team", "red"}, {"region_2", ""}};
    jwt.scope_tag = 0xfeedbeef;
    return {login,
            jwt,
            LoginResult{ErrorCode::kSyncUnsupportedModel, 12, "no", 3, {}, {}, 0},
            LoginResult{ErrorCode::kOk, 12, "", 3, sample_changes(), {}, 0},
            LoginResult{ErrorCode::kOk, 12, "", 3, {}, sample_changes(), 0xabcdef},
            Push{5, sample_changes()},
            Ack{5, 13, {}},
            Ack{6, 14, sample_changes()},
            Apply{14, sample_changes()},
            ApplyAck{14},
            FullSyncChunk{15, sample_changes(), true},
            Heartbeat{},
            Error{ErrorCode::kSyncMessageTooLarge, "too big"}};
}

TEST(SyncProtocol, EveryMessageRoundTrips) {
    for (const Message& m : every_message()) {
        std::string frame = encode_message(m);
        auto back = decode_message(bytes(frame));
        ASSERT_OK(back) << message_name(m);
        EXPECT_EQ(*back, m) << message_name(m);
    }
}

TEST(SyncProtocol, DecodesAFrameAtAnyAddress) {
    for (const Message& m : every_message()) {
        std::string frame = encode_message(m);
        for (size_t shift = 1; shift < 8; ++shift) {
            std::string buf = std::string(shift, '\0') + frame;
            auto back = decode_message(bytes(buf).subspan(shift));
            ASSERT_OK(back) << message_name(m) << " at +" << shift;
            EXPECT_EQ(*back, m);
        }
    }
}

TEST(SyncProtocol, DescribeModelListsSyncedEntitiesOnly) {
    Model m = testing::sync_model();
    auto entities = describe_model(m);
    EXPECT_EQ(entities.size(), 3u);  // Person, Note, Kitchen; not the local Draft
    EXPECT_EQ(entities[1].relations.size(), 1u);
}

TEST(SyncProtocol, RejectsGarbage) {
    std::string garbage = "this is not a flatbuffer at all, just some text";
    auto r = decode_message(bytes(garbage));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
    auto empty = decode_message({});
    EXPECT_EQ(empty.status().code(), ErrorCode::kSyncMalformedMessage);
}

TEST(SyncProtocol, TruncationsAreRejectedOrLoseOnlyPadding) {
    for (const Message& m : every_message()) {
        std::string frame = encode_message(m);
        for (size_t n = 0; n < frame.size(); ++n) {
            auto r = decode_message(bytes(frame.substr(0, n)));
            // Cutting only trailing alignment padding leaves the same message; anything else fails.
            if (r.is_ok()) {
                EXPECT_EQ(*r, m) << message_name(m) << " cut at " << n;
            } else {
                EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
            }
        }
        EXPECT_FALSE(decode_message(bytes(frame.substr(0, frame.size() / 2))).is_ok());
    }
}

TEST(SyncProtocol, FlippedBytesNeverCrash) {
    std::mt19937 rng(7);
    for (const Message& m : every_message()) {
        std::string frame = encode_message(m);
        for (int i = 0; i < 2000; ++i) {
            std::string bad = frame;
            bad[rng() % bad.size()] = static_cast<char>(rng());
            auto r = decode_message(bytes(bad));
            if (!r.is_ok()) {
                EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
            }
        }
    }
}

TEST(SyncProtocol, RejectsBadChangeSetInsideValidFrame) {
    std::string frame = encode_apply(3, "\xC5\x01\x05garbage");
    auto r = decode_message(bytes(frame));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
}

TEST(SyncProtocol, RejectsOversized) {
    std::string frame = encode_message(Push{1, sample_changes()});
    auto r = decode_message(bytes(frame), frame.size() - 1);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kSyncMessageTooLarge);
    EXPECT_OK(decode_message(bytes(frame), frame.size()));
}

TEST(SyncProtocol, RejectsFieldsOutOfRange) {
    Login login;
    login.next_client_txn = 1;
    login.client_key.assign(31, 1);
    auto r = decode_message(bytes(encode_message(login)));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
    login.client_key.assign(33, 1);
    EXPECT_FALSE(decode_message(bytes(encode_message(login))).is_ok());
    // No key at all decodes (a version 3 client's Login: the server answers with the version).
    login.client_key.clear();
    EXPECT_OK(decode_message(bytes(encode_message(login))));
    // Transaction numbers start at 1.
    r = decode_message(bytes(encode_message(Push{0, sample_changes()})));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kSyncMalformedMessage);
}

TEST(SyncProtocol, ClientIdHex) {
    ClientId id{};
    id[0] = 0xab;
    id[15] = 0x01;
    EXPECT_EQ(client_id_to_hex(id), "ab000000000000000000000000000001");
}

TEST(Protocol, SupportedVersionsAreTheRangeFromOldestToCurrent) {
    EXPECT_OK(check_protocol_version(kOldestSupportedProtocolVersion));
    EXPECT_OK(check_protocol_version(kProtocolVersion));
    for (uint32_t version : {0u, kOldestSupportedProtocolVersion - 1, kProtocolVersion + 1}) {
        Status st = check_protocol_version(version);
        EXPECT_EQ(st.code(), ErrorCode::kSyncBadVersion) << version;
        EXPECT_EQ(st.message(), "protocol version " + std::to_string(version) +
                                    " is not supported; this server accepts versions " +
                                    std::to_string(kOldestSupportedProtocolVersion) + " to " +
                                    std::to_string(kProtocolVersion));
    }
}

TEST(SyncProtocol, FilterVariablesAreBounded) {
    FilterVariables vars;
    EXPECT_OK(check_filter_variable("team", "red", vars));
    EXPECT_OK(check_filter_variable("_a9", std::string(kMaxVariableValue, 'x'), vars));
    EXPECT_OK(check_filter_variable(std::string(kMaxVariableName, 'n'), "", vars));
    for (const char* bad : {"", "9lives", "a-b", "a.b", "caf\xc3\xa9"}) {
        EXPECT_CODE(check_filter_variable(bad, "v", vars), ErrorCode::kInvalidArgument);
    }
    EXPECT_CODE(check_filter_variable(std::string(kMaxVariableName + 1, 'n'), "", vars),
                ErrorCode::kInvalidArgument);
    EXPECT_CODE(check_filter_variable("v", std::string(kMaxVariableValue + 1, 'x'), vars),
                ErrorCode::kInvalidArgument);
    vars.emplace_back("team", "red");
    EXPECT_CODE(check_filter_variable("team", "blue", vars), ErrorCode::kInvalidArgument);
    vars.clear();
    for (size_t i = 0; i < kMaxFilterVariables; ++i) vars.emplace_back("v" + std::to_string(i), "");
    EXPECT_CODE(check_filter_variable("more", "", vars), ErrorCode::kInvalidArgument);
}

TEST(SyncProtocol, ALoginBeyondTheLimitsIsMalformed) {
    auto decode_login = [](const Login& l) { return decode_message(bytes(encode_message(l))); };
    Login l;
    l.client_id[0] = 1;
    l.credential_kind = 2;
    l.credentials = std::string(kMaxCredentialBytes, 'a');
    EXPECT_OK(decode_login(l));
    l.credentials += 'a';
    EXPECT_CODE(decode_login(l), ErrorCode::kSyncMalformedMessage);
    l.credentials = "t";
    l.credential_kind = 3;
    EXPECT_CODE(decode_login(l), ErrorCode::kSyncMalformedMessage);
    l.credential_kind = 2;
    l.variables = {{"a", "1"}, {"a", "2"}};
    EXPECT_CODE(decode_login(l), ErrorCode::kSyncMalformedMessage);
    l.variables = {{"not a name", "1"}};
    EXPECT_CODE(decode_login(l), ErrorCode::kSyncMalformedMessage);
    l.variables.assign(kMaxFilterVariables + 1, {"x", ""});
    for (size_t i = 0; i < l.variables.size(); ++i) l.variables[i].first += std::to_string(i);
    EXPECT_CODE(decode_login(l), ErrorCode::kSyncMalformedMessage);
}

}  // namespace
}  // namespace outpost::sync
