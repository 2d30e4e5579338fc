// bench-sync: Outpost sync over real WebSocket connections on 127.0.0.1.
// Usage: bench-sync [--phases disk,latency,ingest,fanout,fanout_rules,jwt_logins,connections]
//                   [--latency-n N] [--ingest-n N] [--ingest-batch N] [--fanout-n N]
//                   [--fanout-batch N] [--readers N] [--logins N] [--login-clients P]
//                   [--connections N] [--server PATH] [--dir DIR] [--keep] [--admin-pollers N]
//
// Phases (each on a fresh server store; every store, the server's and the clients', commits with
// fsync, as in production):
//   disk         the median time of one fdatasync in --dir: what each durable commit waits for
//                (twice: LMDB syncs the data, then the meta page).
//   latency      client A puts one object per transaction; the time from before A's put until
//                client B's on_incoming listener runs for it (one at a time, 10k by default).
//   ingest       the store's own batched put of N objects (transactions of 1,000, a synced store
//                like the server's) as the baseline, then one SyncClient's store gets the same N
//                objects in transactions of 1,000 while offline (not timed), and the client
//                starts: time from start() (connect, login) until the server acknowledged every
//                transaction (wait_until_up_to_date).
//   fanout       one SyncClient writes N objects (transactions of --fanout-batch) while R readers
//                are logged in; readers are raw protocol clients (Login, then decode every Apply
//                and answer ApplyAck) sharing one I/O thread pool. Figure: objects delivered per
//                second summed over readers, until every reader has all of them.
//   fanout_rules one SyncClient (the shared secret) changes the text of N objects (owned by users
//                u0..u9 in turn; made before, not timed) while R raw readers are logged in with
//                tokens of u<r % 10>, once without rules and once with the rule ownerId ==
//                $auth.sub (each reader then gets a tenth). Figure: the writer's changes per second
//                until every reader has all it should; ratio fanout_rules_vs_plain.
//   jwt_logins   RS256 logins against the in-process server verifying tokens with a JWKS (a
//                2048-bit key made at start): P raw clients at a time each connect, log in with a
//                fresh client id and one of 1,000 users' tokens (minted before, not timed), and
//                close once the LoginResult came; a finished one is replaced until N logged in.
//                Figures: logins per second with fresh client ids (their key and user bindings are
//                written: one commit per group of logins that arrived together), then the same
//                ids again (returning clients: nothing written).
//   connections  an outpost-server process (--server) and N idle raw clients that log in; the
//                figure is the growth of the server's VmRSS divided by N.
// The server of the phases before connections runs in this process (SyncServer with its default two
// I/O threads and one worker thread), so its CPU competes with the clients' on the same machine.
// Figures go to stdout as "NAME: VALUE unit", then "ratio NAME: VALUE (target ...)" and
// "target NAME: ... met|MISSED"; progress goes to stderr.
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
#include "bench_common.hpp"
#include "net/ws_client.hpp"
#include "outpost/store.hpp"
#include "outpost/sync_client.hpp"
#include "sync/auth/token_mint.hpp"
#include "sync/auth/token_verifier.hpp"
#include "sync/protocol.hpp"
#include "sync/rules/sync_rules.hpp"
#include "sync/sync_server.hpp"

extern char** environ;

