#include "sync/transport.hpp"

namespace outpost::sync {

class MemoryPipe::End : public Connection {
  public:
    End(const std::shared_ptr<MemoryPipe>& pipe, Side side) : pipe_(pipe), side_(side) {}
    void send(std::string frame) override {
        auto pipe = pipe_.lock();
        if (!pipe || pipe->closed_) return;
        Item item;
        item.frame = std::move(frame);
        pipe->push(side_, std::move(item));
    }
    void close(ErrorCode code, std::string reason) override {
        auto pipe = pipe_.lock();
        if (!pipe || pipe->closed_) return;
        Item item;
        item.is_close = true;
        item.code = code;
        item.reason = std::move(reason);
        pipe->push(side_, std::move(item));
        pipe->closed_ = true;
    }
    size_t queued_bytes() const override {
        auto pipe = pipe_.lock();
        return pipe ? pipe->queued_from(side_) : 0;
    }

  private:
    std::weak_ptr<MemoryPipe> pipe_;  // the pipe owns its ends, not the other way round
    Side side_;
};

std::shared_ptr<MemoryPipe> MemoryPipe::create() {
    auto pipe = std::make_shared<MemoryPipe>();
    pipe->ends_[kClient] = std::make_shared<End>(pipe, kClient);
    pipe->ends_[kServer] = std::make_shared<End>(pipe, kServer);
    return pipe;
}

std::shared_ptr<Connection> MemoryPipe::end(Side side) { return ends_[side]; }

void MemoryPipe::push(Side from, Item item) {
    Side to = from == kClient ? kServer : kClient;
    queued_bytes_[to] += item.frame.size();
    queues_[to].push_back(std::move(item));
}

size_t MemoryPipe::queued_from(Side from) const {
    return queued_bytes_[from == kClient ? kServer : kClient];
}

std::optional<MemoryPipe::Item> MemoryPipe::next_for(Side side) {
    auto& q = queues_[side];
    if (q.empty()) return std::nullopt;
    Item item = std::move(q.front());
    q.pop_front();
    queued_bytes_[side] -= item.frame.size();
    return item;
}

void MemoryPipe::cut() {
    for (int side = 0; side < 2; ++side) {
        queues_[side].clear();
        queued_bytes_[side] = 0;
        Item item;
        item.is_close = true;
        item.code = ErrorCode::kIo;
        item.reason = "connection lost";
        queues_[side].push_back(std::move(item));
    }
    closed_ = true;
}

}  // namespace outpost::sync
