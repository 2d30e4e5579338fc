#pragma once
// Shared fixture of the sync integration tests: a real outpost-server process (start on a free
// port, SIGTERM, kill -9, restart on the same data directory and port), in-process SyncClients on
// real stores with their events recorded, a model with every property type and both relation kinds,
// and waits with deadlines (tests wait on conditions, never on time).

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/models.hpp"
#include "common/objects.hpp"
#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "common/wait.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "outpost/json.hpp"
#include "outpost/model.hpp"
#include "outpost/store.hpp"
#include "outpost/sync_client.hpp"
#include "sync/protocol.hpp"

namespace outpost::it {

using namespace std::chrono_literals;

inline constexpr auto kDeadline = 60s;
inline constexpr const char* kSecret = "it-secret";

using ::outpost::test::Clock;
using ::outpost::test::count;
using ::outpost::test::find;
using ::outpost::test::gid;
using ::outpost::test::Process;
using ::outpost::test::put;
using ::outpost::test::run_program;
using ::outpost::test::RunResult;
using ::outpost::test::TempDir;
using ::outpost::test::wait_until;

// The test model (tests/common/models.hpp) with Kitchen's relations and the bulk entity Item.
// MISMATCH makes Person.age a string: a client with it is refused (sync_unsupported_model).
inline Model it_model(bool mismatch = false) {
    return test::sync_model(
        {.nick = false, .age_as_string = mismatch, .kitchen_relations = true, .item = true});
}

inline std::string write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    return path;
}

inline std::shared_ptr<Store> open_store(const std::string& dir, const Model& model,
                                         bool durable = false) {
    StoreOptions o;
    o.no_sync = !durable;
    o.max_size_bytes = 1ull << 30;
    auto s = Store::open(dir, model, o);
    EXPECT_OK(s) << dir;
    return s.is_ok() ? std::move(s).value() : nullptr;
}

// Raises the open-file limit to its hard limit (hundreds of clients, each with a store and a
// socket, in one process).
inline void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

struct ServerConfig {
    std::string secret = kSecret;      // empty: --unsecured-no-authentication
    uint64_t history_size_max_mb = 0;  // 0: the server's default
    std::vector<std::string> extra;
};

// One outpost-server process on a data directory; restarts keep the directory and the port.
class ServerProcess {
  public:
    ServerProcess(std::string model_file, std::string data_dir, std::string log_file,
                  ServerConfig config = {})
        : model_file_(std::move(model_file)),
          data_dir_(std::move(data_dir)),
          log_file_(std::move(log_file)),
          config_(std::move(config)) {}
    ~ServerProcess() { process_.kill_now(); }

    // Starts (on the port of the previous run, if any) and waits for `listening on`.
    ::testing::AssertionResult start() {
        std::vector<std::string> argv = {OUTPOST_SERVER_BIN,
                                         "--model",
                                         model_file_,
                                         "--db-directory",
                                         data_dir_,
                                         "--bind",
                                         "ws://127.0.0.1:" + std::to_string(port_),
                                         "--log-level",
                                         "warn",
                                         "--admin-bind",
                                         "off"};
        if (config_.secret.empty()) {
            argv.push_back("--unsecured-no-authentication");
        } else {
            argv.push_back("--auth-shared-secret");
            argv.push_back(config_.secret);
        }
        if (config_.history_size_max_mb != 0) {
            argv.push_back("--history-size-max-mb");
            argv.push_back(std::to_string(config_.history_size_max_mb));
        }
        argv.insert(argv.end(), config_.extra.begin(), config_.extra.end());
        if (!process_.spawn(argv, log_file_)) return ::testing::AssertionFailure() << "fork failed";
        const std::string prefix = "listening on ws://127.0.0.1:";
        while (auto line = process_.read_line(30s)) {
            if (line->rfind(prefix, 0) == 0) {
                port_ = static_cast<uint16_t>(std::stoi(line->substr(prefix.size())));
                url_ = "ws://127.0.0.1:" + std::to_string(port_);
                return ::testing::AssertionSuccess();
            }
        }
        auto code = process_.wait(5s);
        return ::testing::AssertionFailure()
               << "outpost-server did not report listening (exit "
               << (code ? std::to_string(*code) : "none") << "); log:\n"
               << process_.stderr_text();
    }

    // SIGTERM; returns the exit code (nullopt when it did not stop within the deadline).
    std::optional<int> stop() {
        process_.signal(SIGTERM);
        auto code = process_.wait(kDeadline);
        if (!code) process_.kill_now();
        return code;
    }
    void kill9() { process_.kill_now(); }

    const std::string& url() const { return url_; }
    uint16_t port() const { return port_; }
    const std::string& data_dir() const { return data_dir_; }
    std::string log() const { return process_.stderr_text(); }
    bool running() const { return process_.running(); }

  private:
    std::string model_file_;
    std::string data_dir_;
    std::string log_file_;
    ServerConfig config_;
    uint16_t port_ = 0;
    std::string url_;
    Process process_;
};