namespace outpost::bench {
namespace {

// ---- phases ------------------------------------------------------------------------------------

void run_latency(const Model& model, size_t n, Report& report) {
    progress("latency: %zu single-object transactions, A -> server -> B", n);
    Server server(fresh_dir("latency-server"), model);
    Client a(fresh_dir("latency-a"), model, server.url);
    Client b(fresh_dir("latency-b"), model, server.url);

    std::mutex mu;
    std::condition_variable cv;
    size_t received = 0;
    Clock::time_point last_at;
    b.client->on_incoming([&](const std::vector<IncomingChange>& changes) {
        auto now = Clock::now();
        size_t puts = 0;
        for (const auto& c : changes) puts += c.put_ids.size();
        {
            std::lock_guard lock(mu);
            received += puts;
            last_at = now;
        }
        cv.notify_all();
    });
    a.start_and_sync("A");
    b.start_and_sync("B");

    DynamicBox box = take(a.store->box(kEntity), "box");
    const size_t warmup = std::min<size_t>(100, n / 10);
    std::vector<double> ms;
    ms.reserve(n);
    auto started = Clock::now();
    for (size_t i = 0; i < warmup + n; ++i) {
        Object o = box.new_object();
        fill_item(o, static_cast<int64_t>(i));
        auto t0 = Clock::now();
        take(box.put(o), "A's put");
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, 10s, [&] { return received > i; }))
            fail("latency", "B did not receive object " + std::to_string(i) + " within 10 s");
        if (i >= warmup)
            ms.push_back(std::chrono::duration<double, std::milli>(last_at - t0).count());
    }
    double secs = seconds_since(started);
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
        size_t k = static_cast<size_t>(p * static_cast<double>(ms.size()));
        return ms[std::min(ms.size() - 1, k)];
    };
    progress("latency: %.1f s, min %.3f ms, p90 %.3f ms, max %.3f ms", secs, ms.front(), pct(0.9),
             ms.back());
    report.print("latency_p50_ms", pct(0.50), "ms", 3);
    report.print("latency_p99_ms", pct(0.99), "ms", 3);
}

void run_ingest(const Model& model, size_t n, size_t batch, Report& report) {
    progress("ingest: baseline, the store's batched put of %zu objects (transactions of %zu)", n,
             batch);
    {
        auto store = open_store(fresh_dir("ingest-baseline"), model);
        auto t = Clock::now();
        put_items(*store, 0, n, batch);
        double secs = seconds_since(t);
        progress("ingest: baseline %.2f s", secs);
        report.print("store_put_changes_per_s", static_cast<double>(n) / secs, "changes/s");
    }
    std::error_code ec;
    fs::remove_all(fs::path(g_run_dir) / "ingest-baseline", ec);

    progress("ingest: one client writes %zu objects offline (transactions of %zu), then connects",
             n, batch);
    Server server(fresh_dir("ingest-server"), model);
    Client c(fresh_dir("ingest-client"), model, server.url);
    auto w = Clock::now();
    put_items(*c.store, 0, n, batch);
    double write_secs = seconds_since(w);
    auto t = Clock::now();
    c.client->start();
    // Progress once a second: how many transactions are still unacknowledged.
    std::atomic<bool> done{false};
    std::thread monitor([&] {
        for (auto next = t + 1s; !done; next += 1s) {
            std::this_thread::sleep_until(next);
            if (done) break;
            progress("ingest: %.1f s: %llu transactions unacknowledged", seconds_since(t),
                     static_cast<unsigned long long>(c.client->outgoing_queue_length()));
        }
    });
    Status synced = c.client->wait_until_up_to_date(600s);
    double secs = seconds_since(t);
    done = true;
    monitor.join();
    check(synced, "waiting for the server's acks");
    uint64_t on_server = count_items(*server.store);
    if (on_server != n)
        fail("ingest", "the server holds " + std::to_string(on_server) + " objects, not " +
                           std::to_string(n));
    progress("ingest: pushed in %.2f s (the offline writes took %.2f s); the server holds %llu",
             secs, write_secs, static_cast<unsigned long long>(on_server));
    report.print("ingest_changes_per_s", static_cast<double>(n) / secs, "changes/s");
}

