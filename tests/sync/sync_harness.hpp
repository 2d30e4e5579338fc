#pragma once
// One ServerCore and several ClientCores, each on its own temporary store, joined by in-memory
// pipes. pump_until() moves frames until a condition holds: no sleeps, no threads.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/models.hpp"
#include "common/objects.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "sync/client_core.hpp"
#include "sync/protocol.hpp"
#include "sync/server_core.hpp"
#include "sync/transport.hpp"

namespace outpost::sync::testing {

using ::outpost::test::count;
using ::outpost::test::find;
using ::outpost::test::gid;
using ::outpost::test::put;
using ::outpost::test::sync_model;
using ::outpost::test::TempDir;

inline std::shared_ptr<Store> open_store(const std::string& dir, const Model& m) {
    StoreOptions o;
    o.no_sync = true;
    auto s = Store::open(dir, m, o);
    EXPECT_OK(s);
    return s.value();
}

struct TestClient {
    std::string name;
    std::shared_ptr<Store> store;
    std::unique_ptr<ClientCore> core;
    std::shared_ptr<MemoryPipe> pipe;
    ServerCore::SessionId session = 0;
    std::map<std::string, int> received;  // message name -> count
    ErrorCode close_code = ErrorCode::kOk;
    bool closed = false;
    // The connection dies just before the next Ack reaches the client: the server applied the push,
    // the client never hears of it (nor of anything after it on that connection).
    bool drop_acks = false;
    // The connection dies after this many more frames reach the client (-1: it does not): the
    // frames the server sent after them are lost, whatever they are.
    int cut_after_frames = -1;

    DynamicBox box(const char* entity) { return store->box(entity).value(); }
};

class SyncNet {
  public:
    explicit SyncNet(Model model = sync_model(), ServerOptions options = default_options()) {
        model_ = model;
        server_options_ = options;
        server_store_ = open_store(dir_.sub("server"), model);
        auto core = ServerCore::create(server_store_, std::move(options));
        EXPECT_OK(core);
        server_ = std::move(core).value();
    }

    // A copy of the server's data directory now, under NAME.
    void backup_server(const std::string& name) {
        std::filesystem::copy(dir_.sub("server"), dir_.sub(name),
                              std::filesystem::copy_options::recursive);
    }
    // The server comes back from backup NAME: every client is cut, the server's data is replaced.
    void restore_server(const std::string& name) {
        for (auto& c : clients_) {
            if (c->pipe) cut(*c);
        }
        server_.reset();
        server_store_.reset();
        std::filesystem::remove_all(dir_.sub("server"));
        std::filesystem::copy(dir_.sub(name), dir_.sub("server"),
                              std::filesystem::copy_options::recursive);
        server_store_ = open_store(dir_.sub("server"), model_);
        auto core = ServerCore::create(server_store_, server_options_);
        EXPECT_OK(core);
        server_ = std::move(core).value();
    }

    // The server process restarts (kill -9 and start) on the same data: every client is cut.
    void restart_server() {
        for (auto& c : clients_) {
            if (c->pipe) cut(*c);
        }
        server_.reset();
        server_store_.reset();
        server_store_ = open_store(dir_.sub("server"), model_);
        auto core = ServerCore::create(server_store_, server_options_);
        EXPECT_OK(core);
        server_ = std::move(core).value();
    }

    static ServerOptions default_options() {
        ServerOptions o;
        o.shared_secret = "s3cret";
        return o;
    }

    ServerCore& server() { return *server_; }
    // When set, clients added later get this maximum message size (ClientOptions).
    size_t client_max_message_size = 0;
    Store& server_store() { return *server_store_; }

    TestClient& add_client(const std::string& name, const Model* model = nullptr,
                           std::string credentials = "s3cret") {
        ClientOptions o;
        o.credentials = std::move(credentials);
        return add_client(name, std::move(o), model);
    }
    // A client that logs in with TOKEN (credential kind 2, a JWT) and VARIABLES.
    TestClient& add_jwt_client(const std::string& name, std::string token,
                               FilterVariables variables = {}) {
        ClientOptions o;
        o.credentials = std::move(token);
        o.credential_kind = 2;
        o.variables = std::move(variables);
        return add_client(name, std::move(o));
    }
    TestClient& add_client(const std::string& name, ClientOptions o, const Model* model = nullptr) {
        auto c = std::make_unique<TestClient>();
        c->name = name;
        c->store = open_store(dir_.sub(name), model ? *model : model_);
        if (client_max_message_size != 0) o.max_message_size = client_max_message_size;
        credentials_[c.get()] = o;
        auto core = ClientCore::create(c->store, std::move(o));
        EXPECT_OK(core);
        c->core = std::move(core).value();
        clients_.push_back(std::move(c));
        return *clients_.back();
    }

    void connect(TestClient& c) {
        c.pipe = MemoryPipe::create();
        c.closed = false;
        c.close_code = ErrorCode::kOk;
        c.session = server_->on_connect(c.pipe->end(MemoryPipe::kServer));
        c.core->connect(c.pipe->end(MemoryPipe::kClient));
    }

    // The app restarts: connection gone, core and store closed, then both opened again.
    void restart(TestClient& c) {
        cut(c);
        c.core.reset();
        std::string dir = c.store->dir();
        Model model = c.store->model();
        c.store.reset();
        c.store = open_store(dir, model);
        auto core = ClientCore::create(c.store, credentials_[&c]);
        EXPECT_OK(core);
        c.core = std::move(core).value();
    }

