#include "sync/worker.hpp"

#include <future>

namespace outpost::sync {

Worker::Worker() : thread_([this] { loop(); }) {}

Worker::~Worker() { stop(); }

void Worker::post(Task task) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        ready_.push_back(std::move(task));
    }
    cv_.notify_one();
}

void Worker::post_after(std::chrono::milliseconds delay, Task task) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        delayed_.emplace(Clock::now() + delay, std::move(task));
    }
    cv_.notify_one();
}

void Worker::run_sync(const Task& task) {
    if (on_worker_thread()) {
        task();
        return;
    }
    std::promise<void> done;
    auto finished = done.get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        ready_.push_back([&] {
            task();
            done.set_value();
        });
    }
    cv_.notify_one();
    finished.wait();
}

void Worker::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable() && !on_worker_thread()) thread_.join();
}

void Worker::loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        auto now = Clock::now();
        while (!delayed_.empty() && delayed_.begin()->first <= now) {
            ready_.push_back(std::move(delayed_.begin()->second));
            delayed_.erase(delayed_.begin());
        }
        if (!ready_.empty()) {
            Task task = std::move(ready_.front());
            ready_.pop_front();
            lock.unlock();
            task();
            lock.lock();
            continue;
        }
        if (stopping_) return;
        if (delayed_.empty()) {
            cv_.wait(lock);
        } else {
            cv_.wait_until(lock, delayed_.begin()->first);
        }
    }
}

}  // namespace outpost::sync