void run_fanout(const Model& model, size_t n, size_t batch, size_t readers, Report& report) {
    progress("fanout: 1 writer, %zu readers, %zu objects in transactions of %zu", readers, n,
             batch);
    Server server(fresh_dir("fanout-server"), model);
    Client w(fresh_dir("fanout-writer"), model, server.url);
    w.start_and_sync("the writer");

    Tally tally;
    std::mt19937_64 rng(42);
    auto loop = std::make_shared<net::EventLoop>(1);
    std::vector<std::unique_ptr<RawClient>> clients;
    for (size_t i = 0; i < readers; ++i) {
        clients.push_back(
            std::make_unique<RawClient>(server.url, loop, tally, login_frame(model, rng), n));
        clients.back()->connect();
    }
    if (!tally.wait(60s, [&](Tally& t) { return t.logged_in == readers; }))
        fail("fanout", "readers did not all log in");

    auto t = Clock::now();
    put_items(*w.store, 0, n, batch);
    bool all = tally.wait(600s, [&](Tally& x) { return x.done == readers || x.closed > 0; });
    double secs = seconds_since(t);
    if (!all || tally.done != readers)
        fail("fanout", std::to_string(tally.done) + " of " + std::to_string(readers) +
                           " readers got everything; last close: " + tally.last_close);
    progress("fanout: %.2f s", secs);
    report.print("fanout_changes_per_s",
                 static_cast<double>(n) * static_cast<double>(readers) / secs, "changes/s");
    clients.clear();
    loop.reset();
}

// ---- fan-out under sync rules ----------------------------------------------------------------

constexpr size_t kRuleUsers = 10;  // readers' users u0..u9; object i belongs to u<i % 10>
constexpr const char* kOwnerRule =
    R"({"entities": {"Item": {"read": "ownerId == $auth.sub", "write": "ownerId == $auth.sub"}}})";

Model bench_rules_model() {
    ModelBuilder b;
    b.entity(kEntity)
        .sync(true)
        .property("id", PropertyType::kInt64, kFlagId)
        .property("counter", PropertyType::kInt64)
        .property("text", PropertyType::kString)
        .property("ownerId", PropertyType::kString, kFlagIndexed);
    return take(b.build(), "rules model");
}

// Objects 0..N-1 owned by u<i % 10>, or (TOUCH) a new text for each, in transactions of BATCH.
void put_owned_items(Store& store, size_t n, size_t batch, bool touch) {
    DynamicBox box = take(store.box(kEntity), "box");
    for (size_t i = 0; i < n; i += batch) {
        WriteTxn txn = take(store.begin_write(), "begin write");
        for (size_t j = i; j < std::min(n, i + batch); ++j) {
            Object o = box.new_object();
            if (touch) o = *take(box.get(txn, j + 1), "get");
            check(o.set("counter", static_cast<int64_t>(j)), "set counter");
            check(o.set("text", std::string(touch ? "changed " : "item ") + std::to_string(j)),
                  "set text");
            check(o.set("ownerId", "u" + std::to_string(j % kRuleUsers)), "set ownerId");
            take(box.put(txn, o), "put");
        }
        check(txn.commit(), "commit");
    }
}

