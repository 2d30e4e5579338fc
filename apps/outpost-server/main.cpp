// outpost-server: the Outpost sync server (docs/server.md).
//   outpost-server --model FILE --bind ws://127.0.0.1:9999 --auth-shared-secret S
// Prints `listening on URL` per bound endpoint when ready; SIGTERM or SIGINT shuts down cleanly.
//   outpost-server mongo-import [same flags]   imports every mapped MongoDB collection, then exits
//   outpost-server admin-password-hash   reads a password on stdin, prints its hash for admin.users
//   Admin UI, API and /metrics: --admin-bind http://127.0.0.1:9980 (default; off: none), accounts
//   by --admin-user NAME --admin-password-file F or admin.users; prints `admin listening on URL`
//   JWT logins: --jwt-jwks FILE|URL or --jwt-public-key FILE [--jwt-audience A]... [--jwt-issuer
//   I]; per-user sync rules: --sync-rules FILE
// Exit codes: 0 after a clean shutdown, 1 when the server cannot start, 2 for bad usage or config
// (also a key, JWKS file or sync rules file that does not load).
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/admin_setup.hpp"
#include "admin/mongo_api.hpp"
#include "admin/sync_api.hpp"
#include "auth_setup.hpp"
#include "config.hpp"
#include "mongo/connector.hpp"
#include "outpost/model.hpp"
#include "outpost/store.hpp"
#include "sync/sync_server.hpp"

namespace {

using outpost::ErrorCode;
using outpost::Status;
using outpost::server::Settings;

// Store sizing: the memory map bounds the store; a server holds every device's data.
constexpr uint64_t kServerStoreMaxBytes = 64ull << 30;

outpost::Result<std::shared_ptr<outpost::Store>> open_store(const Settings& s) {
    outpost::StoreOptions options;
    options.max_size_bytes = kServerStoreMaxBytes;
    if (!s.model_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(outpost::Model model, outpost::Model::load(s.model_file));
        return outpost::Store::open(s.db_directory, model, options);
    }
    if (!std::filesystem::exists(std::filesystem::path(s.db_directory) / "data.mdb")) {
        return Status(ErrorCode::kInvalidArgument,
                      "no --model given and " + s.db_directory + " holds no store yet");
    }
    return outpost::Store::open_existing(s.db_directory, options);
}

// A line of a part that tells warnings (or errors) from notices.
void log_line(bool warn, const std::string& text) {
    spdlog::log(warn ? spdlog::level::warn : spdlog::level::info, "{}", text);
}

outpost::mongo::ConnectorOptions connector_options(const Settings& s) {
    outpost::mongo::ConnectorOptions o;
    o.url = s.mongo.url;
    o.database = s.mongo.database;
    o.automatic_initial_import = s.mongo.automatic_initial_import;
    o.max_property_size = s.mongo.max_property_size;
    o.strict_from_mongo = s.mongo.strict_from_mongo;
    o.strict_to_mongo = s.mongo.strict_to_mongo;
    o.omit_null_to_mongo = s.mongo.omit_null_to_mongo;
    o.empty_list_for_absent = s.mongo.empty_list_for_absent;
    o.remove_objects_of_dropped_collections = s.mongo.remove_objects_of_dropped_collections;
    o.server_id = s.mongo.server_id;
    o.log = log_line;
    return o;
}

// libmongoc's lines at their own level: its debug lines (server monitoring, every 0.5 s while
// MongoDB is unreachable) stay out of a log at info.
void route_driver_log() {
    outpost::mongo::set_driver_log([](outpost::mongo::DriverLogLevel level, std::string_view domain,
                                      std::string_view message) {
        using L = outpost::mongo::DriverLogLevel;
        spdlog::log(level == L::kTrace   ? spdlog::level::trace
                    : level == L::kDebug ? spdlog::level::debug
                    : level == L::kInfo  ? spdlog::level::info
                    : level == L::kWarn  ? spdlog::level::warn
                                         : spdlog::level::err,
                    "libmongoc {}: {}", domain, message);
    });
}

#ifndef OUTPOST_VERSION
#define OUTPOST_VERSION "0.0.0"
#endif

// The admin server's settings: the accounts of the config, and the one of --admin-user, whose
// password file is read and hashed here (the clear password is not kept).
outpost::Result<outpost::admin::AdminSetup> admin_setup(const Settings& s) {
    outpost::admin::AdminSetup setup;
    setup.bind = s.admin.bind;
    setup.bind_given = s.admin.bind_given;
    setup.cert_dir = s.cert_dir;
    setup.version = OUTPOST_VERSION;
    setup.log = log_line;
    for (const auto& u : s.admin.users) setup.accounts.push_back({u.name, u.password_hash});
    if (!s.admin.user.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(std::string password,
                                 outpost::admin::read_password_file(s.admin.password_file));
        OUTPOST_ASSIGN_OR_RETURN(std::string hash, outpost::admin::hash_password(password));
        setup.accounts.push_back({s.admin.user, std::move(hash)});
    }
    return setup;
}

// outpost-server admin-password-hash: the hash of the password on stdin's first line.
int print_password_hash() {
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    auto hash = outpost::admin::hash_password(password);
    if (!hash) {
        std::fprintf(stderr, "outpost-server: %s\n", hash.status().message().c_str());
        return 2;
    }
    std::printf("%s\n", hash->c_str());
    return 0;
}

// SIGTERM and SIGINT at any time, also while starting (waiting for MongoDB, importing): the first
// one runs the stop hooks registered so far (hooks registered later run at once; they must not
// block). With a FORCED_EXIT_CODE (when the MongoDB connector runs), the shutdown then has
// kShutdownDeadline to finish: a MongoDB that stopped answering holds a call up to its
// socketTimeoutMS (libmongoc cannot cancel a call), so past the deadline the process exits at once
// with that code, as after a crash, which the store and the connector's stored positions are made
// for. Signals are blocked in every other thread (see main). Declare it after what the hooks stop.
constexpr auto kShutdownDeadline = std::chrono::seconds(3);

class SignalWatch {
  public:
    explicit SignalWatch(std::optional<int> forced_exit_code)
        : forced_exit_code_(forced_exit_code), thread_([this] { run(); }) {}
    ~SignalWatch() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        finished_.notify_all();
        thread_.join();
    }
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