// An app: a store and its SyncClient, with every listener call recorded.
class Peer {
  public:
    Peer(const std::string& dir, const Model& model, std::vector<std::string> urls,
         std::string credentials = kSecret) {
        store = open_store(dir, model);
        make_client(std::move(urls), std::move(credentials));
    }
    ~Peer() {
        if (client) client->stop();
    }

    void make_client(std::vector<std::string> urls, std::string credentials = kSecret) {
        SyncClientOptions o;
        o.urls = std::move(urls);
        o.credentials = std::move(credentials);
        auto made = SyncClient::create(store, o);
        EXPECT_OK(made);
        client = std::move(made).value();
        client->on_state_change([this](SyncState s) {
            std::lock_guard lock(mu);
            states.emplace_back(s, Clock::now());
        });
        client->on_error([this](ErrorCode code, const std::string& why) {
            std::lock_guard lock(mu);
            errors.push_back({code, why, Clock::now()});
        });
        client->on_login_failure([this](ErrorCode code, const std::string& why) {
            std::lock_guard lock(mu);
            login_failures.push_back({code, why, Clock::now()});
        });
        client->on_up_to_date([this] { ++up_to_date_events; });
        client->on_incoming([this](const std::vector<IncomingChange>& changes) {
            std::lock_guard lock(mu);
            for (const auto& c : changes) {
                incoming_puts += c.put_ids.size();
                incoming_removes += c.removed_ids.size();
            }
        });
    }

    // Stops the client; the store stays (an app that goes offline).
    void stop_client() {
        if (client) client->stop();
        client.reset();
    }

    ::testing::AssertionResult wait_synced(std::chrono::milliseconds timeout = kDeadline) {
        Status st = client->wait_until_up_to_date(timeout);
        if (st) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << st.to_string();
    }

    DynamicBox box(const char* entity) { return store->box(entity).value(); }

    struct Event {
        ErrorCode code;
        std::string why;
        Clock::time_point at;
    };
    std::vector<SyncState> state_list() {
        std::lock_guard lock(mu);
        std::vector<SyncState> out;
        for (const auto& s : states) out.push_back(s.first);
        return out;
    }
    size_t error_count() {
        std::lock_guard lock(mu);
        return errors.size();
    }

    std::shared_ptr<Store> store;
    std::unique_ptr<SyncClient> client;
    std::mutex mu;
    std::vector<std::pair<SyncState, Clock::time_point>> states;
    std::vector<Event> errors;
    std::vector<Event> login_failures;
    std::atomic<int> up_to_date_events{0};
    uint64_t incoming_puts = 0;
    uint64_t incoming_removes = 0;
};

inline size_t login_failures(Peer& p) {
    std::lock_guard lock(p.mu);
    return p.login_failures.size();
}

// --- Reading stores by GID -------------------------------------------------------------------

// The whole object in a replica-independent form: its JSON without local ids, relations and to-many
// lists as GIDs. Equal on two replicas when they hold the same object. Empty when absent.
inline std::string canonical(Store& store, const char* entity, const Gid& g) {
    auto obj = find(store, entity, g);
    if (!obj) return "";
    const Entity& e = obj->entity();
    std::string refs;
    Object plain = *obj;
    plain.id = 0;
    for (const auto& p : e.properties) {
        if (p.type != PropertyType::kRelation) continue;
        const Value& v = obj->get(p.name);
        int64_t target = v.is<int64_t>() ? v.as<int64_t>() : 0;
        refs += " " + p.name + "=";
        if (target != 0) {
            auto tg = gid(store, p.target.c_str(), static_cast<uint64_t>(target));
            refs += tg ? gid_to_string(*tg) : "?";
        }
        EXPECT_OK(plain.set(p.name, Value(nullptr)));
    }
    for (const auto& r : e.relations) {
        refs += " " + r.name + "=[";
        for (uint64_t t : obj->get_to_many(r.name)) {
            auto tg = gid(store, r.target.c_str(), t);
            refs += (tg ? gid_to_string(*tg) : "?") + ",";
        }
        refs += "]";
        EXPECT_OK(plain.set_to_many(r.name, {}));
    }
    return object_to_json(plain) + refs;
}

// The GIDs of every object of ENTITY (one read; a duplicate GID would show as a size mismatch with
// count()).
inline std::vector<Gid> all_gids(Store& store, const char* entity) {
    std::vector<Gid> out;
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    auto ids = box.ids(*txn);
    EXPECT_OK(ids);
    if (!ids.is_ok()) return out;
    for (uint64_t id : *ids) {
        auto g = gid_of(*txn, box, id);
        EXPECT_TRUE(g.is_ok() && g->has_value()) << entity << " " << id << " has no GID";
        if (g.is_ok() && g->has_value()) out.push_back(**g);
    }
    return out;
}