// One writer (the shared secret) changes the text of N objects (made before, with the readers
// logged in) while R readers log in with tokens of users u<r % 10>; under RULES each reader gets
// only its user's objects (ownerId == $auth.sub), else every change. Returns the writer's changes
// per second until every reader got all it should.
double fanout_rules_round(const Model& model, size_t n, size_t batch, size_t readers, bool rules) {
    const char* name = rules ? "fanout-rules" : "fanout-plain";
    std::shared_ptr<const sync::rules::SyncRules> loaded;
    if (rules) loaded = take(sync::rules::SyncRules::load(kOwnerRule, model), "sync rules");
    Server server(fresh_dir(std::string(name) + "-server"), model, [&](sync::ServerOptions& o) {
        o.allow_unauthenticated = false;
        o.shared_secret = "bench secret";
        o.rules = loaded;
        // Token verification is not what this measures: the token is the user's name.
        o.verify_token = [](std::string_view token, int64_t) -> Result<sync::auth::Identity> {
            sync::auth::Identity id;
            id.kind = sync::auth::CredentialKind::kJwt;
            id.user = std::string(token);
            id.claims["sub"] = {id.user};
            return id;
        };
    });
    Client w(fresh_dir(std::string(name) + "-writer"), model, server.url, "bench secret");
    put_owned_items(*w.store, n, batch, false);
    w.start_and_sync("the writer");

    Tally tally;
    std::mt19937_64 rng(42);
    auto loop = std::make_shared<net::EventLoop>(1);
    std::vector<std::unique_ptr<RawClient>> clients;
    for (size_t r = 0; r < readers; ++r) {
        const size_t user = r % kRuleUsers;
        size_t expect = n;
        if (rules) expect = n / kRuleUsers + (user < n % kRuleUsers ? 1 : 0);
        clients.push_back(std::make_unique<RawClient>(
            server.url, loop, tally, login_frame(model, rng, "u" + std::to_string(user)), expect));
        clients.back()->connect();
    }
    if (!tally.wait(120s, [&](Tally& t) { return t.logged_in == readers; }))
        fail(name, "readers did not all log in");

    auto t = Clock::now();
    put_owned_items(*w.store, n, batch, true);
    bool all = tally.wait(600s, [&](Tally& x) { return x.done == readers || x.closed > 0; });
    double secs = seconds_since(t);
    if (!all || tally.done != readers)
        fail(name, std::to_string(tally.done) + " of " + std::to_string(readers) +
                       " readers got everything; last close: " + tally.last_close);
    progress("%s: %.2f s", name, secs);
    clients.clear();
    loop.reset();
    return static_cast<double>(n) / secs;
}

void run_fanout_rules(size_t n, size_t batch, size_t readers, Report& report) {
    progress(
        "fanout_rules: 1 writer changing %zu objects in transactions of %zu, %zu readers of "
        "%zu users, with and without the rule ownerId == $auth.sub",
        n, batch, readers, kRuleUsers);
    const Model model = bench_rules_model();
    const double plain = fanout_rules_round(model, n, batch, readers, false);
    const double ruled = fanout_rules_round(model, n, batch, readers, true);
    report.print("fanout_plain_changes_per_s", plain, "changes/s");
    report.print("fanout_rules_changes_per_s", ruled, "changes/s");
    const double r = ruled / plain;
    std::printf("ratio fanout_rules_vs_plain: %.2f (target >= 0.5: %s)\n", r,
                r >= 0.5 ? "met" : "MISSED");
    std::fflush(stdout);
}

// The disk's share of every durable commit (LMDB syncs twice per commit: data, then meta page):
// the median time of one 4 KiB write + fdatasync in the run directory.
void run_disk(Report& report) {
    const std::string path = g_run_dir + "/fdatasync-probe";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("opening " + path, std::strerror(errno));
    std::vector<char> page(4096, 'x');
    std::vector<double> ms;
    for (int i = 0; i < 50; ++i) {
        if (::pwrite(fd, page.data(), page.size(), (i % 8) * 4096) < 0)
            fail("writing " + path, std::strerror(errno));
        auto t = Clock::now();
        if (::fdatasync(fd) != 0) fail("fdatasync", std::strerror(errno));
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    ::close(fd);
    ::unlink(path.c_str());
    std::sort(ms.begin(), ms.end());
    report.print("disk_fdatasync_p50_ms", ms[ms.size() / 2], "ms", 3);
}

long vm_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    fail("reading VmRSS", "no VmRSS line for pid " + std::to_string(pid));
}

void raise_open_files_limit(size_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) fail("getrlimit", std::strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) fail("setrlimit", std::strerror(errno));
    }
    if (rl.rlim_cur < want)
        progress("connections: the open-files limit is %llu, below the %zu wanted",
                 static_cast<unsigned long long>(rl.rlim_cur), want);
}