    void on_signal(std::function<void()> stop) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!received_) {
                hooks_.push_back(std::move(stop));
                return;
            }
        }
        stop();
    }
    bool received() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return received_;
    }

  private:
    void run() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        const timespec tick{0, 100'000'000};
        int sig = -1;
        for (;;) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (done_) return;
            }
            sig = sigtimedwait(&set, nullptr, &tick);
            if (sig >= 0) break;
        }
        spdlog::info("{} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        auto deadline = std::chrono::steady_clock::now() + kShutdownDeadline;
        std::vector<std::function<void()>> hooks;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            received_ = true;
            hooks.swap(hooks_);
        }
        for (auto& h : hooks) h();
        if (!forced_exit_code_) return;
        std::unique_lock<std::mutex> lock(mutex_);
        if (finished_.wait_until(lock, deadline, [&] { return done_; })) return;
        spdlog::warn(
            "shutdown not finished after {} s (MongoDB does not answer): exiting now; the "
            "connector resumes from its stored positions at the next start",
            kShutdownDeadline.count());
        spdlog::default_logger()->flush();
        std::fflush(stdout);
        std::_Exit(*forced_exit_code_);
    }

    const std::optional<int> forced_exit_code_;
    mutable std::mutex mutex_;
    std::condition_variable finished_;
    bool received_ = false;                     // GUARDED_BY(mutex_)
    bool done_ = false;                         // GUARDED_BY(mutex_)
    std::vector<std::function<void()>> hooks_;  // GUARDED_BY(mutex_)
    std::thread thread_;
};

// Runs an import; the connector logs its start, progress, end and counts (or why it failed). False
// when it failed.
bool run_import(outpost::mongo::Connector& connector) {
    return connector.run_import(nullptr).is_ok();
}

// outpost-server mongo-import: one import into the server store, then exit (1 when stopped by a
// signal before it finished).
int import_only(const Settings& s) {
    auto store = open_store(s);
    if (!store) {
        spdlog::error("cannot open the store in {}: {}", s.db_directory,
                      store.status().to_string());
        return 1;
    }
    auto connector = outpost::mongo::Connector::create(*store, connector_options(s));
    if (!connector) {
        spdlog::error("MongoDB connector: {}", connector.status().to_string());
        return 1;
    }
    SignalWatch signals(1);
    outpost::mongo::Connector* c = connector->get();
    signals.on_signal([c] { c->request_stop(); });
    if (Status st = c->check_deployment(); !st) {
        if (signals.received()) {
            spdlog::info("stopped before the import");
        } else {
            spdlog::error("MongoDB: {}", st.message());
        }
        return 1;
    }
    return run_import(*c) ? 0 : 1;
}

