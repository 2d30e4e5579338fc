#pragma once
// The tasks example's entities, bound to examples/tasks/tasks-model.json with OUTPOST_ENTITY.
#include <cstdint>
#include <string>
#include <vector>

#include "outpost/box.hpp"

struct User {
    uint64_t id = 0;
    std::string name;
    std::string email;
};
OUTPOST_ENTITY(User, id, name, email)

struct Task {
    uint64_t id = 0;
    std::string text;
    int64_t dateCreated = 0;   // ms since the epoch
    int64_t dateFinished = 0;  // 0 while open
    bool done = false;
    outpost::ToOne<User> owner;
    std::vector<std::string> tags;
};
OUTPOST_ENTITY(Task, id, text, dateCreated, dateFinished, done, owner, tags)

struct Project {
    uint64_t id = 0;
    std::string name;
    outpost::ToMany<Task> tasks;
};
OUTPOST_ENTITY(Project, id, name, tasks)