// outpost-server as a child process, its stdout read until it prints its URL.
struct ServerProcess {
    pid_t pid = -1;
    std::string url;

    ServerProcess(const std::string& binary, const std::string& dir, const Model& model) {
        const std::string model_file = dir + "/model.json";
        std::ofstream(model_file) << model.to_json();
        int out[2];
        if (pipe(out) != 0) fail("pipe", std::strerror(errno));
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        std::vector<std::string> args = {
            binary,        "--model", model_file,         "--db-directory",
            dir + "/data", "--bind",  "ws://127.0.0.1:0", "--unsecured-no-authentication",
            "--log-level", "warn"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        if (rc != 0) fail("starting " + binary, std::strerror(rc));
        std::string text;
        char buf[256];
        while (text.find('\n') == std::string::npos) {
            ssize_t r = read(out[0], buf, sizeof buf);
            if (r <= 0) fail("outpost-server", "ended before printing its URL: " + text);
            text.append(buf, static_cast<size_t>(r));
        }
        close(out[0]);  // it prints nothing more on stdout at log level warn
        const std::string prefix = "listening on ";
        if (text.rfind(prefix, 0) != 0) fail("outpost-server", "unexpected output: " + text);
        url = text.substr(prefix.size(), text.find('\n') - prefix.size());
    }
    ~ServerProcess() {
        if (pid <= 0) return;
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
    }
};

void run_connections(const Model& model, const std::string& server_binary, size_t n,
                     Report& report) {
    progress("connections: %zu idle raw clients logged in to an outpost-server process", n);
    raise_open_files_limit(n + 100);
    ServerProcess server(server_binary, fresh_dir("connections-server"), model);
    std::this_thread::sleep_for(300ms);  // let it settle after printing its URL
    const long rss0 = vm_rss_kib(server.pid);

    Tally tally;
    std::mt19937_64 rng(7);
    auto loop = std::make_shared<net::EventLoop>(1);
    std::vector<std::unique_ptr<RawClient>> clients;
    clients.reserve(n);
    constexpr size_t kWave = 500;  // logins in flight at once
    auto t = Clock::now();
    for (size_t i = 0; i < n; i += kWave) {
        size_t end = std::min(n, i + kWave);
        for (size_t j = i; j < end; ++j) {
            clients.push_back(
                std::make_unique<RawClient>(server.url, loop, tally, login_frame(model, rng), 0));
            clients.back()->connect();
        }
        if (!tally.wait(120s, [&](Tally& x) { return x.logged_in == end || x.closed > 0; }) ||
            tally.closed > 0) {
            fail("connections", std::to_string(tally.logged_in) + " logged in, " +
                                    std::to_string(tally.closed) +
                                    " closed; last close: " + tally.last_close);
        }
    }
    double secs = seconds_since(t);
    std::this_thread::sleep_for(1s);  // let the server's queues drain
    const long rss1 = vm_rss_kib(server.pid);
    {
        std::lock_guard lock(tally.mu);
        if (tally.closed > 0) fail("connections", "closed while idle: " + tally.last_close);
    }
    progress("connections: %zu logged in after %.1f s; server VmRSS %ld KiB -> %ld KiB", n, secs,
             rss0, rss1);
    report.print("connections", static_cast<double>(tally.logged_in), "connections");
    report.print("bytes_per_connection",
                 static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(n), "bytes");
    clients.clear();
    loop.reset();
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

}  // namespace
}  // namespace outpost::bench

