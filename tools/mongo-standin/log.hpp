// Minimal leveled logging to stderr (stdout carries only the "listening on" line).
#pragma once

#include <string>

namespace standin {

void set_log_level(int level);  // 0 errors only, 1 info, 2 debug
void log_error(const std::string& msg);
void log_info(const std::string& msg);
void log_debug(const std::string& msg);

}  // namespace standin