// The `n` values of every Item (sorted), to count duplicates and gaps.
inline std::vector<int64_t> item_numbers(Store& store) {
    std::vector<int64_t> out;
    auto box = store.box("Item").value();
    auto txn = store.begin_read();
    auto all = box.get_all(*txn);
    EXPECT_OK(all);
    if (!all.is_ok()) return out;
    for (const auto& o : *all) out.push_back(o.get("n").as<int64_t>());
    std::sort(out.begin(), out.end());
    return out;
}

// Writes COUNT Items numbered FIRST.. in transactions of PER_TXN objects.
inline void put_items(Store& store, const std::string& writer, int64_t first, int64_t count,
                      int64_t per_txn, size_t payload_bytes = 16) {
    auto box = store.box("Item").value();
    for (int64_t done = 0; done < count;) {
        auto txn = store.begin_write();
        ASSERT_OK(txn);
        for (int64_t i = 0; i < per_txn && done < count; ++i, ++done) {
            Object o = box.new_object();
            ASSERT_OK(o.set("writer", writer));
            ASSERT_OK(o.set("n", first + done));
            ASSERT_OK(o.set("payload", std::string(payload_bytes, 'p')));
            ASSERT_OK(box.put(*txn, o));
        }
        ASSERT_OK(txn->commit());
    }
}

// The server's store, opened after the server stopped: what it applied and its history.
inline std::shared_ptr<Store> open_server_store(const ServerProcess& server) {
    StoreOptions o;
    o.max_size_bytes = 64ull << 30;
    auto s = Store::open_existing(server.data_dir(), o);
    EXPECT_OK(s);
    return s.is_ok() ? std::move(s).value() : nullptr;
}

// A client store's client id as the server's history names it (the origin of its records).
inline std::string client_hex(Store& store) {
    auto txn = store.begin_read();
    auto raw = get_meta(*txn, "sync.client_id");
    EXPECT_TRUE(raw.is_ok() && raw->has_value());
    sync::ClientId id{};
    if (raw.is_ok() && raw->has_value() && (*raw)->size() == id.size()) {
        std::copy((*raw)->begin(), (*raw)->end(), id.begin());
    }
    return sync::client_id_to_hex(id);
}

// History records per origin (client id hex; "" for the server's own writes).
// Object entries of the server history per origin (client id hex). The server commits queued
// pushes of one client together (one record for several transactions), so entries, not records,
// count what each client's transactions brought: every object a client created appears once.
inline std::map<std::string, uint64_t> history_entries_by_origin(Store& server_store) {
    std::map<std::string, uint64_t> out;
    auto txn = server_store.begin_read();
    uint64_t after = 0;
    for (;;) {
        auto recs = ChangeLog::read(*txn, after, 1000);
        EXPECT_OK(recs);
        if (!recs.is_ok() || recs->empty()) break;
        for (const auto& r : *recs) {
            out[r.origin] += r.changes.objects.size();
            after = r.position;
        }
    }
    return out;
}

// --- Fixture -----------------------------------------------------------------------------------

// A temp directory, the model file, and helpers to start servers and peers in it.
class SyncIt : public ::testing::Test {
  protected:
    SyncIt() : dir_("outpost-it"), model_(it_model()) {
        model_file_ = write_file(dir_.sub("model.json"), model_.to_json());
    }

    // A server on a fresh data directory NAME.
    std::unique_ptr<ServerProcess> make_server(const std::string& name = "server",
                                               ServerConfig config = {}) {
        return std::make_unique<ServerProcess>(model_file_, dir_.sub(name), dir_.sub(name + ".log"),
                                               std::move(config));
    }
    std::unique_ptr<Peer> make_peer(const std::string& name, const ServerProcess& server,
                                    bool start = true, std::string credentials = kSecret) {
        auto p = std::make_unique<Peer>(
            dir_.sub(name), model_, std::vector<std::string>{server.url()}, std::move(credentials));
        if (start) p->client->start();
        return p;
    }

    // Fails the test with the server's log when COND does not hold within the deadline.
    template <class Cond>
    ::testing::AssertionResult eventually(Cond&& cond, const char* what,
                                          std::chrono::milliseconds timeout = kDeadline) {
        if (wait_until(std::forward<Cond>(cond), timeout)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "timed out waiting for: " << what;
    }

    TempDir dir_;
    Model model_;
    std::string model_file_;
};

// A's put reaches B: the pair still syncs.
inline ::testing::AssertionResult still_syncing(Peer& a, Peer& b, const std::string& marker) {
    uint64_t id = put(*a.store, "Person", {{"name", marker}});
    auto g = gid(*a.store, "Person", id);
    if (!g) return ::testing::AssertionFailure() << "no GID";
    if (!wait_until([&] { return find(*b.store, "Person", *g).has_value(); })) {
        return ::testing::AssertionFailure() << "'" << marker << "' did not reach the other client";
    }
    return ::testing::AssertionSuccess();
}

}  // namespace outpost::it
