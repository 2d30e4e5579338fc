// outpost sync: syncs a store with an Outpost sync server.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <fstream>

#include "commands.hpp"
#include "outpost/json.hpp"
#include "outpost/sync_client.hpp"

namespace outpost::cli {

namespace {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// One JSON line per object an incoming server transaction put or removed; "txn" numbers the
// incoming transactions of this run (lines of one transaction share it).
void print_incoming(Store& store, const std::vector<IncomingChange>& changes) {
    static uint64_t txn = 0;
    ++txn;
    for (const auto& change : changes) {
        auto box = store.box(change.entity);
        if (!box) continue;
        for (uint64_t id : change.put_ids) {
            auto obj = box->get(id);
            if (!obj || !*obj) continue;  // removed again since
            std::printf("{\"op\":\"put\",\"entity\":%s,\"id\":%llu,\"object\":%s,\"txn\":%llu}\n",
                        json_string(change.entity).c_str(), static_cast<unsigned long long>(id),
                        object_to_json(**obj).c_str(), static_cast<unsigned long long>(txn));
        }
        for (uint64_t id : change.removed_ids) {
            std::printf("{\"op\":\"remove\",\"entity\":%s,\"id\":%llu,\"txn\":%llu}\n",
                        json_string(change.entity).c_str(), static_cast<unsigned long long>(id),
                        static_cast<unsigned long long>(txn));
        }
    }
    std::fflush(stdout);
}

// The token in PATH: the file's text without surrounding white space. Errors: kIo when it cannot
// be read, kInvalidArgument when it is empty or too large to be a token.
Result<std::string> read_token_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status(ErrorCode::kIo, "cannot read the token file " + path);
    std::string text;
    constexpr size_t kLimit = 64 * 1024;
    text.resize(kLimit + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (in.bad()) return Status(ErrorCode::kIo, "cannot read the token file " + path);
    if (text.size() > kLimit) {
        return Status(ErrorCode::kInvalidArgument, "the token file " + path + " is too large");
    }
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!text.empty() && blank(text.back())) text.pop_back();
    size_t first = 0;
    while (first < text.size() && blank(text[first])) ++first;
    text.erase(0, first);
    if (text.empty())
        return Status(ErrorCode::kInvalidArgument, "the token file " + path + " is empty");
    return text;
}

// The credentials and filter variables of O into OPTIONS.
Status set_login(const SyncOptions& o, SyncClientOptions& options) {
    options.credentials = o.secret;
    options.token = o.token;
    if (!o.token_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(options.token, read_token_file(o.token_file));
        // Before each reconnect and when the token expired: whatever the file holds by then.
        options.token_provider = [path = o.token_file]() -> std::string {
            auto token = read_token_file(path);
            if (token) return *token;
            std::fprintf(stderr, "sync: keeping the token: %s\n",
                         token.status().to_string().c_str());
            return {};
        };
    }
    for (const auto& v : o.variables) {
        const size_t eq = v.find('=');
        if (eq == std::string::npos) {
            return Status(ErrorCode::kInvalidArgument, "--var " + v + ": not NAME=VALUE");
        }
        options.filter_variables.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
    return Status::ok();
}

}  // namespace

Status sync(const SyncOptions& o) {
    // SIGINT/SIGTERM end --watch cleanly: blocked before the client's threads start, taken by
    // sigwait.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (o.watch) pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    OUTPOST_ASSIGN_OR_RETURN(auto store, open_store(o.store));
    SyncClientOptions options;
    options.urls = o.urls;
    OUTPOST_RETURN_IF_ERROR(set_login(o, options));
    options.ca_file = o.ca_file;
    OUTPOST_ASSIGN_OR_RETURN(auto client, SyncClient::create(store, options));
    client->on_state_change(
        [](SyncState s) { std::fprintf(stderr, "sync: %s\n", sync_state_name(s)); });
    client->on_login_failure([](ErrorCode code, const std::string& reason) {
        std::fprintf(stderr, "sync: login failed (%d): %s\n", static_cast<int>(code),
                     reason.c_str());
    });
    client->on_error([](ErrorCode code, const std::string& reason) {
        std::fprintf(stderr, "sync: error (%d): %s\n", static_cast<int>(code), reason.c_str());
    });
    if (o.watch) {
        Store* s = store.get();
        client->on_incoming([s](const std::vector<IncomingChange>& c) { print_incoming(*s, c); });
        client->on_up_to_date([] { std::fprintf(stderr, "sync: up to date\n"); });
    }
    client->start();
    if (o.watch) {
        int sig = 0;
        sigwait(&signals, &sig);
        client->stop();
        return Status::ok();
    }
    Status st = client->wait_until_up_to_date(
        std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
    uint64_t queued = client->outgoing_queue_length();
    client->stop();
    if (!st) return st;
    std::printf("up to date (%llu local transactions waiting)\n",
                static_cast<unsigned long long>(queued));
    return Status::ok();
}

}  // namespace outpost::cli
