#include "sync/worker.hpp"

#include <future>

namespace outpost::sync {

Worker::Worker() : thread_([this] { loop(); }) {}

Worker::~Worker() { stop(); }

void Worker::queue(Task task, std::optional<Clock::time_point> due) {
    {
        MutexLock lock(mu_);
        if (stopping_) return;
        if (due) {
            delayed_.emplace(*due, std::move(task));
        } else {
            ready_.push_back(std::move(task));
        }
        ++changes_;
    }
    cv_.notify_one();
}

void Worker::post(Task task) { queue(std::move(task), std::nullopt); }

void Worker::post_after(std::chrono::milliseconds delay, Task task) {
    queue(std::move(task), Clock::now() + delay);
}

void Worker::run_sync(const Task& task) {
    if (on_worker_thread()) {
        task();
        return;
    }
    std::promise<void> done;
    auto finished = done.get_future();
    {
        MutexLock lock(mu_);
        if (stopping_) return;
        ready_.push_back([&] {
            task();
            done.set_value();
        });
        ++changes_;
    }
    cv_.notify_one();
    finished.wait();
}

void Worker::stop() {
    {
        MutexLock lock(mu_);
        stopping_ = true;
        ++changes_;
    }
    cv_.notify_one();
    if (thread_.joinable() && !on_worker_thread()) thread_.join();
}

bool Worker::next_task(Task& task) {
    for (;;) {
        const auto now = Clock::now();
        while (!delayed_.empty() && delayed_.begin()->first <= now) {
            ready_.push_back(std::move(delayed_.begin()->second));
            delayed_.erase(delayed_.begin());
        }
        if (!ready_.empty()) {
            task = std::move(ready_.front());
            ready_.pop_front();
            return true;
        }
        if (stopping_) return false;
        // Until something changes (a task queued, possibly due earlier; stop()), or the first
        // delayed task is due.
        const uint64_t seen = changes_;
        auto changed = [this, seen] {
            mu_.assert_held();
            return changes_ != seen;
        };
        if (delayed_.empty()) {
            cv_.wait(mu_, changed);
        } else {
            cv_.wait_for(mu_, delayed_.begin()->first - now, changed);
        }
    }
}

void Worker::loop() {
    for (;;) {
        Task task;
        {
            MutexLock lock(mu_);
            if (!next_task(task)) return;
        }
        task();
    }
}

}  // namespace outpost::sync
