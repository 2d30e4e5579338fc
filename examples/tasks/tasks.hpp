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
    std::string ownerId;                  // the owning user's id (the token's sub)
    std::vector<std::string> sharedWith;  // the users it is shared with
};
OUTPOST_ENTITY(Task, id, text, dateCreated, dateFinished, done, owner, tags, ownerId, sharedWith)

struct Project {
    uint64_t id = 0;
    std::string name;
    outpost::ToMany<Task> tasks;
    std::string team;  // the team that sees it
};
OUTPOST_ENTITY(Project, id, name, tasks, team)
