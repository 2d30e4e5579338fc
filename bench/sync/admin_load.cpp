#include "admin_load.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "admin/admin_setup.hpp"
#include "admin/sync_api.hpp"
#include "net/http_get.hpp"

namespace outpost::bench {

struct AdminLoad::Impl {
    std::unique_ptr<admin::AdminServer> admin;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> requests{0}, failures{0};
    std::vector<std::thread> pollers;

    void poll(const std::string& base) {
        const char* paths[] = {"/api/status", "/api/clients", "/metrics"};
        auto next = std::chrono::steady_clock::now();
        while (!stop.load()) {
            for (const char* path : paths) {
                net::HttpGetOptions o;
                o.url = base + path;
                o.max_body_bytes = size_t{16} << 20;
                o.cancel = &stop;
                auto r = net::http_get(o);
                ++requests;
                if (!r && !stop.load()) {
                    if (failures++ == 0)
                        std::fprintf(stderr, "admin poll %s: %s\n", path,
                                     r.status().to_string().c_str());
                }
            }
            next += std::chrono::seconds(1);
            while (!stop.load() && std::chrono::steady_clock::now() < next)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
};

AdminLoad::AdminLoad(std::shared_ptr<Store> store, sync::SyncServer* server, size_t pollers)
    : impl_(std::make_unique<Impl>()) {
    admin::AdminSetup setup;
    setup.bind = "http://127.0.0.1:0";
    setup.bind_given = true;
    setup.version = "bench";
    std::vector<std::shared_ptr<admin::ApiPart>> parts{
        std::make_shared<admin::SyncApi>(std::move(store), server)};
    auto started = admin::start_admin_server(std::move(setup), parts);
    if (!started || !*started) {
        std::fprintf(stderr, "bench-sync: the admin server did not start: %s\n",
                     started ? "off" : started.status().to_string().c_str());
        std::exit(1);
    }
    impl_->admin = std::move(*started);
    const std::string base = impl_->admin->bound_url();
    for (size_t i = 0; i < pollers; ++i)
        impl_->pollers.emplace_back([this, base] { impl_->poll(base); });
}

AdminLoad::~AdminLoad() {
    impl_->stop = true;
    for (auto& t : impl_->pollers) t.join();
    impl_->admin.reset();
    std::fprintf(stderr, "bench-sync: admin pollers made %llu requests, %llu failed\n",
                 static_cast<unsigned long long>(impl_->requests.load()),
                 static_cast<unsigned long long>(impl_->failures.load()));
}

}  // namespace outpost::bench
