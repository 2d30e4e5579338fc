// libFuzzer target: the message parser, then the command engine on whatever parses.
// Build with -DOUTPOST_BUILD_FUZZ=ON and clang; run: mongo_standin_fuzz_wire corpus/
#include <cstddef>
#include <cstdint>

#include "engine.hpp"
#include "wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static standin::Engine* engine = [] {
        standin::Options o;
        o.oplog_size = 64;
        o.test_commands = true;
        auto* e = new standin::Engine(o);
        (void)e->open();
        e->set_advertised("127.0.0.1:27017");
        return e;
    }();
    if (size < standin::kHeaderSize) return 0;
    auto h = standin::parse_header(data);
    if (!h.ok()) return 0;
    standin::ParseFailure failure;
    auto r = standin::parse_message(h.value(), data + standin::kHeaderSize,
                                    size - standin::kHeaderSize, &failure);
    if (!r.ok()) return 0;
    standin::ConnInfo conn;
    (void)engine->run(r.value(), conn, true, standin::Clock::now());
    return 0;
}
