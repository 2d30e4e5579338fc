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
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

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
    // print its "listening on" line.
    bool start() {
        int fds[2];
        if (pipe(fds) != 0) return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        std::vector<std::string> args = {binary(), "--port", std::to_string(port_), "--log-level",
                                         "quiet"};
        if (!opts_.dbpath.empty()) {
            args.emplace_back("--dbpath");
            args.push_back(opts_.dbpath);
        }
        for (const auto& e : opts_.extra) args.push_back(e);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        FILE* out = fdopen(fds[0], "r");
        char line[256] = {};
        bool ok = false;
        if (out && fgets(line, sizeof line, out)) {
            std::string s(line);
            auto colon = s.rfind(':');
            if (s.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
                port_ = std::atoi(s.c_str() + colon + 1);
                ok = port_ > 0;
            }
        }
        if (out) fclose(out);
        return ok && pid_ > 0;
    }

    // SIGTERM and wait; returns true when it exited with status 0 (or was not running).
    bool stop() { return signal_and_wait(SIGTERM); }
    // SIGKILL and wait (a crash).
    void kill_now() { signal_and_wait(SIGKILL); }
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

    bool signal_and_wait(int sig) {
        if (pid_ <= 0) return true;
        ::kill(pid_, sig);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return sig == SIGKILL || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    Options opts_;
    pid_t pid_ = -1;
    int port_ = 0;
};

}  // namespace outpost::testing
