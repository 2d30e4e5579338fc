// Damaged stores and the programs: `outpost check` reports damaged objects and a data file cut
// short (exit 3), the other outpost commands fail with the error (exit 1), and outpost-server's
// full sync of a damaged object fails that client's full sync while the server and every other
// client go on.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/status_macros.hpp"
#include "integration/sync_it_support.hpp"
#include "outpost/store.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace {

using namespace std::chrono_literals;

const std::string kCli = OUTPOST_CLI_BIN;
const std::string kModel = std::string(OUTPOST_SOURCE_DIR) + "/examples/tasks/tasks-model.json";

// Points the string PROPERTY of object ID of ENTITY 2 GiB past its record, straight into LMDB: read
// without verification, that is far outside the memory map.
void damage_string(Store& store, const char* entity, uint64_t id, const char* property) {
    ASSERT_OK_AND_ASSIGN(DynamicBox box, store.box(entity));
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store.begin_write());
    const detail::EntityInfo& e = *detail::Access::info(box);
    MDB_val k{8, &id}, v;
    ASSERT_EQ(mdb_get(detail::Access::state(txn)->txn, e.objects, &k, &v), 0);
    std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
    auto u32 = [&](size_t at) {
        uint32_t x;
        std::memcpy(&x, bytes.data() + at, 4);
        return x;
    };
    uint32_t table = u32(0);
    size_t vtable = table - static_cast<int32_t>(u32(table));
    const Property* p = e.entity->property(property);
    ASSERT_NE(p, nullptr);
    uint16_t off;
    std::memcpy(&off, bytes.data() + vtable + 4 + 2 * (p->id.id - 1), 2);
    ASSERT_NE(off, 0);
    uint32_t far = 0x7ffffff0u;
    std::memcpy(bytes.data() + table + off, &far, 4);
    MDB_val nv{bytes.size(), bytes.data()};
    ASSERT_EQ(mdb_put(detail::Access::state(txn)->txn, e.objects, &k, &nv, 0), 0);
    ASSERT_OK(txn.commit());
}

class CheckCommand : public ::testing::Test {
  protected:
    void SetUp() override { db_ = dir_.sub("db"); }

    // Makes the store: COUNT tasks with texts "task 1", ... (and a user), then closes it.
    void make_store(int count) {
        ASSERT_OK_AND_ASSIGN(Model model, Model::load(kModel));
        ASSERT_OK_AND_ASSIGN(auto store, Store::open(db_, model));
        ASSERT_OK_AND_ASSIGN(DynamicBox tasks, store->box("Task"));
        ASSERT_OK_AND_ASSIGN(DynamicBox users, store->box("User"));
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store->begin_write());
        Object user = users.new_object();
        ASSERT_OK(user.set("name", Value("ann")));
        ASSERT_OK(users.put(txn, user));
        for (int i = 1; i <= count; ++i) {
            Object t = tasks.new_object();
            ASSERT_OK(t.set("text", Value("task " + std::to_string(i))));
            ASSERT_OK(t.set("tags", Value(Value::StringVector{"a", "b"})));
            ASSERT_OK(tasks.put(txn, t));
        }
        ASSERT_OK(txn.commit());
    }

    // Damages the text of task ID (the store is opened and closed here).
    void damage_task_text(uint64_t id) {
        ASSERT_OK_AND_ASSIGN(auto store, Store::open_existing(db_));
        damage_string(*store, "Task", id, "text");
    }

    it::RunResult outpost(std::vector<std::string> args) {
        args.insert(args.begin(), kCli);
        return it::run_program(args, dir_.sub("stderr.txt"), 60s);
    }

    it::TempDir dir_;
    std::string db_;
};