int serve(const Settings& s) {
    // An unreadable admin password file is a configuration error: found before anything starts.
    auto admin_settings = admin_setup(s);
    if (!admin_settings) {
        spdlog::error("admin: {}", admin_settings.status().message());
        return 2;
    }
    auto store = open_store(s);
    if (!store) {
        spdlog::error("cannot open the store in {}: {}", s.db_directory,
                      store.status().to_string());
        return 1;
    }
    // Keys, JWKS and sync rules: a file that does not load is a configuration error. Declared
    // before the server, which calls the verifier, so that it goes after it.
    auto auth = outpost::server::set_up_auth(s, (*store)->model(), log_line);
    if (!auth) {
        spdlog::error("{}", auth.status().message());
        return 2;
    }
    for (const auto& w : outpost::server::warnings(s)) spdlog::warn("{}", w);
    std::unique_ptr<outpost::mongo::Connector> connector;
    std::unique_ptr<outpost::sync::SyncServer> server;
    // After what its hooks stop; a shutdown deadline only with MongoDB (see SignalWatch).
    SignalWatch signals(s.mongo.enabled() ? std::optional<int>(0) : std::nullopt);
    // A signal while starting: stop what runs, exit 0.
    auto stopped_while_starting = [&] {
        if (!signals.received()) return false;
        if (connector) connector->stop();
        if (server) server->stop();
        server.reset();
        connector.reset();
        spdlog::info("stopped before serving");
        return true;
    };
    if (s.mongo.enabled()) {
        auto c = outpost::mongo::Connector::create(*store, connector_options(s));
        if (!c) {
            spdlog::error("MongoDB connector: {}", c.status().to_string());
            return 1;
        }
        connector = std::move(*c);
        outpost::mongo::Connector* cp = connector.get();
        signals.on_signal([cp] { cp->request_stop(); });
        if (Status st = connector->check_deployment(); !st) {
            if (stopped_while_starting()) return 0;
            spdlog::error("MongoDB: {}", st.message());
            return 1;
        }
        if (s.mongo_initial_import && !run_import(*connector)) {
            return stopped_while_starting() ? 0 : 1;
        }
    }
    outpost::sync::SyncServerOptions options;
    outpost::server::apply_auth(s, *auth, options.core);
    options.core.history_max_bytes = s.history_size_max_mb << 20;
    options.core.login_timeout = std::chrono::seconds(s.login_timeout_seconds);
    options.net.max_connections = s.max_connections;
    options.net.log = log_line;
    options.core.log = [](outpost::sync::LogLevel level, const std::string& text) {
        using L = outpost::sync::LogLevel;
        spdlog::log(level == L::kDebug  ? spdlog::level::debug
                    : level == L::kInfo ? spdlog::level::info
                    : level == L::kWarn ? spdlog::level::warn
                                        : spdlog::level::err,
                    "{}", text);
    };
    if (connector) {
        // History the connector has not written to MongoDB yet is never trimmed.
        outpost::mongo::Connector* c = connector.get();
        options.core.history_trim_limit = [c] { return c->outbound_position(); };
    }
    options.net.urls = s.binds;
    options.net.cert_dir = s.cert_dir;
    auto created = outpost::sync::SyncServer::create(*store, std::move(options));
    if (!created) {
        spdlog::error("{}", created.status().to_string());
        return 1;
    }
    server = std::move(*created);
    if (Status st = server->start(); !st) {
        spdlog::error("cannot listen: {}", st.message());
        return 1;
    }
    outpost::sync::SyncServer* srv = server.get();
    signals.on_signal([srv] { srv->stop(); });
    if (s.unsecured_no_authentication && s.shared_secret.empty()) {
        spdlog::warn(
            "UNSECURED: any client that can reach this server may sync (no authentication)");
    }
    if (connector) {
        if (stopped_while_starting()) return 0;
        if (Status st = connector->start([srv] { srv->notify_store_changed(); }); !st) {
            if (stopped_while_starting()) return 0;
            spdlog::error("MongoDB connector: {}", st.to_string());
            return 1;
        }
        spdlog::info("MongoDB connector: database {} at {}", s.mongo.database, s.mongo.url);
    }
    // The admin API's parts, asked in this order: the sync server's, then with a connector the
    // connector's. The admin server is stopped and destroyed before what its parts refer to.
    std::vector<std::shared_ptr<outpost::admin::ApiPart>> admin_parts;
    admin_parts.push_back(std::make_shared<outpost::admin::SyncApi>(*store, srv));
    if (connector) admin_parts.push_back(std::make_shared<outpost::admin::MongoApi>(*connector));
    auto admin_started =
        outpost::admin::start_admin_server(std::move(*admin_settings), admin_parts);
    if (!admin_started) {
        spdlog::error("admin: {}", admin_started.status().message());
        return 1;
    }
    std::unique_ptr<outpost::admin::AdminServer> admin = std::move(*admin_started);
    // One write (stdout is a pipe in tests): whoever reads the first line gets the rest too.
    for (const auto& url : server->bound_urls()) std::printf("listening on %s\n", url.c_str());
    if (admin) std::printf("admin listening on %s\n", admin->bound_url().c_str());
    std::fflush(stdout);
    if (admin) {
        spdlog::info("admin: UI, API and /metrics on {} ({})", admin->bound_url(),
                     s.admin.has_account() ? "admin accounts" : "no account: loopback, user local");
    }
    spdlog::info("serving store {} ({} entities)", s.db_directory,
                 (*store)->model().entities.size());
    spdlog::info("{}", auth->summary);
    if (auth->rules) spdlog::info("sync rules: {} (for JWT sessions)", s.sync_rules_file);

    server->wait();
    admin.reset();
    // The connector stops and its MongoDB client pool goes before the last line.
    if (connector) connector->stop();
    auto stats = server->stats();
    server.reset();
    connector.reset();
    spdlog::info("stopped ({} sessions, {} pushes applied)", stats.sessions, stats.pushes_applied);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Block the shutdown signals before any thread starts: they go to the sigwait thread.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    CLI::App app{"outpost-server: the Outpost sync server"};
    Settings flags;
    std::string conf;
    app.add_option("--conf", conf, "JSON config file; flags override its keys")
        ->check(CLI::ExistingFile);
    auto* model = app.add_option("--model", flags.model_file, "model file (JSON)");
    auto* bind = app.add_option(
        "--bind", flags.binds,
        "ws://HOST:PORT or wss://HOST:PORT to listen on (repeatable; port 0 picks one)");
    auto* cert = app.add_option("--cert", flags.cert_dir,
                                "directory with cert.pem and key.pem (for wss://)");
    auto* db = app.add_option("--db-directory", flags.db_directory,
                              "store directory (default outpost-data)");
    auto* unsecured =
        app.add_flag("--unsecured-no-authentication", flags.unsecured_no_authentication,
                     "accept every client without credentials (local development only)");
    auto* allow_remote =
        app.add_flag("--unsecured-allow-remote", flags.unsecured_allow_remote,
                     "confirms --unsecured-no-authentication on a non-loopback --bind");
    auto* secret = app.add_option("--auth-shared-secret", flags.shared_secret,
                                  "clients must log in with this secret");
    auto* jwt_key = app.add_option("--jwt-public-key", flags.jwt.public_key_file,
                                   "JWT logins: PEM public key file (RSA or EC)");
    auto* jwt_jwks = app.add_option("--jwt-jwks", flags.jwt.jwks,
                                    "JWT logins: JWKS file, or https:// URL (http:// on loopback)");
    auto* jwt_audience = app.add_option("--jwt-audience", flags.jwt.audiences,
                                        "JWT: an accepted aud (repeatable; default: not checked)");
    auto* jwt_issuer =
        app.add_option("--jwt-issuer", flags.jwt.issuer, "JWT: the iss (default: not checked)");
    auto* rules = app.add_option("--sync-rules", flags.sync_rules_file,
                                 "sync rules file (JSON, docs/sync-rules.md) for JWT sessions");
    auto* history = app.add_option("--history-size-max-mb", flags.history_size_max_mb,
                                   "history kept for catching up clients, in MiB (default 1024)");
    auto* login_timeout =
        app.add_option("--login-timeout-seconds", flags.login_timeout_seconds,
                       "close connections not logged in by then (default 10; 0: never)");
    auto* max_connections =
        app.add_option("--max-connections", flags.max_connections,
                       "refuse new connections beyond this many (default 10000; 0: no limit)");
    auto* level = app.add_option("--log-level", flags.log_level,
                                 "trace, debug, info, warn, error, critical or off (default info)");
    auto* mongo_url =
        app.add_option("--mongo-url", flags.mongo.url,
                       "MongoDB connection string (a replica set): enables the connector");
    auto* mongo_db =
        app.add_option("--mongo-db", flags.mongo.database, "MongoDB database to sync with");
    auto* mongo_id =
        app.add_option("--mongo-server-id", flags.mongo.server_id,
                       "id of this server's writes in MongoDB (default: made once, kept)");
    app.add_flag("--mongo-initial-import", flags.mongo_initial_import,
                 "import every mapped collection before serving");
    auto* admin_bind = app.add_option(
        "--admin-bind", flags.admin.bind,
        "admin UI, API and /metrics: http://HOST:PORT or https://HOST:PORT (with --cert), or off "
        "(default http://127.0.0.1:9980; port 0 picks one)");
    auto* admin_user = app.add_option("--admin-user", flags.admin.user, "an admin account's name");
    auto* admin_password = app.add_option("--admin-password-file", flags.admin.password_file,
                                          "file holding --admin-user's password (first line)");
    auto* import_cmd =
        app.add_subcommand("mongo-import", "import every mapped MongoDB collection, then exit");
    auto* hash_cmd = app.add_subcommand("admin-password-hash",
                                        "read a password on stdin, print its hash for admin.users");
    app.fallthrough();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (*hash_cmd) return print_password_hash();

    Settings s;
    if (!conf.empty()) {
        if (Status st = outpost::server::load_config_file(conf, s); !st) {
            std::fprintf(stderr, "outpost-server: %s\n", st.message().c_str());
            return 2;
        }
    }
    if (*model) s.model_file = flags.model_file;
    if (*bind) s.binds = flags.binds;
    if (*cert) s.cert_dir = flags.cert_dir;
    if (*db) s.db_directory = flags.db_directory;
    if (*unsecured) s.unsecured_no_authentication = flags.unsecured_no_authentication;
    if (*allow_remote) s.unsecured_allow_remote = flags.unsecured_allow_remote;
    if (*secret) s.shared_secret = flags.shared_secret;
    if (*jwt_key) s.jwt.public_key_file = flags.jwt.public_key_file;
    if (*jwt_jwks) s.jwt.jwks = flags.jwt.jwks;
    if (*jwt_audience) s.jwt.audiences = flags.jwt.audiences;
    if (*jwt_issuer) s.jwt.issuer = flags.jwt.issuer;
    if (*rules) s.sync_rules_file = flags.sync_rules_file;
    if (*history) s.history_size_max_mb = flags.history_size_max_mb;
    if (*login_timeout) s.login_timeout_seconds = flags.login_timeout_seconds;
    if (*max_connections) s.max_connections = flags.max_connections;
    if (*level) s.log_level = flags.log_level;
    if (*mongo_url) s.mongo.url = flags.mongo.url;
    if (*mongo_db) s.mongo.database = flags.mongo.database;
    if (*mongo_id) s.mongo.server_id = flags.mongo.server_id;
    if (*admin_bind) {
        s.admin.bind = flags.admin.bind;
        s.admin.bind_given = true;
    }
    if (*admin_user) s.admin.user = flags.admin.user;
    if (*admin_password) s.admin.password_file = flags.admin.password_file;
    s.mongo_initial_import = flags.mongo_initial_import;
    if (*import_cmd && !s.mongo.enabled()) {
        std::fprintf(stderr,
                     "outpost-server: mongo-import needs --mongo-url and --mongo-db (or mongoDb in "
                     "--conf)\n");
        return 2;
    }
    if (s.binds.empty()) s.binds.push_back("ws://127.0.0.1:9999");
    if (Status st = outpost::server::validate(s); !st) {
        std::fprintf(stderr, "outpost-server: %s\n", st.message().c_str());
        return 2;
    }

    auto logger = spdlog::stderr_color_mt("outpost-server");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(s.log_level));
    route_driver_log();
    return *import_cmd ? import_only(s) : serve(s);
}
