// A minimal "sync server" process for fault tests: opens a store with the test model, runs the
// connector, and either writes Items one transaction at a time (printing "committed I" after each
// commit) or waits until everything reached MongoDB ("drained POSITION").
//
//   mongo_connector_child STORE_DIR URL DB write COUNT
//   mongo_connector_child STORE_DIR URL DB drain
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "mongo/connector.hpp"
#include "mongo/test_model.hpp"
#include "outpost/changelog.hpp"

using namespace outpost;

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s STORE_DIR URL DB write COUNT | drain\n", argv[0]);
        return 2;
    }
    std::string mode = argv[4];
    auto store = Store::open(argv[1], mongo::testing::mapping_model());
    if (!store) {
        std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
        return 1;
    }
    mongo::ConnectorOptions o;
    o.url = argv[2];
    o.database = argv[3];
    o.server_id = "child";
    o.max_await_ms = 100;
    o.outbound_max_records = 7;  // many small transactions, so a kill lands between and inside them
    auto c = mongo::Connector::create(*store, o);
    if (!c) {
        std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
        return 1;
    }
    Status s = (*c)->start(nullptr);
    if (!s) {
        std::fprintf(stderr, "%s\n", s.to_string().c_str());
        return 1;
    }
    if (mode == "write") {
        int n = argc > 5 ? std::atoi(argv[5]) : 1000;
        auto box = (*store)->box("Item").value();
        for (int i = 0; i < n; ++i) {
            Object obj = box.new_object();
            (void)obj.set("i32", Value(int64_t{i}));
            auto id = box.put(obj);
            if (!id) {
                std::fprintf(stderr, "%s\n", id.status().to_string().c_str());
                return 1;
            }
            std::printf("committed %d\n", i);
            std::fflush(stdout);
        }
    }
    for (;;) {
        auto st = (*c)->status();
        if (st.outbound_position == st.server_head) {
            std::printf("drained %llu\n", static_cast<unsigned long long>(st.outbound_position));
            std::fflush(stdout);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    (*c)->stop();
    return 0;
}
