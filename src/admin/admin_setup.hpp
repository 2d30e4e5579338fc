#pragma once
// Starting the admin server as outpost-server does (docs/server.md, --admin-bind): the default
// address, `off`, a default port that is taken (a warning: the server runs on without admin)
// against an address given explicitly (an error), and the password file of --admin-user.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin_server.hpp"
#include "admin/api_part.hpp"
#include "outpost/status.hpp"

namespace outpost::admin {

inline constexpr const char* kDefaultAdminBind = "http://127.0.0.1:9980";

struct AdminSetup {
    std::string bind = kDefaultAdminBind;  // http(s)://HOST:PORT, or "off"
    // The address was given (flag or config): failing to bind it stops the start. The default
    // address that cannot be bound because it is in use is only a warning.
    bool bind_given = false;
    std::string cert_dir;
    std::vector<AdminAccount> accounts;
    std::string version;
    std::function<void(bool warn, const std::string& text)> log;
};

// Starts the admin server with PARTS, or returns null when BIND is "off", or when the default
// address is in use (reported through SETUP.log as a warning). Errors: those of
// AdminServer::start() for an address given explicitly (and for the default one, any but "in
// use").
Result<std::unique_ptr<AdminServer>> start_admin_server(
    AdminSetup setup, const std::vector<std::shared_ptr<ApiPart>>& parts);

// The password in the file at PATH: its first line, without the line end. Errors: kIo (cannot
// read), kInvalidArgument (empty, or above 4 KiB).
Result<std::string> read_password_file(const std::string& path);

}  // namespace outpost::admin
