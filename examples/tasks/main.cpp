// A small to-do app on the typed API: users, tasks with an owner and tags, projects holding tasks.
// Usage: tasks-example [DIR] (default: a fresh folder under /tmp). Prints what it stores and reads.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "outpost/box.hpp"
#include "tasks.hpp"

#ifndef OUTPOST_TASKS_MODEL
#define OUTPOST_TASKS_MODEL "tasks-model.json"
#endif

static int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

static int fail(const outpost::Status& st) {
    std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
    return 1;
}

int main(int argc, char** argv) {
    std::string dir =
        argc > 1 ? argv[1]
                 : (std::filesystem::temp_directory_path() / "outpost-tasks-example").string();
    auto model = outpost::Model::load(OUTPOST_TASKS_MODEL);
    if (!model) return fail(model.status());
    auto store = outpost::Store::open(dir, *model);
    if (!store) return fail(store.status());

    outpost::Box<User> users(*store);
    outpost::Box<Task> tasks(*store);
    outpost::Box<Project> projects(*store);
    for (const auto* st : {&users.status(), &tasks.status(), &projects.status()}) {
        if (!st->is_ok()) return fail(*st);
    }

    User ada{0, "Ada", "ada@example.org"};
    if (auto r = users.put(ada); !r) return fail(r.status());

    std::vector<Task> todo = {
        {0, "Write the model", now_ms(), 0, false, {ada.id}, {"design"}, "ada", {}},
        {0, "Build the store", now_ms(), 0, false, {ada.id}, {"code", "lmdb"}, "ada", {"bea"}},
        {0, "Ship it", now_ms(), 0, false, {}, {}, "", {}},
    };
    if (auto st = tasks.put_many(todo); !st) return fail(st);

    Project launch{0, "Launch", {}, "core"};
    for (const auto& t : todo) launch.tasks.ids.push_back(t.id);
    if (auto r = projects.put(launch); !r) return fail(r.status());

    todo[0].done = true;
    todo[0].dateFinished = now_ms();
    if (auto r = tasks.put(todo[0]); !r) return fail(r.status());

    auto all = tasks.get_all();
    if (!all) return fail(all.status());
    std::printf("store: %s\n", dir.c_str());
    std::printf("user %llu: %s <%s>\n", static_cast<unsigned long long>(ada.id), ada.name.c_str(),
                ada.email.c_str());
    for (const auto& t : *all) {
        std::string tags;
        for (const auto& tag : t.tags) tags += (tags.empty() ? "" : ",") + tag;
        std::printf("task %llu: [%c] %s (owner %llu, tags %s)\n",
                    static_cast<unsigned long long>(t.id), t.done ? 'x' : ' ', t.text.c_str(),
                    static_cast<unsigned long long>(t.owner.id), tags.empty() ? "-" : tags.c_str());
    }
    auto p = projects.get(launch.id);
    if (!p || !*p)
        return fail(p ? outpost::Status(outpost::ErrorCode::kNotFound, "project") : p.status());
    std::printf("project %llu: %s, %zu tasks\n", static_cast<unsigned long long>((*p)->id),
                (*p)->name.c_str(), (*p)->tasks.ids.size());

    // Removing a user clears the owner of its tasks in the same transaction.
    if (auto r = users.remove(ada.id); !r) return fail(r.status());
    auto first = tasks.get(todo[0].id);
    if (!first || !*first) return fail(first.status());
    std::printf("after removing user %llu, task %llu has owner %llu\n",
                static_cast<unsigned long long>(ada.id),
                static_cast<unsigned long long>(todo[0].id),
                static_cast<unsigned long long>((*first)->owner.id));
    auto count = tasks.count();
    if (!count) return fail(count.status());
    std::printf("%llu tasks in the store\n", static_cast<unsigned long long>(*count));
    return 0;
}
