// Runs a mongo-standin process for a test: on a free port, optionally with a data directory, with
// stop (SIGTERM), kill (SIGKILL) and restart on the same port. For any test that needs a MongoDB
// replica-set primary; see docs/mongo-standin.md.
//
// Use from CMake:
//   target_compile_definitions(my_test PRIVATE MONGO_STANDIN_BINARY="$<TARGET_FILE:mongo-standin>")
//   add_dependencies(my_test mongo-standin)
// and in the test:  outpost::testing::StandInProcess s;  s.uri()  ->
// mongodb://127.0.0.1:P/?replicaSet=rs0 The MONGO_STANDIN environment variable, when set, overrides
// the compiled-in path.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "common/process.hpp"

namespace outpost::testing {

class StandInProcess {
  public:
    struct Options {
        std::string dbpath;              // empty: in memory
        std::vector<std::string> extra;  // e.g. {"--oplog-size", "10", "--enable-test-commands"}
    };

    StandInProcess() : StandInProcess(Options{}) {}
    explicit StandInProcess(Options opts) : opts_(std::move(opts)) { start(); }
    StandInProcess(const StandInProcess&) = delete;
    StandInProcess& operator=(const StandInProcess&) = delete;
    ~StandInProcess() { stop(); }

    // Starts the process (on the previous port after a stop/kill). Returns false when it did not
    // print its "listening on" line within the deadline.
    bool start() {
        std::vector<std::string> args = {binary(), "--port", std::to_string(port_), "--log-level",
                                         "quiet"};
        if (!opts_.dbpath.empty()) {
            args.emplace_back("--dbpath");
            args.push_back(opts_.dbpath);
        }
        for (const auto& e : opts_.extra) args.push_back(e);
        if (!process_.spawn(args)) return false;
        auto line = process_.wait_for_line(
            [](const std::string& l) { return l.rfind("listening on ", 0) == 0; },
            std::chrono::seconds(60));
        auto colon = line ? line->rfind(':') : std::string::npos;
        if (colon == std::string::npos) return false;
        port_ = std::atoi(line->c_str() + colon + 1);
        return port_ > 0;
    }

    // SIGTERM and wait; returns true when it exited with status 0 (or was not running).
    bool stop() {
        if (!process_.running()) return true;
        process_.signal(SIGTERM);
        auto code = process_.wait(std::chrono::seconds(60));
        if (!code) process_.kill_now();
        return code == 0;
    }
    // SIGKILL and wait (a crash).
    void kill_now() { process_.kill_now(); }
    bool restart() { return stop() && start(); }

    int port() const { return port_; }
    std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string uri(const std::string& extra_options = "") const {
        return "mongodb://" + host_port() + "/?replicaSet=rs0&serverSelectionTimeoutMS=5000" +
               extra_options;
    }

  private:
    static std::string binary() {
        if (const char* env = std::getenv("MONGO_STANDIN"); env && *env) return env;
#ifdef MONGO_STANDIN_BINARY
        return MONGO_STANDIN_BINARY;
#else
        return "mongo-standin";
#endif
    }

    Options opts_;
    int port_ = 0;
    outpost::test::Process process_;
};

}  // namespace outpost::testing
