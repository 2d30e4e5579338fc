// TCP front end: one io_context thread, one Connection per socket reading header then body,
// running each request through the Engine and parking awaitData getMores (and writes blocked
// by a transaction) on a steady_timer that the Engine wakes when events are appended.
#pragma once

#include <memory>
#include <string>

#include "engine.hpp"

namespace standin {

class Server {
  public:
    explicit Server(Options opts);
    ~Server();

    // Opens the data directory, binds, prints "listening on HOST:PORT", and serves until SIGTERM
    // or SIGINT. Returns the process exit code.
    int run();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace standin
