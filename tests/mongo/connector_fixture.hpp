#pragma once
// The connector tests' fixture: a MongoDB (the stand-in, or OUTPOST_TEST_MONGO_URI), a server store
// with the mapping model, and a connector over them.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "mongo/connector.hpp"
#include "mongo/mapping.hpp"
#include "mongo/mongo_env.hpp"

namespace outpost::mongo {

using detail::Bson;
using testing::bson;
using testing::field_json;
using testing::wait_until;

class ConnectorTest : public ::testing::Test {
  protected:
    void SetUp() override { model_ = testing::mongo_mapping_model(); }
    void TearDown() override {
        if (connector_) connector_->stop();
        connector_.reset();
        store_.reset();
    }

    ConnectorOptions options() {
        ConnectorOptions o;
        o.url = mongo().uri();
        o.database = mongo().database();
        o.max_await_ms = 100;
        return o;
    }
    // O with its log lines kept (info lines only with WARN false).
    ConnectorOptions logged(ConnectorOptions o) {
        o.log = [this](bool warn, const std::string& text) {
            std::lock_guard<std::mutex> lock(log_mutex_);
            log_.emplace_back(warn, text);
        };
        return o;
    }
    // The info lines logged so far that start with PREFIX.
    std::vector<std::string> info_lines(const std::string& prefix) {
        std::lock_guard<std::mutex> lock(log_mutex_);
        std::vector<std::string> out;
        for (const auto& [warn, text] : log_) {
            if (!warn && text.rfind(prefix, 0) == 0) out.push_back(text);
        }
        return out;
    }
    std::string all_log() {
        std::lock_guard<std::mutex> lock(log_mutex_);
        std::string out;
        for (const auto& [warn, text] : log_) out += (warn ? "W " : "I ") + text + "\n";
        return out;
    }
    // True when one of LINES contains each of PARTS.
    static bool has_line(const std::vector<std::string>& lines,
                         std::initializer_list<std::string> parts) {
        for (const auto& l : lines) {
            bool all = true;
            for (const auto& p : parts) all = all && l.find(p) != std::string::npos;
            if (all) return true;
        }
        return false;
    }
    testing::MongoServer& mongo() {
        if (!mongo_) mongo_ = std::make_unique<testing::MongoServer>(standin_args_);
        return *mongo_;
    }
    void open(const std::string& sub = "store") {
        store_ = testing::open_store(dir_.sub(sub), model_);
        ASSERT_TRUE(store_);
    }
    void start(ConnectorOptions o) {
        if (!store_) open();
        auto c = Connector::create(store_, std::move(o));
        ASSERT_OK(c);
        connector_ = std::move(c).value();
        Status s = connector_->start([this] { commits_++; });
        ASSERT_OK(s);
    }
    void start() { start(options()); }
    void restart_connector(ConnectorOptions o) {
        connector_->stop();
        connector_.reset();
        start(std::move(o));
    }

    // A local put of an Item (as a device's change arriving at the server would be).
    Gid put_item(const std::function<void(Object&)>& fill, uint64_t* local_id = nullptr) {
        auto box = store_->box("Item").value();
        Object o = box.new_object();
        fill(o);
        auto id = box.put(o);
        EXPECT_OK(id);
        if (local_id) *local_id = *id;
        return gid(box, *id);
    }
    Gid gid(DynamicBox& box, uint64_t id) {
        auto txn = store_->begin_read().value();
        return gid_of(txn, box, id).value().value_or("");
    }
    std::optional<Object> get(const std::string& entity, const Gid& g) {
        auto box = store_->box(entity).value();
        auto txn = store_->begin_read().value();
        auto id = local_id_of(txn, box, g).value();
        if (!id) return std::nullopt;
        return box.get(txn, *id).value();
    }
    std::string id_json(const Gid& g) {
        Bson b;
        EXPECT_OK(append_gid(b.get(), "_id", g));
        return b.json();
    }
    uint64_t head() {
        auto txn = store_->begin_read().value();
        return ChangeLog::last_position(txn).value();
    }
    std::vector<ChangeLogRecord> records(uint64_t after = 0) {
        auto txn = store_->begin_read().value();
        return ChangeLog::read(txn, after, 100000).value();
    }
    // The dead letters kept in the store, oldest first.
    std::vector<DeadLetter> kept_letters() {
        auto page = connector_->dead_letters(0, 1000);
        EXPECT_OK(page);
        if (!page.is_ok()) return {};
        std::vector<DeadLetter> out(page->items.rbegin(), page->items.rend());
        EXPECT_EQ(connector_->status().dead_letters_kept, out.size());
        return out;
    }
    bool caught_up() {
        auto s = connector_->status();
        return s.outbound_position == s.server_head;
    }

    std::vector<std::string> standin_args_;
    std::unique_ptr<testing::MongoServer> mongo_;
    testing::TempDir dir_;
    Model model_;
    std::shared_ptr<Store> store_;
    std::unique_ptr<Connector> connector_;
    std::atomic<int> commits_{0};
    std::mutex log_mutex_;
    std::vector<std::pair<bool, std::string>> log_;  // GUARDED_BY(log_mutex_)
};

}  // namespace outpost::mongo