int main(int argc, char** argv) {
    using namespace outpost::bench;
    CLI::App app{"bench-sync: Outpost sync over WebSocket on 127.0.0.1"};
    std::string phases = "disk,latency,ingest,fanout,fanout_rules,jwt_logins,connections";
    size_t latency_n = 10'000, ingest_n = 1'000'000, ingest_batch = 1000, fanout_n = 100'000,
           fanout_batch = 100, readers = 100, connections = 10'000, logins = 20'000,
           login_clients = 50;
    std::string server_binary, base = fs::temp_directory_path().string();
    app.add_option("--phases", phases,
                   "comma-separated: disk, latency, ingest, fanout, fanout_rules, jwt_logins, "
                   "connections (default all)");
    app.add_option("--latency-n", latency_n, "single-object transactions timed (default 10000)");
    app.add_option("--ingest-n", ingest_n, "objects pushed (default 1000000)");
    app.add_option("--ingest-batch", ingest_batch, "objects per transaction (default 1000)");
    app.add_option("--fanout-n", fanout_n,
                   "objects written by the fan-out writer (default 100000)");
    app.add_option("--fanout-batch", fanout_batch, "objects per writer transaction (default 100)");
    app.add_option("--readers", readers, "fan-out readers (default 100)");
    app.add_option("--logins", logins, "JWT logins timed (default 20000)");
    app.add_option("--login-clients", login_clients, "JWT logins at a time (default 50)");
    app.add_option("--connections", connections, "idle clients (default 10000)");
    app.add_option("--server", server_binary, "outpost-server binary (the connections phase)");
    app.add_option("--dir", base, "where the temporary stores go (default the temp dir)");
    app.add_flag("--keep", g_keep, "keep the stores");
    app.add_option("--admin-pollers", g_admin_pollers,
                   "admin pollers on every in-process server, each fetching /api/status, "
                   "/api/clients and /metrics once a second (default 0)");
    CLI11_PARSE(app, argc, argv);
    if (latency_n == 0 || ingest_n == 0 || ingest_batch == 0 || fanout_n == 0 ||
        fanout_batch == 0 || readers == 0 || connections == 0 || logins == 0 ||
        login_clients == 0) {
        fail("arguments", "counts must be positive");
    }
    signal(SIGPIPE, SIG_IGN);

    std::string pattern = (fs::path(base) / "outpost-bench-sync-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) fail("creating a temp dir in " + base, std::strerror(errno));
    g_run_dir = pattern;
    std::atexit(remove_run_dir);

    outpost::Model model = bench_model();
    Report report;
    std::printf("# sync benchmark: server and clients on 127.0.0.1, every store with fsync\n");
    std::fflush(stdout);
    for (const auto& phase : split(phases)) {
        if (phase == "disk") {
            run_disk(report);
        } else if (phase == "latency") {
            run_latency(model, latency_n, report);
        } else if (phase == "ingest") {
            run_ingest(model, ingest_n, ingest_batch, report);
        } else if (phase == "fanout") {
            run_fanout(model, fanout_n, fanout_batch, readers, report);
        } else if (phase == "fanout_rules") {
            run_fanout_rules(fanout_n, fanout_batch, readers, report);
        } else if (phase == "jwt_logins") {
            run_jwt_logins(model, logins, login_clients, report);
        } else if (phase == "connections") {
            if (server_binary.empty()) fail("connections", "needs --server PATH/outpost-server");
            run_connections(model, server_binary, connections, report);
        } else {
            fail("--phases", "unknown phase '" + phase + "'");
        }
    }
    auto ours = report.values.find("ingest_changes_per_s");
    auto base_put = report.values.find("store_put_changes_per_s");
    if (ours != report.values.end() && base_put != report.values.end()) {
        double r = ours->second / base_put->second;
        std::printf("ratio ingest_vs_store_put: %.2f (target >= 0.3: %s)\n", r,
                    r >= 0.3 ? "met" : "MISSED");
    }
    report.target("latency_p50_ms", true, 2, "ms");
    report.target("latency_p99_ms", true, 10, "ms");
    report.target("ingest_changes_per_s", false, 200'000, "changes/s");
    report.target("jwt_logins_per_s", false, 5'000, "logins/s");
    report.target("connections", false, 10'000, "connections");
    report.target("bytes_per_connection", true, 20 * 1024, "bytes");
    return 0;
}
