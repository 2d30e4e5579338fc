// mongo-standin: a one-node MongoDB 6.0 replica-set primary for tests and demos.
#include <CLI/CLI.hpp>

#include "log.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    standin::Options opts;
    std::string log_level = "info";
    int port = 27017;
    CLI::App app{
        "mongo-standin: a MongoDB wire-protocol server for tests and local demos (not for "
        "production)"};
    app.add_option("--port", port, "TCP port (0 picks a free port)")->check(CLI::Range(0, 65535));
    app.add_option("--bind", opts.bind, "address to listen on")->capture_default_str();
    app.add_option("--replset", opts.replset, "replica set name")->capture_default_str();
    bool standalone = false;
    app.add_flag(
        "--standalone", standalone,
        "answer as a standalone mongod: no replica set, so no change streams or transactions");
    app.add_option("--advertise", opts.advertised,
                   "host:port reported in hello (default: the bound address)");
    app.add_option("--dbpath", opts.dbpath, "data directory (default: in memory)");
    app.add_option("--oplog-size", opts.oplog_size,
                   "number of change events kept for change streams")
        ->capture_default_str();
    app.add_flag("--enable-test-commands", opts.test_commands, "enable configureFailPoint");
    app.add_option("--log-level", log_level, "quiet, info or debug")
        ->check(CLI::IsMember({"quiet", "error", "info", "debug", "0", "1", "2"}));
    CLI11_PARSE(app, argc, argv);
    opts.port = static_cast<uint16_t>(port);
    if (standalone) opts.replset.clear();
    if (log_level == "quiet" || log_level == "error" || log_level == "0")
        opts.log_level = 0;
    else if (log_level == "debug" || log_level == "2")
        opts.log_level = 2;
    else
        opts.log_level = 1;
    standin::set_log_level(opts.log_level);
    standin::Server server(std::move(opts));
    return server.run();
}
