#pragma once
// What bench-sync's phases share: the run directory, failing and progress, the report, the
// benchmark's model and stores, an in-process sync server, clients (SyncClient and raw WebSocket)
// and login frames.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admin_load.hpp"
#include "net/ws_client.hpp"
#include "outpost/store.hpp"
#include "outpost/sync_client.hpp"
#include "sync/auth/token_mint.hpp"
#include "sync/auth/token_verifier.hpp"
#include "sync/protocol.hpp"
#include "sync/rules/sync_rules.hpp"
#include "sync/sync_server.hpp"

namespace outpost::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline std::string g_run_dir;
inline bool g_keep = false;
inline size_t g_admin_pollers = 0;  // --admin-pollers

[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "bench-sync: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::exit(1);
}

inline void check(const Status& st, std::string_view what) {
    if (!st.is_ok()) fail(what, st.to_string());
}

template <typename T>
inline T take(Result<T> r, std::string_view what) {
    if (!r) fail(what, r.status().to_string());
    return std::move(r).value();
}

inline void remove_run_dir() {
    if (g_run_dir.empty() || g_keep) return;
    std::error_code ec;
    fs::remove_all(g_run_dir, ec);
}

inline std::string fresh_dir(std::string_view name) {
    fs::path p = fs::path(g_run_dir) / std::string(name);
    std::error_code ec;
    fs::remove_all(p, ec);
    if (!fs::create_directories(p, ec)) fail("creating " + p.string(), ec.message());
    return p.string();
}

inline double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

inline void progress(const char* fmt, auto... args) {
    std::fprintf(stderr, "bench-sync: ");
    std::fprintf(stderr, fmt, args...);
    std::fprintf(stderr, "\n");
}

struct Report {
    std::map<std::string, double> values;
    void print(const std::string& name, double value, std::string_view unit, int decimals = 0) {
        values[name] = value;
        std::printf("%s: %.*f %.*s\n", name.c_str(), decimals, value, static_cast<int>(unit.size()),
                    unit.data());
        std::fflush(stdout);
    }
    // "target NAME: VALUE (target <= / >= LIMIT UNIT: met|MISSED)"
    void target(const std::string& name, bool at_most, double limit, std::string_view unit) {
        auto it = values.find(name);
        if (it == values.end()) return;
        bool met = at_most ? it->second <= limit : it->second >= limit;
        std::printf("target %s: %.2f (target %s %g %.*s: %s)\n", name.c_str(), it->second,
                    at_most ? "<=" : ">=", limit, static_cast<int>(unit.size()), unit.data(),
                    met ? "met" : "MISSED");
        std::fflush(stdout);
    }
};

// ---- the data -------------------------------------------------------------------------------

constexpr const char* kEntity = "Item";

inline Model bench_model() {
    ModelBuilder b;
    b.entity(kEntity)
        .sync(true)
        .property("id", PropertyType::kInt64, kFlagId)
        .property("counter", PropertyType::kInt64)
        .property("text", PropertyType::kString)
        .property("created", PropertyType::kDate);
    return take(b.build(), "model");
}