TEST_F(CheckCommand, CleanStoreExitsZeroWithASummary) {
    make_store(3);
    auto r = outpost({"check", "--db", db_});
    ASSERT_TRUE(r.exit_code.has_value());
    EXPECT_EQ(*r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(
        r.out.find("check: 4 objects in 3 entities, 0 damaged; 1 change-log records, 0 damaged; "
                   "0 index problems; 0 global id problems"),
        std::string::npos)
        << r.out;
}

TEST_F(CheckCommand, DamagedObjectIsReportedAndOtherCommandsFailCleanly) {
    make_store(3);
    damage_task_text(2);

    auto check = outpost({"check", "--db", db_});
    ASSERT_TRUE(check.exit_code.has_value());
    EXPECT_EQ(*check.exit_code, 3) << check.out << check.err;
    EXPECT_NE(check.out.find("object Task 2: property text (string): the string is cut off or lies "
                             "outside the record"),
              std::string::npos)
        << check.out;
    EXPECT_NE(check.out.find("check: 4 objects in 3 entities, 1 damaged;"), std::string::npos)
        << check.out;

    auto get = outpost({"get", "--db", db_, "Task", "2"});
    ASSERT_TRUE(get.exit_code.has_value());
    EXPECT_EQ(*get.exit_code, 1) << get.out << get.err;  // an error, not a signal
    EXPECT_NE(get.err.find("corrupt (204): damaged object Task 2: property text"),
              std::string::npos)
        << get.err;

    auto list = outpost({"list", "--db", db_, "Task"});
    ASSERT_TRUE(list.exit_code.has_value());
    EXPECT_EQ(*list.exit_code, 1) << list.err;

    auto other = outpost({"get", "--db", db_, "Task", "3"});
    ASSERT_TRUE(other.exit_code.has_value());
    EXPECT_EQ(*other.exit_code, 0) << other.err;
    EXPECT_NE(other.out.find("task 3"), std::string::npos) << other.out;
}

TEST_F(CheckCommand, DataFileCutShortIsReportedNotACrash) {
    make_store(3000);
    const std::string file = db_ + "/data.mdb";
    const auto size = std::filesystem::file_size(file);
    std::filesystem::resize_file(file, size / 2);

    auto check = outpost({"check", "--db", db_});
    ASSERT_TRUE(check.exit_code.has_value());
    EXPECT_EQ(*check.exit_code, 3) << check.out << check.err;
    EXPECT_NE(check.out.find("check: the store does not open: corrupt (204)"), std::string::npos)
        << check.out;
    EXPECT_NE(check.out.find("cut short"), std::string::npos) << check.out;

    auto stats = outpost({"stats", "--db", db_});
    ASSERT_TRUE(stats.exit_code.has_value());
    EXPECT_EQ(*stats.exit_code, 1) << stats.out << stats.err;
    EXPECT_NE(stats.err.find("data.mdb is " + std::to_string(size / 2) + " bytes"),
              std::string::npos)
        << stats.err;
}

TEST_F(CheckCommand, MissingStoreIsAnError) {
    auto r = outpost({"check", "--db", dir_.sub("nothing")});
    ASSERT_TRUE(r.exit_code.has_value());
    EXPECT_EQ(*r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("no store in"), std::string::npos) << r.err;
}

// ---- the server ----

using DamagedServerStore = it::SyncIt;

TEST_F(DamagedServerStore, FullSyncOfADamagedObjectFailsThatClientNotTheServer) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    const uint64_t id = it::put(*a->store, "Person", {{"name", Value("soon damaged")}});
    const auto gid = it::gid(*a->store, "Person", id);
    ASSERT_TRUE(gid.has_value());
    ASSERT_TRUE(eventually([&] { return it::find(*b->store, "Person", *gid).has_value(); },
                           "b has the person"));
    ASSERT_TRUE(server->stop().has_value()) << server->log();
    {
        auto store = it::open_server_store(*server);
        ASSERT_NE(store, nullptr);
        ASSERT_OK_AND_ASSIGN(DynamicBox people, store->box("Person"));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        ASSERT_OK_AND_ASSIGN(auto local, local_id_of(txn, people, *gid));
        txn.close();
        ASSERT_TRUE(local.has_value());
        damage_string(*store, "Person", *local, "name");
    }
    ASSERT_TRUE(server->start());

    // A new client gets a full sync, which reads the damaged person.
    auto c = make_peer("c", *server);
    ASSERT_TRUE(eventually([&] { return c->error_count() > 0; }, "c's full sync fails"))
        << server->log();
    {
        std::lock_guard lock(c->mu);
        EXPECT_NE(c->errors[0].why.find("damaged object Person"), std::string::npos)
            << c->errors[0].why;
    }
    EXPECT_TRUE(server->running());
    EXPECT_TRUE(it::still_syncing(*a, *b, "after the damage")) << server->log();
}

}  // namespace
}  // namespace outpost
