#pragma once
// A thread that runs posted tasks one at a time, in order, plus tasks due after a delay. The sync
// engines (ServerCore, ClientCore) are not thread-safe: every call into one goes through its
// Worker, so network threads, committing threads and timers never touch an engine concurrently.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "common/mutex.hpp"

namespace outpost::sync {

class Worker {
  public:
    using Task = std::function<void()>;
    using Clock = std::chrono::steady_clock;

    Worker();
    // Stops (as stop()) and joins.
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Queues TASK. Thread-safe. Tasks posted after stop() are dropped.
    void post(Task task);
    // Queues TASK to run once DELAY has passed (after the tasks already due). Thread-safe.
    void post_after(std::chrono::milliseconds delay, Task task);
    // Runs TASK on the worker and waits for it (runs it at once when called on the worker).
    void run_sync(const Task& task);
    // Runs the tasks already queued (not the delayed ones), then ends the thread. Idempotent.
    void stop();
    bool on_worker_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  private:
    void loop();
    // Waits for the next task that is due and takes it into TASK; false when stopping and none is
    // ready.
    bool next_task(Task& task) OUTPOST_REQUIRES(mu_);
    // Queues TASK (DUE: at once when unset) unless stopping, and wakes the thread.
    void queue(Task task, std::optional<Clock::time_point> due) OUTPOST_EXCLUDES(mu_);

    Mutex mu_;
    CondVar cv_;
    std::deque<Task> ready_ OUTPOST_GUARDED_BY(mu_);
    std::multimap<Clock::time_point, Task> delayed_ OUTPOST_GUARDED_BY(mu_);
    bool stopping_ OUTPOST_GUARDED_BY(mu_) = false;
    // Bumped by every change the thread waits for (a task queued, stop()).
    uint64_t changes_ OUTPOST_GUARDED_BY(mu_) = 0;
    std::thread thread_;
};

}  // namespace outpost::sync