// A small object: two 8-byte values and a string of 20-27 characters.
inline void fill_item(Object& o, int64_t i) {
    check(o.set("counter", i), "set counter");
    check(o.set("text", "item number " + std::to_string(1'000'000'000 + i)), "set text");
    check(o.set("created", int64_t{1'764'000'000'000} + i), "set created");
}

inline std::shared_ptr<Store> open_store(const std::string& dir, const Model& model) {
    StoreOptions options;  // fsync on commit, as in production
    options.max_size_bytes = 16ull << 30;
    return take(Store::open(dir, model, options), "opening the store in " + dir);
}

// Writes objects FIRST .. FIRST+COUNT-1 in transactions of BATCH.
inline void put_items(Store& store, int64_t first, size_t count, size_t batch) {
    DynamicBox box = take(store.box(kEntity), "box");
    for (size_t i = 0; i < count; i += batch) {
        WriteTxn txn = take(store.begin_write(), "begin write");
        for (size_t j = i; j < std::min(count, i + batch); ++j) {
            Object o = box.new_object();
            fill_item(o, first + static_cast<int64_t>(j));
            take(box.put(txn, o), "put");
        }
        check(txn.commit(), "commit");
    }
}

inline uint64_t count_items(Store& store) {
    DynamicBox box = take(store.box(kEntity), "box");
    return take(box.count(), "count");
}

// ---- an in-process server and full clients -------------------------------------------------

struct Server {
    std::shared_ptr<Store> store;
    std::unique_ptr<sync::SyncServer> server;
    std::string url;
    std::unique_ptr<AdminLoad> admin;  // with --admin-pollers

    // CORE, when set, changes the core's options before the server starts.
    Server(const std::string& dir, const Model& model,
           const std::function<void(sync::ServerOptions&)>& core = {}) {
        store = open_store(dir, model);
        sync::SyncServerOptions options;
        options.core.allow_unauthenticated = true;
        options.core.history_max_records = 0;
        if (core) core(options.core);
        options.net.urls = {"ws://127.0.0.1:0"};
        server = take(sync::SyncServer::create(store, std::move(options)), "sync server");
        check(server->start(), "starting the sync server");
        url = server->bound_urls().front();
        if (g_admin_pollers > 0)
            admin = std::make_unique<AdminLoad>(store, server.get(), g_admin_pollers);
    }
    ~Server() {
        admin.reset();
        server->stop();
        server.reset();
    }
};

struct Client {
    std::shared_ptr<Store> store;
    std::unique_ptr<SyncClient> client;

    Client(const std::string& dir, const Model& model, const std::string& url,
           std::string credentials = {}) {
        store = open_store(dir, model);
        SyncClientOptions options;
        options.urls = {url};
        options.credentials = std::move(credentials);
        client = take(SyncClient::create(store, std::move(options)), "sync client");
    }
    void start_and_sync(std::string_view who) {
        client->start();
        check(client->wait_until_up_to_date(60s), std::string(who) + " first sync");
    }
};

// ---- raw protocol clients (fan-out readers, idle connections) -------------------------------

// Counters shared by many raw clients; waiters wake on every change of `logged_in`, `done` or
// `closed`.
struct Tally {
    std::mutex mu;
    std::condition_variable cv;
    size_t logged_in = 0;  // got the last full-sync chunk
    size_t done = 0;       // received every expected object
    size_t closed = 0;
    std::string last_close;

    void bump(size_t Tally::*field) {
        {
            std::lock_guard lock(mu);
            ++(this->*field);
        }
        cv.notify_all();
    }
    // Waits until PRED (under the lock) or DEADLINE.
    template <typename Pred>
    bool wait(Clock::duration timeout, Pred pred) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, timeout, [&] { return pred(*this); });
    }
};

// Logs in with a random client id and the full model, then counts the objects of every Apply it
// receives (answering each with an ApplyAck). Callbacks run on the shared EventLoop.
class RawClient {
  public:
    RawClient(const std::string& url, std::shared_ptr<net::EventLoop> loop, Tally& tally,
              std::string login_frame, uint64_t expect_objects)
        : tally_(tally), login_(std::move(login_frame)), expect_(expect_objects) {
        net::WsClientOptions options;
        options.url = url;
        options.connect_timeout = 60s;
        options.idle_timeout = 600s;
        ws_ = std::make_unique<net::WsClient>(std::move(options), std::move(loop));
        ws_->set_on_open([this] {
            ws_->send(std::span(reinterpret_cast<const uint8_t*>(login_.data()), login_.size()));
        });
        ws_->set_on_message([this](std::span<const uint8_t> frame) { on_message(frame); });
        ws_->set_on_close([this](uint16_t code, const std::string& reason) {
            {
                std::lock_guard lock(tally_.mu);
                tally_.last_close = std::to_string(code) + " " + reason;
            }
            tally_.bump(&Tally::closed);
        });
    }
    void connect() { ws_->connect(); }
    uint64_t objects() const { return objects_; }

  private:
    void on_message(std::span<const uint8_t> frame) {
        auto msg = sync::decode_message(frame);
        if (!msg) fail("a reader decoding a frame", msg.status().to_string());
        if (auto* r = std::get_if<sync::LoginResult>(&*msg)) {
            if (r->code != ErrorCode::kOk) fail("login", r->message);
        } else if (auto* c = std::get_if<sync::FullSyncChunk>(&*msg)) {
            if (c->last) {
                ack(c->server_seq);
                tally_.bump(&Tally::logged_in);
            }
        } else if (auto* a = std::get_if<sync::Apply>(&*msg)) {
            objects_ += a->changes.objects.size();
            ack(a->server_seq);
            if (expect_ != 0 && objects_ == expect_) tally_.bump(&Tally::done);
        }
    }
    void ack(uint64_t seq) {
        std::string f = sync::encode_message(sync::ApplyAck{seq});
        ws_->send(std::span(reinterpret_cast<const uint8_t*>(f.data()), f.size()));
    }

    Tally& tally_;
    const std::string login_;
    const uint64_t expect_;
    uint64_t objects_ = 0;  // on the loop's threads, one callback at a time
    std::unique_ptr<net::WsClient> ws_;
};

// TOKEN, when set, goes as a JWT (credential kind 2).
inline std::string login_frame(const Model& model, std::mt19937_64& rng,
                               const std::string& token = {}) {
    sync::Login login;
    if (!token.empty()) {
        login.credentials = token;
        login.credential_kind = static_cast<uint8_t>(sync::auth::CredentialKind::kJwt);
    }
    for (auto& b : login.client_id) b = static_cast<uint8_t>(rng());
    login.client_key.resize(32);
    for (auto& b : login.client_key) b = static_cast<uint8_t>(rng());
    login.next_client_txn = 1;
    login.model = sync::describe_model(model);
    return sync::encode_message(login);
}

// The jwt_logins phase (jwt_logins.cpp).
void run_jwt_logins(const Model& model, size_t n, size_t parallel, Report& report);

}  // namespace outpost::bench
