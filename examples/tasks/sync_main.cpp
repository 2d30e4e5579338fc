// The tasks app with sync: adds a task on this device, syncs with an Outpost sync server through
// SyncClient, prints what came in from other devices, and lists the tasks.
// Usage: tasks-sync DIR URL SECRET [TASK TEXT]
//   e.g. tasks-sync /tmp/phone ws://127.0.0.1:9999 "$SECRET" "Buy milk"
#include <chrono>
#include <cstdio>
#include <string>

#include "outpost/box.hpp"
#include "outpost/sync_client.hpp"
#include "tasks.hpp"

#ifndef OUTPOST_TASKS_MODEL
#define OUTPOST_TASKS_MODEL "tasks-model.json"
#endif

static int fail(const outpost::Status& st) {
    std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
    return 1;
}

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: tasks-sync DIR URL SECRET [TASK TEXT]\n");
        return 2;
    }
    auto model = outpost::Model::load(OUTPOST_TASKS_MODEL);
    if (!model) return fail(model.status());
    auto store = outpost::Store::open(argv[1], *model);
    if (!store) return fail(store.status());
    outpost::Box<Task> tasks(*store);
    if (!tasks.status().is_ok()) return fail(tasks.status());

    // A write works offline: it waits in the change log until the client is connected.
    if (argc > 4) {
        using namespace std::chrono;
        int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
        Task t{0, argv[4], now, 0, false, {}, {}, "", {}};
        if (auto r = tasks.put(t); !r) return fail(r.status());
        std::printf("added task %llu: %s\n", static_cast<unsigned long long>(t.id), t.text.c_str());
    }

    outpost::SyncClientOptions options;
    options.urls = {argv[2]};
    options.credentials = argv[3];
    auto client = outpost::SyncClient::create(*store, options);
    if (!client) return fail(client.status());
    (*client)->on_incoming([](const std::vector<outpost::IncomingChange>& changes) {
        for (const auto& c : changes) {
            std::printf("received: %zu put, %zu removed %s\n", c.put_ids.size(),
                        c.removed_ids.size(), c.entity.c_str());
        }
    });
    (*client)->on_login_failure([](outpost::ErrorCode, const std::string& why) {
        std::fprintf(stderr, "login failed: %s\n", why.c_str());
    });
    (*client)->start();
    if (auto st = (*client)->wait_until_up_to_date(std::chrono::seconds(30)); !st) return fail(st);
    (*client)->stop();

    auto all = tasks.get_all();
    if (!all) return fail(all.status());
    std::printf("%zu tasks, in sync with %s:\n", all->size(), argv[2]);
    for (const auto& t : *all) {
        std::printf("  [%c] %s\n", t.done ? 'x' : ' ', t.text.c_str());
    }
    return 0;
}
