#pragma once
// Child processes for tests: spawn a program with its stdout on a pipe (read line by line with
// deadlines) and its stderr in a file, wait for a line, signal it, wait for it with a deadline; and
// loopback ports for servers that tests start.
//
// Spawn only from the test's main thread: children get SIGKILL when the thread that forked them
// ends (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace outpost::test {

using Clock = std::chrono::steady_clock;

class Process {
  public:
    Process() = default;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process() { kill_now(); }

    // Starts ARGV[0] with ARGV; stderr goes to STDERR_FILE (appended; empty: the test's own
    // stderr). False when fork fails.
    bool spawn(const std::vector<std::string>& argv, const std::string& stderr_file = "") {
        kill_now();
        stderr_file_ = stderr_file;
        buffer_.clear();
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        int err = stderr_file.empty() ? -1
                                      : ::open(stderr_file.c_str(),
                                               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_t parent = ::getpid();
        pid_t pid = ::fork();
        if (pid < 0) {
            ::close(fds[0]);
            ::close(fds[1]);
            if (err >= 0) ::close(err);
            return false;
        }
        if (pid == 0) {
            // Async-signal-safe calls only: the parent has threads.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(fds[1], STDOUT_FILENO);
            if (err >= 0) ::dup2(err, STDERR_FILENO);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        if (err >= 0) ::close(err);
        out_ = fds[0];
        pid_ = pid;
        return true;
    }

    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

    // The next stdout line (without '\n'), or nullopt at end of stream or after TIMEOUT.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        auto until = Clock::now() + timeout;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            if (out_ < 0) return std::nullopt;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{out_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return std::nullopt;
            char buf[65536];
            ssize_t n = ::read(out_, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                ::close(out_);
                out_ = -1;
                continue;
            }
            buffer_.append(buf, static_cast<size_t>(n));
        }
    }

    // Reads stdout lines until one satisfies MATCH and returns it; nullopt when the stream ends or
    // TIMEOUT passes first (the lines read on the way are gone).
    std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& match,
                                             std::chrono::milliseconds timeout) {
        auto until = Clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            auto line = read_line(left);
            if (!line) return std::nullopt;
            if (match(*line)) return line;
        }
    }

    // Everything left on stdout until the stream ends (or TIMEOUT).
    std::string read_rest(std::chrono::milliseconds timeout) {
        std::string all;
        while (auto line = read_line(timeout)) all += *line + "\n";
        all += buffer_;
        buffer_.clear();
        return all;
    }

    void signal(int sig) {
        if (pid_ > 0) ::kill(pid_, sig);
    }

    // Waits for the exit: the exit code, 128 + signal when killed, nullopt after TIMEOUT.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return exit_code_;
        auto until = Clock::now() + timeout;
        for (;;) {
            int status = 0;
            pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                if (out_ >= 0) {
                    // Keep what it printed last for read_line; the stream is closed now.
                    drain();
                }
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                return exit_code_;
            }
            if (r < 0 && errno != EINTR) return std::nullopt;
            if (Clock::now() >= until) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    // SIGKILL and reap.
    void kill_now() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            exit_code_ = 128 + SIGKILL;
            pid_ = -1;
        }
        if (out_ >= 0) {
            ::close(out_);
            out_ = -1;
        }
    }

    std::string stderr_text() const {
        if (stderr_file_.empty()) return "";
        std::ifstream in(stderr_file_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    void drain() {
        char buf[65536];
        int flags = ::fcntl(out_, F_GETFL);
        ::fcntl(out_, F_SETFL, flags | O_NONBLOCK);
        for (;;) {
            ssize_t n = ::read(out_, buf, sizeof buf);
            if (n <= 0) break;
            buffer_.append(buf, static_cast<size_t>(n));
        }
        ::close(out_);
        out_ = -1;
    }

    pid_t pid_ = -1;
    int out_ = -1;
    std::optional<int> exit_code_;
    std::string buffer_;
    std::string stderr_file_;
};

struct RunResult {
    std::optional<int> exit_code;  // nullopt: killed after the timeout
    std::string out;
    std::string err;
};

// Runs ARGV to its end (killed after TIMEOUT).
inline RunResult run_program(const std::vector<std::string>& argv, const std::string& stderr_file,
                             std::chrono::milliseconds timeout) {
    RunResult r;
    Process p;
    if (!p.spawn(argv, stderr_file)) return r;
    auto until = Clock::now() + timeout;
    r.out = p.read_rest(timeout);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    r.exit_code = p.wait(std::max(left, std::chrono::milliseconds(100)));
    if (!r.exit_code) p.kill_now();
    r.err = p.stderr_text();
    return r;
}

// A TCP socket listening on 127.0.0.1 on a port the kernel picked, closed at scope exit. Nobody
// accepts from it: a peer's connect completes and then hears nothing.
class LoopbackListener {
  public:
    LoopbackListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 4) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            return;
        }
        port_ = ntohs(addr.sin_port);
    }
    ~LoopbackListener() {
        if (fd_ >= 0) ::close(fd_);
    }
    LoopbackListener(const LoopbackListener&) = delete;
    LoopbackListener& operator=(const LoopbackListener&) = delete;

    // The port; 0 when the socket could not be set up.
    uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace outpost::test
