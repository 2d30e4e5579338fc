#pragma once
// The transport seam of the sync engine. The engine (ServerCore, ClientCore) never touches sockets:
// it sends frames on a Connection and is told about incoming frames and disconnects by method calls
// (ServerCore::on_message, ClientCore::on_message, ...). src/net implements Connection over
// WebSocket; MemoryPipe below implements it in memory for tests.
//
// Threading: a Connection is used from the thread (strand) that drives the core it belongs to.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "outpost/status.hpp"

namespace outpost::sync {

class Connection {
  public:
    virtual ~Connection() = default;
    // Queues FRAME (one binary message) for the peer. Never blocks. A no-op once closed.
    virtual void send(std::string frame) = 0;
    // Closes the connection after the frames queued so far, telling the peer CODE (kOk for a normal
    // close; the WebSocket layer maps it to a close code 4000 + code) and REASON. A no-op once
    // closed.
    virtual void close(ErrorCode code, std::string reason) = 0;
    // Bytes queued and not yet written to the network: the back-pressure of a slow peer.
    virtual size_t queued_bytes() const = 0;
};

// Two connected in-memory endpoints. Each direction is a FIFO of frames ending, possibly, in a
// close. Nothing moves by itself: the test (or a small loop) takes items with next_for() and hands
// them to the receiving core, so runs are deterministic and never sleep.
class MemoryPipe {
  public:
    enum Side { kClient = 0, kServer = 1 };
    struct Item {
        bool is_close = false;
        std::string frame;                // when !is_close
        ErrorCode code = ErrorCode::kOk;  // when is_close
        std::string reason;
    };

    static std::shared_ptr<MemoryPipe> create();

    // The connection SIDE sends on (its frames travel to the other side).
    std::shared_ptr<Connection> end(Side side);
    // The next item travelling toward SIDE, if any.
    std::optional<Item> next_for(Side side);
    bool has_items() const { return !queues_[0].empty() || !queues_[1].empty(); }
    // Closed by either side (or cut): no new frames are accepted.
    bool closed() const { return closed_; }
    // A network failure: drops every queued frame, and each side is told of a close with kIo.
    void cut();

  private:
    class End;
    void push(Side from, Item item);
    size_t queued_from(Side from) const;

    std::deque<Item> queues_[2];  // [kClient]: toward the client, [kServer]: toward the server
    size_t queued_bytes_[2] = {0, 0};
    bool closed_ = false;
    std::shared_ptr<End> ends_[2];
    friend class End;
};

}  // namespace outpost::sync
