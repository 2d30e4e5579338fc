// libFuzzer target: the message parser, then the command engine on whatever parses.
// Build with -DOUTPOST_BUILD_FUZZ=ON and clang; run: mongo_standin_fuzz_wire corpus/
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine.hpp"
#include "wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A fresh engine every 1,000 inputs keeps memory bounded while state still carries over.
    static std::unique_ptr<standin::Engine> engine;
    static int runs = 0;
    if (!engine || ++runs % 1000 == 0) {
        standin::Options o;
        o.oplog_size = 64;
        o.test_commands = true;
        engine = std::make_unique<standin::Engine>(o);
        (void)engine->open();
        engine->set_advertised("127.0.0.1:27017");
    }
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
