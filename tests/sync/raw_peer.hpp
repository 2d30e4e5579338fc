#pragma once
// A hand-driven connection to a ServerCore: the test is the client and sees every frame.
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "sync/protocol.hpp"
#include "sync/server_core.hpp"
#include "sync/transport.hpp"

namespace outpost::sync {

inline std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A hand-driven connection: the test is the client.
struct RawPeer {
    std::shared_ptr<MemoryPipe> pipe = MemoryPipe::create();
    ServerCore::SessionId session = 0;
    std::vector<Message> received;
    bool closed = false;
    ErrorCode close_code = ErrorCode::kOk;

    explicit RawPeer(ServerCore& server, std::string remote_address = {})
        : session(server.on_connect(pipe->end(MemoryPipe::kServer), std::move(remote_address))) {}

    void send(ServerCore& server, const std::string& frame) {
        server.on_message(session, bytes(frame));
    }
    void drain() {
        while (auto item = pipe->next_for(MemoryPipe::kClient)) {
            if (item->is_close) {
                closed = true;
                close_code = item->code;
                continue;
            }
            auto m = decode_message(bytes(item->frame));
            ASSERT_OK(m);
            received.push_back(*m);
        }
    }
    template <typename T>
    const T* last() const {
        for (auto it = received.rbegin(); it != received.rend(); ++it) {
            if (auto* p = std::get_if<T>(&*it)) return p;
        }
        return nullptr;
    }
};

// A Login that a server with the shared secret "s3cret" admits (client id 9..., a fixed key).
inline Login good_login(const Model& model, std::string credentials = "s3cret") {
    Login l;
    l.client_id[0] = 9;
    l.credentials = std::move(credentials);
    l.model = describe_model(model);
    l.client_key.assign(32, 0x5c);
    l.next_client_txn = 1;
    return l;
}

// A Push of one change of a Person's age (MODEL: testing::sync_model()).
inline Push person_push(const Model& m, uint64_t client_txn, const Gid& gid, Value age,
                        bool is_new) {
    Push push;
    push.client_txn = client_txn;
    ObjectChange c;
    c.entity_uid = m.entity("Person")->id.uid;
    c.gid = gid;
    c.is_new = is_new;
    c.properties.push_back({m.entity("Person")->property("age")->id.uid, std::move(age)});
    push.changes.objects.push_back(std::move(c));
    return push;
}

}  // namespace outpost::sync
