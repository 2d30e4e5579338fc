// Writes tests/changelog/data/store-format1/data.mdb: a store in format 1 ("outpost-store 1", every
// GID in the l: and g: tables), for StoreFormat tests. Not built by CMake: it was compiled once
// against the store library of commit 7094010 (the last commit that writes format 1) and run as
//   make_store_format1 DIR OUT
// (OUT gets a compacted copy of the store written in DIR) with tests/common/models.hpp's
// changelog_model(). Kept here so the file can be made again.
#include <lmdb.h>

#include <cstdio>
#include <filesystem>

#include "changelog/test_store.hpp"

using namespace outpost;

#define CHECK(x)                                                           \
    do {                                                                   \
        auto st_ = (x);                                                    \
        if (!st_.is_ok()) {                                                \
            std::fprintf(stderr, "%s: %s\n", #x, st_.to_string().c_str()); \
            return 1;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    StoreOptions o;
    auto store = Store::open(argv[1], outpost::testing::changelog_model(), o).value();
    auto people = store->box("Person").value();
    auto notes = store->box("Note").value();
    auto drafts = store->box("Draft").value();
    {
        auto txn = store->begin_write().value();
        for (const char* name : {"Ada", "Bob", "Cy"}) {  // ids 1, 2, 3
            Object p = people.new_object();
            CHECK(p.set("name", name));
            CHECK(p.set("age", 30));
            CHECK(people.put(txn, p).status());
        }
        // Person 4: a caller that wrote the id property's field (put_with): the field is junk.
        CHECK(people
                  .put_with(txn, 0, PutMode::kPut,
                            [&](ObjectWriter& w) {
                                w.set_int(0, 4444);
                                w.set_string(1, "Dee");
                                return Status::ok();
                            })
                  .status());
        Object n = notes.new_object();
        CHECK(n.set("text", "hello"));
        CHECK(n.set("author", int64_t{1}));
        CHECK(n.set_to_many("readers", {1, 2}));
        CHECK(notes.put(txn, n).status());  // Note 1
        Object d = drafts.new_object();
        CHECK(d.set("text", "local"));
        CHECK(drafts.put(txn, d).status());
        CHECK(txn.commit());
    }
    CHECK(people.remove(3).status());
    {
        // A remote note whose author is not here yet: Person 5 is reserved for that GID.
        ChangeSet cs;
        ObjectChange c;
        c.kind = ObjectChange::kPut;
        c.entity_uid = store->model().entity("Note")->id.uid;
        c.gid =
            Gid("\x07"
                "remote-note1",
                13);
        c.is_new = true;
        PropertyChange text, author;
        text.property_uid = store->model().entity("Note")->property("text")->id.uid;
        text.value = Value("from afar");
        author.property_uid = store->model().entity("Note")->property("author")->id.uid;
        author.value =
            Value(Bytes{0x07, 'r', 'e', 'm', 'o', 't', 'e', '-', 'a', 'u', 't', 'h', 'r'});
        c.properties.push_back(text);
        c.properties.push_back(author);
        cs.objects.push_back(c);
        auto txn = store->begin_write().value();
        CHECK(ChangeLog::apply(txn, cs, "peer"));
        CHECK(txn.commit());
    }
    store.reset();
    MDB_env* env = nullptr;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4096);
    if (mdb_env_open(env, argv[1], MDB_RDONLY, 0644) != 0) return 1;
    if (mdb_env_copy2(env, argv[2], MDB_CP_COMPACT) != 0) return 1;
    mdb_env_close(env);
    return 0;
}
