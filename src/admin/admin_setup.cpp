#include "admin/admin_setup.hpp"

#include <cerrno>
#include <fstream>

namespace outpost::admin {

Result<std::unique_ptr<AdminServer>> start_admin_server(
    AdminSetup setup, const std::vector<std::shared_ptr<ApiPart>>& parts) {
    if (setup.bind == "off") return std::unique_ptr<AdminServer>();
    AdminServerOptions o;
    o.bind_url = setup.bind;
    o.cert_dir = setup.cert_dir;
    o.accounts = std::move(setup.accounts);
    o.version = std::move(setup.version);
    o.log = setup.log;
    auto server = std::make_unique<AdminServer>(std::move(o));
    for (const auto& part : parts) server->add_part(part);
    Status st = server->start();
    if (st) return server;
    if (!setup.bind_given && st.code() == ErrorCode::kIo && st.cause() == EADDRINUSE) {
        if (setup.log) {
            setup.log(true, "admin: " + st.message() +
                                ": running without the admin server (pick another address with "
                                "--admin-bind, or --admin-bind off)");
        }
        return std::unique_ptr<AdminServer>();
    }
    return st;
}

Result<std::string> read_password_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status(ErrorCode::kIo, "cannot read the admin password file " + path);
    std::string line;
    char c;
    while (in.get(c) && c != '\n') {
        if (line.size() >= 4096) {
            return Status(ErrorCode::kInvalidArgument,
                          "the admin password file " + path + " has a first line above 4 KiB");
        }
        line += c;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
        return Status(ErrorCode::kInvalidArgument,
                      "the admin password file " + path + " holds no password on its first line");
    }
    return line;
}

}  // namespace outpost::admin
