// A minimal "sync server" process for fault tests: opens a store with the test model, runs the
// connector, and either writes Items one transaction at a time (printing "committed I" after each
// commit) or waits until everything reached MongoDB ("drained POSITION"); or, for the inbound side,
// prints "applied N" (change events committed so far) every few milliseconds until it is killed, or
// waits until the store holds COUNT Items ("have COUNT").
//
//   mongo_connector_child STORE_DIR URL DB write COUNT
//   mongo_connector_child STORE_DIR URL DB drain
//   mongo_connector_child STORE_DIR URL DB inbound
//   mongo_connector_child STORE_DIR URL DB wait COUNT
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/models.hpp"
#include "mongo/connector.hpp"
#include "outpost/changelog.hpp"

using namespace outpost;

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr,
                     "usage: %s STORE_DIR URL DB write COUNT | drain | inbound | wait COUNT\n",
                     argv[0]);
        return 2;
    }
    std::string mode = argv[4];
    auto store = Store::open(argv[1], test::mongo_mapping_model());
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
    if (mode == "inbound") {
        std::printf("started\n");
        std::fflush(stdout);
        for (;;) {
            std::printf("applied %llu\n",
                        static_cast<unsigned long long>((*c)->status().inbound_events));
            std::fflush(stdout);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    if (mode == "wait") {
        uint64_t n = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0;
        auto box = (*store)->box("Item").value();
        for (;;) {
            auto have = box.count();
            if (have && *have >= n) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        std::printf("have %llu\n", static_cast<unsigned long long>(n));
        std::fflush(stdout);
        (*c)->stop();
        return 0;
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