    // A network failure between C and the server: both sides are told.
    void cut(TestClient& c) {
        if (!c.pipe) return;
        c.pipe->cut();
        pump_pipe(c);
    }

    // One round: every client polls, every pipe delivers what it holds, the server polls.
    bool pump_once() {
        bool moved = false;
        for (auto& c : clients_) {
            c->core->poll();
            moved |= pump_pipe(*c);
        }
        server_->poll();
        return moved;
    }

    // Pumps until COND holds (true) or nothing moves any more (false).
    bool pump_until(const std::function<bool()>& cond, int max_rounds = 1000000) {
        for (int i = 0; i < max_rounds; ++i) {
            if (cond()) return true;
            if (!pump_once() && !cond()) {
                // Quiet: one more round in case a poll produced something.
                if (!pump_once()) return cond();
            }
        }
        return cond();
    }
    void pump_all() {
        pump_until([] { return false; });
    }

    // Grouped delivery: each pump hands every frame queued toward the server to
    // ServerCore::on_messages at once, and every frame toward a client to ClientCore::on_messages
    // (as SyncServer and SyncClient do with what queued up while their worker was busy).
    void set_grouped(bool on) { grouped_ = on; }

    bool all_up_to_date() {
        for (auto& c : clients_) {
            if (c->pipe && !c->closed && !c->core->up_to_date()) return false;
        }
        return true;
    }

  private:
    bool pump_pipe(TestClient& c) {
        if (!c.pipe) return false;
        if (grouped_) return pump_pipe_grouped(c);
        bool moved = false;
        while (auto item = c.pipe->next_for(MemoryPipe::kServer)) {
            moved = true;
            if (item->is_close) {
                server_->on_disconnect(c.session);
                close_client(c, item->code);
                return true;
            }
            server_->on_message(c.session, as_span(item->frame));
        }
        while (auto item = c.pipe->next_for(MemoryPipe::kClient)) {
            moved = true;
            if (item->is_close) {
                server_->on_disconnect(c.session);
                close_client(c, item->code);
                return true;
            }
            if (lost_here(c)) continue;  // the next item is the close
            auto decoded = decode_message(as_span(item->frame));
            if (decoded) {
                ++c.received[message_name(*decoded)];
                if (c.drop_acks && std::holds_alternative<Ack>(*decoded)) {
                    c.drop_acks = false;
                    c.pipe->cut();
                    continue;  // the next item is the close
                }
            }
            c.core->on_message(as_span(item->frame));
        }
        return moved;
    }

    bool pump_pipe_grouped(TestClient& c) {
        bool moved = false;
        std::vector<std::string> frames;
        std::optional<MemoryPipe::Item> close;
        while (auto item = c.pipe->next_for(MemoryPipe::kServer)) {
            moved = true;
            if (item->is_close) {
                close = std::move(item);
                break;
            }
            frames.push_back(std::move(item->frame));
        }
        std::vector<ServerCore::Incoming> incoming;
        for (const auto& f : frames) incoming.push_back({c.session, as_span(f)});
        server_->on_messages(incoming);
        if (close) {
            server_->on_disconnect(c.session);
            close_client(c, close->code);
            return true;
        }
        frames.clear();
        while (auto item = c.pipe->next_for(MemoryPipe::kClient)) {
            moved = true;
            if (item->is_close) {
                close = std::move(item);
                break;
            }
            if (lost_here(c)) continue;  // the next item is the close
            auto decoded = decode_message(as_span(item->frame));
            if (decoded) {
                ++c.received[message_name(*decoded)];
                if (c.drop_acks && std::holds_alternative<Ack>(*decoded)) {
                    c.drop_acks = false;
                    c.pipe->cut();
                    continue;  // the next item is the close
                }
            }
            frames.push_back(std::move(item->frame));
        }
        std::vector<std::span<const uint8_t>> spans;
        for (const auto& f : frames) spans.push_back(as_span(f));
        c.core->on_messages(spans);
        if (close) {
            server_->on_disconnect(c.session);
            close_client(c, close->code);
        }
        return moved;
    }

    // Whether the frame at hand is lost with the connection (TestClient::cut_after_frames). What
    // the client sent before the link died still reaches the server (it was on the wire).
    bool lost_here(TestClient& c) {
        if (c.cut_after_frames < 0) return false;
        if (c.cut_after_frames-- > 0) return false;
        c.cut_after_frames = -1;
        while (auto item = c.pipe->next_for(MemoryPipe::kServer)) {
            if (item->is_close) break;
            server_->on_message(c.session, as_span(item->frame));
        }
        c.pipe->cut();
        return true;
    }

    void close_client(TestClient& c, ErrorCode code) {
        c.core->on_disconnect();
        c.closed = true;
        c.close_code = code;
        c.pipe.reset();
    }

    static std::span<const uint8_t> as_span(const std::string& s) {
        return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
    }

    TempDir dir_;
    Model model_;
    ServerOptions server_options_;
    std::shared_ptr<Store> server_store_;
    std::unique_ptr<ServerCore> server_;
    std::vector<std::unique_ptr<TestClient>> clients_;
    std::map<const TestClient*, ClientOptions> credentials_;  // each client's options
    bool grouped_ = false;
};

}  // namespace outpost::sync::testing
