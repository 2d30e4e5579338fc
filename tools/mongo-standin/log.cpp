#include "log.hpp"

#include <cstdio>

namespace standin {

namespace {
int g_level = 1;
void emit(const char* tag, const std::string& msg) {
    std::fprintf(stderr, "mongo-standin %s: %s\n", tag, msg.c_str());
}
}  // namespace

void set_log_level(int level) { g_level = level; }
void log_error(const std::string& msg) { emit("error", msg); }
void log_info(const std::string& msg) {
    if (g_level >= 1) emit("info", msg);
}
void log_debug(const std::string& msg) {
    if (g_level >= 2) emit("debug", msg);
}

}  // namespace standin
