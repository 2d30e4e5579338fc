#include "admin/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace outpost::admin {

namespace {

std::string read_file(const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The fields of /proc/self/stat after the command name (which may hold spaces and parentheses):
// fields[0] is field 3 (state), so field N is fields[N - 3].
std::vector<std::string> stat_fields() {
    const std::string stat = read_file("/proc/self/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream rest(stat.substr(close + 1));
    std::vector<std::string> fields;
    for (std::string f; rest >> f;) fields.push_back(f);
    return fields;
}

std::optional<double> field(const std::vector<std::string>& fields, std::size_t n) {
    if (n < 3 || n - 3 >= fields.size()) return std::nullopt;
    try {
        return std::stod(fields[n - 3]);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The boot time, seconds since the epoch (btime in /proc/stat).
std::optional<double> boot_time() {
    std::istringstream in(read_file("/proc/stat"));
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("btime ")) {
            try {
                return std::stod(line.substr(6));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

std::optional<double> open_fds() {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/self/fd", ec);
    if (ec) return std::nullopt;
    double n = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) return std::nullopt;
        ++n;
    }
    return n > 0 ? n - 1 : n;  // less the descriptor that reads the directory
}

}  // namespace

void write_process_metrics(MetricsWriter& out) {
    const std::vector<std::string> fields = stat_fields();
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    auto utime = field(fields, 14);
    auto stime = field(fields, 15);
    if (utime && stime && ticks > 0) {
        out.counter("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
                    (*utime + *stime) / ticks);
    }
    if (auto vsize = field(fields, 23)) {
        out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", *vsize);
    }
    if (auto rss = field(fields, 24); rss && page > 0) {
        out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", *rss * page);
    }
    if (auto fds = open_fds()) {
        out.gauge("process_open_fds", "Number of open file descriptors.", *fds);
    }
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
        out.gauge("process_max_fds", "Maximum number of open file descriptors.",
                  static_cast<double>(files.rlim_cur));
    }
    auto start = field(fields, 22);
    auto boot = boot_time();
    if (start && boot && ticks > 0) {
        out.gauge("process_start_time_seconds",
                  "Start time of the process since unix epoch in seconds.", *boot + *start / ticks);
    }
}

}  // namespace outpost::admin
