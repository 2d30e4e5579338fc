#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <atomic>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "net_test_util.hpp"

namespace outpost::net::test {
namespace {

// A server on 127.0.0.1:0 that echoes every message and records opens and closes.
struct EchoServer {
    explicit EchoServer(WsServerOptions options = {}) : server(with_url(std::move(options))) {
        server.set_on_open([this](ConnectionId id, const std::string& remote) {
            waiter.update([&] {
                open.insert(id);
                remotes.push_back(remote);
            });
        });
        server.set_on_message([this](ConnectionId id, std::span<const std::uint8_t> bytes) {
            if (!bytes.empty() && bytes[0] == 0xff) throw std::runtime_error("bad message");
            if (echo) server.send(id, bytes);
            waiter.update([&] { ++messages; });
        });
        server.set_on_close([this](ConnectionId id, std::uint16_t code, const std::string&) {
            waiter.update([&] {
                open.erase(id);
                closed[id] = code;
            });
        });
        const Status st = server.start();
        EXPECT_OK(st) << st.message();
        url = server.bound_urls().at(0);
    }

    static WsServerOptions with_url(WsServerOptions options) {
        if (options.urls.empty()) options.urls = {"ws://127.0.0.1:0"};
        return options;
    }

    std::vector<std::uint16_t> close_codes() {
        std::lock_guard lock(waiter.mutex());
        std::vector<std::uint16_t> out;
        for (const auto& [id, code] : closed) out.push_back(code);
        return out;
    }

    Waiter waiter;
    std::atomic<bool> echo{true};
    std::set<ConnectionId> open;
    std::map<ConnectionId, std::uint16_t> closed;
    std::vector<std::string> remotes;
    std::size_t messages = 0;
    std::string url;
    WsServer server;  // last: stopped and joined before the members its callbacks use go away
};

WsClientOptions client_options(const std::string& url) {
    WsClientOptions options;
    options.url = url;
    return options;
}

TEST(WsServer, ReportsBoundUrlWithPickedPort) {
    EchoServer s;
    EXPECT_TRUE(s.url.starts_with("ws://127.0.0.1:"));
    EXPECT_NE(port_of(s.url), 0);
}

TEST(WsServer, EchoesBinaryMessagesOfZeroOneAndOneMebibyte) {
    EchoServer s;
    RecordingClient c(client_options(s.url));
    c.client.connect();
    ASSERT_TRUE(c.wait_open()) << c.close_reason;
    const std::vector<Bytes> sent = {Bytes{}, Bytes{0x42}, pattern(1u << 20)};
    for (const auto& m : sent) ASSERT_TRUE(c.client.send(m));
    ASSERT_TRUE(c.wait_messages(sent.size()));
    std::lock_guard lock(c.waiter.mutex());
    ASSERT_EQ(c.messages.size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(c.messages[i], sent[i]) << i;
    EXPECT_TRUE(s.remotes.at(0).starts_with("127.0.0.1:"));
}

TEST(WsServer, ClientCloseIsReportedWithItsCode) {
    EchoServer s;
    RecordingClient c(client_options(s.url));
    c.client.connect();
    ASSERT_TRUE(c.wait_open());
    c.client.close(4001, "bye");
    ASSERT_TRUE(c.wait_close());
    EXPECT_EQ(c.close_code, 4001);
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{4001});
    EXPECT_EQ(s.server.connection_count(), 0u);
}

TEST(WsServer, ServerCloseComesAfterQueuedMessages) {
    EchoServer s;
    RecordingClient c(client_options(s.url));
    c.client.connect();
    ASSERT_TRUE(c.wait_open());
    ConnectionId id = 0;
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.open.size() == 1; }));
    {
        std::lock_guard lock(s.waiter.mutex());
        id = *s.open.begin();
    }
    ASSERT_TRUE(s.server.send(id, pattern(100'000)));
    ASSERT_TRUE(s.server.close(id, 4002, "go away"));
    ASSERT_TRUE(c.wait_close());
    std::lock_guard lock(c.waiter.mutex());
    ASSERT_EQ(c.messages.size(), 1u);
    EXPECT_EQ(c.messages[0], pattern(100'000));
    EXPECT_EQ(c.close_code, 4002);
    EXPECT_EQ(c.close_reason, "go away");
}

TEST(WsServer, SharedMessageFansOutToEveryConnection) {
    EchoServer s;
    std::vector<std::unique_ptr<RecordingClient>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<RecordingClient>(client_options(s.url)));
        clients.back()->client.connect();
        ASSERT_TRUE(clients.back()->wait_open());
    }
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.open.size() == 3; }));
    std::vector<ConnectionId> ids;
    {
        std::lock_guard lock(s.waiter.mutex());
        ids.assign(s.open.begin(), s.open.end());
    }
    const auto message = std::make_shared<const Bytes>(pattern(5000, 3));
    for (const auto id : ids) ASSERT_TRUE(s.server.send_shared(id, message));
    for (auto& c : clients) {
        ASSERT_TRUE(c->wait_messages(1));
        std::lock_guard lock(c->waiter.mutex());
        EXPECT_EQ(c->messages[0], *message);
    }
}

TEST(WsServer, TwoHundredClientsExchangeMessagesConcurrently) {
    EchoServer s;
    auto loop = std::make_shared<EventLoop>(2);
    constexpr int kClients = 200;
    constexpr int kMessages = 10;
    std::vector<std::unique_ptr<RecordingClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<RecordingClient>(client_options(s.url), loop));
        clients.back()->client.connect();
    }
    for (auto& c : clients) ASSERT_TRUE(c->wait_open()) << c->close_reason;
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
        senders.emplace_back([&, t] {
            for (int i = t; i < kClients; i += 4) {
                for (int m = 0; m < kMessages; ++m) {
                    clients[i]->client.send(pattern(100 + m, static_cast<std::uint8_t>(i)));
                }
            }
        });
    }
    for (auto& t : senders) t.join();
    for (int i = 0; i < kClients; ++i) {
        ASSERT_TRUE(clients[i]->wait_messages(kMessages)) << i;
        std::lock_guard lock(clients[i]->waiter.mutex());
        for (int m = 0; m < kMessages; ++m) {
            EXPECT_EQ(clients[i]->messages[m], pattern(100 + m, static_cast<std::uint8_t>(i)));
        }
    }
    EXPECT_EQ(s.server.connection_count(), static_cast<std::size_t>(kClients));
    clients.clear();
    EXPECT_TRUE(s.waiter.wait_for([&] { return s.open.empty(); }));
}

TEST(WsServer, OversizedMessageClosesWith1009AndOthersCarryOn) {
    WsServerOptions options;
    options.max_message_size = 1024;
    EchoServer s(options);
    RecordingClient big(client_options(s.url));
    RecordingClient other(client_options(s.url));
    big.client.connect();
    other.client.connect();
    ASSERT_TRUE(big.wait_open());
    ASSERT_TRUE(other.wait_open());
    ASSERT_TRUE(big.client.send(pattern(1025)));
    ASSERT_TRUE(big.wait_close());
    EXPECT_EQ(big.close_code, kCloseTooBig);
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{kCloseTooBig});

    ASSERT_TRUE(other.client.send(pattern(1024)));
    ASSERT_TRUE(other.wait_messages(1));
    EXPECT_EQ(other.closes, 0);
}

TEST(WsClient, ClosesWith1009WhenTheServerSendsTooMuch) {
    EchoServer s;
    WsClientOptions options = client_options(s.url);
    options.max_message_size = 100;
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_open());
    ASSERT_TRUE(c.client.send(pattern(100)));
    ASSERT_TRUE(c.wait_messages(1));
    ASSERT_TRUE(c.client.send(pattern(101)));  // the echo is above the client's limit
    ASSERT_TRUE(c.wait_close());
    EXPECT_EQ(c.close_code, kCloseTooBig);
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{kCloseTooBig});
}

TEST(WsServer, TextFrameClosesWith1003) {
    EchoServer s;
    RawSocket raw(port_of(s.url));
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.websocket_handshake());
    ASSERT_TRUE(raw.write_frame(0x1, "hello"));
    const auto frame = raw.read_frame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->first, 0x8);  // close
    ASSERT_GE(frame->second.size(), 2u);
    const int code = (static_cast<std::uint8_t>(frame->second[0]) << 8) |
                     static_cast<std::uint8_t>(frame->second[1]);
    EXPECT_EQ(code, kCloseUnsupportedData);
    ASSERT_TRUE(raw.write_frame(0x8, frame->second.substr(0, 2)));  // answer the close
    EXPECT_TRUE(raw.wait_eof());
    raw.shutdown();
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{kCloseUnsupportedData});
    EXPECT_EQ(s.messages, 0u);
}

TEST(WsServer, CloseFrameWithoutACodeIsReportedAs1005) {
    WsServerOptions options;
    options.handshake_timeout = 300ms;
    EchoServer s(options);
    RawSocket raw(port_of(s.url));
    ASSERT_TRUE(raw.websocket_handshake());
    ASSERT_TRUE(raw.write_frame(0x8, ""));
    const auto frame = raw.read_frame();  // the server's answer
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->first, 0x8);
    // The raw socket never ends TCP: the server does after handshake_timeout.
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{kCloseNoStatus});
    EXPECT_TRUE(raw.wait_eof());
}

TEST(WsServer, SlowReaderIsClosedWhenItsQueueOverflowsWhileOthersGetEverything) {
    WsServerOptions options;
    options.max_send_queue_bytes = 1u << 20;
    options.handshake_timeout = 500ms;  // how long the close frame may wait behind the stall
    EchoServer s(options);
    s.echo = false;

    RawSocket slow(port_of(s.url), 16 * 1024);  // connects, then never reads
    ASSERT_TRUE(slow.connected());
    ASSERT_TRUE(slow.websocket_handshake());
    RecordingClient fast(client_options(s.url));
    fast.client.connect();
    ASSERT_TRUE(fast.wait_open());
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.open.size() == 2; }));
    ConnectionId slow_id = 0;
    ConnectionId fast_id = 0;
    {
        std::lock_guard lock(s.waiter.mutex());
        slow_id = *s.open.begin();  // ids grow: the slow socket connected first
        fast_id = *s.open.rbegin();
    }

    constexpr int kFastMessages = 200;
    const Bytes chunk = pattern(64 * 1024);
    int sent_fast = 0;
    // Never blocks: the slow connection's queue passes 1 MiB and it is closed.
    for (int i = 0; i < 100'000 && s.server.send(slow_id, chunk); ++i) {
        if (sent_fast < kFastMessages && i % 10 == 0) {
            ASSERT_TRUE(
                s.server.send(fast_id, pattern(1000, static_cast<std::uint8_t>(sent_fast))));
            ++sent_fast;
        }
    }
    while (sent_fast < kFastMessages) {
        ASSERT_TRUE(s.server.send(fast_id, pattern(1000, static_cast<std::uint8_t>(sent_fast))));
        ++sent_fast;
    }
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.count(slow_id) == 1; }));
    {
        std::lock_guard lock(s.waiter.mutex());
        EXPECT_EQ(s.closed[slow_id], kCloseSendQueueFull);
    }
    ASSERT_TRUE(fast.wait_messages(kFastMessages));
    std::lock_guard lock(fast.waiter.mutex());
    for (int i = 0; i < kFastMessages; ++i) {
        EXPECT_EQ(fast.messages[i], pattern(1000, static_cast<std::uint8_t>(i)));
    }
    EXPECT_EQ(fast.closes, 0);
    EXPECT_TRUE(slow.wait_eof());
}

TEST(WsServer, IdlePeerIsClosedWhileAPingAnsweringClientStays) {
    WsServerOptions options;
    options.idle_timeout = 400ms;
    EchoServer s(options);
    RecordingClient alive(client_options(s.url));  // answers pings from its read loop
    alive.client.connect();
    ASSERT_TRUE(alive.wait_open());
    RawSocket idle(port_of(s.url));  // never answers the ping
    ASSERT_TRUE(idle.websocket_handshake());
    ASSERT_TRUE(s.waiter.wait_for([&] { return s.closed.size() == 1; }));
    EXPECT_EQ(s.close_codes(), std::vector<std::uint16_t>{kCloseAbnormal});
    EXPECT_TRUE(idle.wait_eof());
    // Several idle periods later the answering client is still connected.
    ASSERT_FALSE(s.waiter.wait_for([&] { return s.closed.size() > 1; }, 1200ms));
    ASSERT_TRUE(alive.client.send(Bytes{7}));
    ASSERT_TRUE(alive.wait_messages(1));
    EXPECT_EQ(alive.closes, 0);
}

TEST(WsServer, ThrowingCallbackClosesOnlyItsConnectionWith1011) {
    EchoServer s;  // its on_message throws on a message that starts with 0xff
    RecordingClient bad(client_options(s.url));
    RecordingClient good(client_options(s.url));
    bad.client.connect();
    good.client.connect();
    ASSERT_TRUE(bad.wait_open() && good.wait_open());
    ASSERT_TRUE(bad.client.send(Bytes{0xff}));
    ASSERT_TRUE(bad.wait_close());
    EXPECT_EQ(bad.close_code, kCloseInternalError);
    ASSERT_TRUE(good.client.send(Bytes{1}));
    ASSERT_TRUE(good.wait_messages(1));
    EXPECT_FALSE(s.server.send(987654321, Bytes{1}));
    EXPECT_FALSE(s.server.close(987654321, kCloseNormal, ""));
}

TEST(WsServer, GarbageOnThePortDoesNotDisturbTheServer) {
    EchoServer s;
    RecordingClient before(client_options(s.url));
    before.client.connect();
    ASSERT_TRUE(before.wait_open());

    {
        RawSocket junk(port_of(s.url));
        ASSERT_TRUE(junk.connected());
        const Bytes noise = pattern(64 * 1024, 7);
        junk.write_all(noise.data(), noise.size());
        EXPECT_TRUE(junk.wait_eof());
    }
    {
        RawSocket junk(port_of(s.url));
        junk.write_all("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n");
        EXPECT_TRUE(junk.wait_eof());
    }
    {
        // A valid handshake followed by an unmasked, reserved-opcode frame.
        RawSocket junk(port_of(s.url));
        ASSERT_TRUE(junk.websocket_handshake());
        junk.write_all(std::string("\xf3\x05hello", 7));
        EXPECT_TRUE(junk.wait_eof());
    }

    ASSERT_TRUE(before.client.send(Bytes{1, 2, 3}));
    ASSERT_TRUE(before.wait_messages(1));
    RecordingClient after(client_options(s.url));
    after.client.connect();
    ASSERT_TRUE(after.wait_open());
    ASSERT_TRUE(after.client.send(Bytes{4}));
    ASSERT_TRUE(after.wait_messages(1));
    EXPECT_EQ(before.closes, 0);
}

TEST(WsServer, AnswersHealthAndNotFoundOverHttp) {
    EchoServer s;
    {
        RawSocket http(port_of(s.url));
        http.write_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        const std::string response = http.read_some_bytes(1000);
        EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
        EXPECT_TRUE(response.ends_with("outpost\n")) << response;
    }
    {
        RawSocket http(port_of(s.url));
        http.write_all("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
        EXPECT_TRUE(http.read_some_bytes(1000).starts_with("HTTP/1.1 404"));
    }
}

// A request with a body used to get no answer at all (the parser took no body): other methods than
// GET get 405 whatever their body, and a body above the limit 413.
TEST(WsServer, AnswersOtherMethodsWith405AndLargeBodiesWith413) {
    EchoServer s;
    for (const std::string& request :
         {std::string("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"),
          std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n"),
          std::string("PUT / HTTP/1.1\r\nHost: x\r\n\r\n"),
          std::string("DELETE / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")}) {
        SCOPED_TRACE(request);
        RawSocket http(port_of(s.url));
        ASSERT_TRUE(http.write_all(request));
        const std::string response = http.read_until("\r\n\r\n");
        EXPECT_TRUE(response.starts_with("HTTP/1.1 405")) << response;
        EXPECT_NE(response.find("Allow: GET"), std::string::npos) << response;
        EXPECT_TRUE(http.wait_eof());
    }
    {
        // 1 MiB announced and sent: answered with 413 (the rest is read and dropped).
        RawSocket http(port_of(s.url));
        const std::string body(1u << 20, 'x');
        ASSERT_TRUE(http.write_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n"));
        ASSERT_TRUE(http.write_all(body));
        const std::string response = http.read_until("\r\n\r\n");
        EXPECT_TRUE(response.starts_with("HTTP/1.1 413")) << response;
        EXPECT_TRUE(http.wait_eof());
    }
    {
        // The same in chunks, without a length up front.
        RawSocket http(port_of(s.url));
        ASSERT_TRUE(
            http.write_all("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
        const std::string chunk(32 * 1024, 'y');
        for (int i = 0; i < 4; ++i) ASSERT_TRUE(http.write_all("8000\r\n" + chunk + "\r\n"));
        ASSERT_TRUE(http.write_all("0\r\n\r\n"));
        EXPECT_TRUE(http.read_until("\r\n\r\n").starts_with("HTTP/1.1 413"));
        EXPECT_TRUE(http.wait_eof());
    }
    RecordingClient after(client_options(s.url));
    after.client.connect();
    ASSERT_TRUE(after.wait_open());
    EXPECT_EQ(s.server.stats().connections, 1u);
}

// Log lines of a server, recorded.
struct LogLines {
    std::function<void(bool, const std::string&)> sink() {
        return [this](bool warn, const std::string& text) {
            std::lock_guard lock(mutex);
            lines.emplace_back(warn, text);
        };
    }
    std::size_t count(const std::string& part) {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& [warn, text] : lines) n += text.find(part) != std::string::npos;
        return n;
    }
    std::mutex mutex;
    std::vector<std::pair<bool, std::string>> lines;
};

// Waits (with the deadline) until COND holds.
template <class Cond>
bool eventually(Cond&& cond) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

// At max_connections, one more connection is closed at once (503 on ws://), counted, and reported
// once; when one closes, new connections are accepted again.
TEST(WsServer, ConnectionLimitRefusesOneMoreAndAcceptsAgainAfterOneCloses) {
    LogLines log;
    WsServerOptions o;
    o.max_connections = 2;
    o.log = log.sink();
    EchoServer s(o);
    RecordingClient a(client_options(s.url));
    RecordingClient b(client_options(s.url));
    a.client.connect();
    b.client.connect();
    ASSERT_TRUE(a.wait_open());
    ASSERT_TRUE(b.wait_open());
    for (int i = 0; i < 3; ++i) {
        RawSocket extra(port_of(s.url));
        ASSERT_TRUE(extra.connected());
        const std::string response = extra.read_until("\r\n\r\n");
        EXPECT_TRUE(response.starts_with("HTTP/1.1 503")) << response;
        EXPECT_TRUE(extra.wait_eof());
    }
    {
        // A WebSocket client is refused too (it sees a failed handshake).
        RecordingClient c(client_options(s.url));
        c.client.connect();
        EXPECT_FALSE(c.wait_open());
    }
    EXPECT_EQ(s.server.stats().connections_refused, 4u);
    EXPECT_EQ(log.count("connection limit of 2 reached"), 1u);
    // The two are still served.
    ASSERT_TRUE(a.client.send(Bytes{7}));
    ASSERT_TRUE(a.wait_messages(1));

    a.client.close(1000, "done");
    ASSERT_TRUE(a.wait_close());
    ASSERT_TRUE(eventually([&] { return s.server.stats().connections == 1; }));
    RecordingClient d(client_options(s.url));
    d.client.connect();
    ASSERT_TRUE(d.wait_open());
    ASSERT_TRUE(d.client.send(Bytes{8}));
    ASSERT_TRUE(d.wait_messages(1));
    EXPECT_EQ(s.server.stats().connections_refused, 4u);
}

// Out of file descriptors: accepting fails, the listener retries every 100 ms and reports it once,
// and accepts again when descriptors are free. In a child process, which lowers its own limit.
// Returns 0, or the number of the step that failed.
int accept_without_descriptors() {
    const int probe = ::open("/dev/null", O_RDONLY);
    if (probe < 0) return 1;
    ::close(probe);
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 2;
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, static_cast<rlim_t>(probe) + 64);
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) return 3;
    LogLines log;
    WsServerOptions o;
    o.urls = {"ws://127.0.0.1:0"};
    o.threads = 1;
    o.log = log.sink();
    WsServer server(o);
    if (!server.start().is_ok()) return 4;
    const std::uint16_t port = port_of(server.bound_urls().at(0));
    std::vector<int> spare;  // every free descriptor
    for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) spare.push_back(fd);
    if (errno != EMFILE || spare.empty()) return 5;
    ::close(spare.back());  // one for the client's socket
    spare.pop_back();
    RawSocket client(port);  // the kernel completes the connection; the server cannot take it
    if (!client.connected()) return 6;
    if (!eventually([&] { return server.stats().accept_errors >= 3; })) return 7;
    if (log.count("new connections wait") != 1) return 8;
    for (int fd : spare) ::close(fd);
    if (!client.write_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")) return 9;
    if (!client.read_some_bytes(1000).starts_with("HTTP/1.1 200")) return 10;
    if (log.count("new connections wait") != 1) return 11;
    if (log.count("again after") != 1) return 12;
    server.stop();
    return 0;
}

TEST(WsServer, FailedAcceptsPauseAndAreReportedOnce) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(accept_without_descriptors());
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the step of accept_without_descriptors that failed";
}

TEST(WsServer, StopClosesConnectedClientsWithGoingAway) {
    auto s = std::make_unique<EchoServer>();
    std::vector<std::unique_ptr<RecordingClient>> clients;
    for (int i = 0; i < 5; ++i) {
        clients.push_back(std::make_unique<RecordingClient>(client_options(s->url)));
        clients.back()->client.connect();
    }
    for (auto& c : clients) ASSERT_TRUE(c->wait_open());
    // The client can see its handshake done before the server's on_open has run.
    ASSERT_TRUE(s->waiter.wait_for([&] { return s->open.size() == 5; }));
    // From another thread, as a signal-handling thread would.
    std::thread([&] { s->server.stop(); }).join();
    for (auto& c : clients) {
        ASSERT_TRUE(c->wait_close());
        EXPECT_EQ(c->close_code, kCloseGoingAway);
    }
    s->server.run();  // returns once the I/O threads are done
    EXPECT_EQ(s->close_codes().size(), 5u);
    EXPECT_EQ(s->server.connection_count(), 0u);

    RecordingClient late(client_options(s->url));
    late.client.connect();
    ASSERT_TRUE(late.wait_close());
    EXPECT_FALSE(late.opened);
}

TEST(WsServer, CallerCanRunTheLoop) {
    WsServerOptions options;
    options.threads = 0;
    EchoServer s(options);
    std::thread runner([&] { s.server.run(); });
    RecordingClient c(client_options(s.url));
    c.client.connect();
    ASSERT_TRUE(c.wait_open());
    ASSERT_TRUE(c.client.send(Bytes{9}));
    ASSERT_TRUE(c.wait_messages(1));
    s.server.stop();
    runner.join();
    EXPECT_TRUE(c.wait_close());
}

TEST(WsServer, StartRejectsBadUrlsAndBusyPorts) {
    {
        WsServerOptions options;
        options.urls = {"http://127.0.0.1:0"};
        WsServer server(options);
        EXPECT_EQ(server.start().code(), ErrorCode::kInvalidArgument);
    }
    {
        WsServerOptions options;
        options.urls = {"wss://127.0.0.1:0"};
        WsServer server(options);  // no cert dir
        EXPECT_EQ(server.start().code(), ErrorCode::kInvalidArgument);
    }
    EchoServer s;
    WsServerOptions options;
    options.urls = {s.url};
    WsServer busy(options);
    const Status st = busy.start();
    ASSERT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_NE(st.message().find("cannot listen"), std::string::npos) << st.message();
    EXPECT_EQ(busy.start().code(), ErrorCode::kIllegalState);  // once only, even after a failure
}

TEST(WsServer, ListensOnSeveralUrls) {
    WsServerOptions options;
    options.urls = {"ws://127.0.0.1:0", "ws://127.0.0.1:0"};
    EchoServer s(options);
    const auto urls = s.server.bound_urls();
    ASSERT_EQ(urls.size(), 2u);
    EXPECT_NE(urls[0], urls[1]);
    for (const auto& url : urls) {
        RecordingClient c(client_options(url));
        c.client.connect();
        ASSERT_TRUE(c.wait_open());
        ASSERT_TRUE(c.client.send(Bytes{1}));
        ASSERT_TRUE(c.wait_messages(1));
    }
}

TEST(WsClient, ReportsARefusedConnectionAsClose1006) {
    std::uint16_t port = 0;
    {
        EchoServer s;
        port = port_of(s.url);
    }
    RecordingClient c(client_options(detail::format_ws_url(false, "127.0.0.1", port)));
    c.client.connect();
    ASSERT_TRUE(c.wait_close());
    EXPECT_FALSE(c.opened);
    EXPECT_EQ(c.close_code, kCloseAbnormal);
    EXPECT_FALSE(c.close_reason.empty());
    EXPECT_FALSE(c.client.send(Bytes{1}));
}

TEST(WsClient, ConnectTimesOutWhenTheServerNeverAnswers) {
    // A listening socket that is never accepted from: the kernel completes the TCP handshake,
    // nobody answers the WebSocket handshake.
    outpost::test::LoopbackListener silent;
    ASSERT_NE(silent.port(), 0);

    WsClientOptions options =
        client_options(detail::format_ws_url(false, "127.0.0.1", silent.port()));
    options.connect_timeout = 300ms;
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_close());
    EXPECT_FALSE(c.opened);
    EXPECT_EQ(c.close_code, kCloseAbnormal);
    EXPECT_EQ(c.close_reason, "connect timeout");
}

TEST(WsClient, ReconnectsAfterAClose) {
    EchoServer s;
    RecordingClient c(client_options(s.url));
    c.client.connect();
    ASSERT_TRUE(c.wait_open());
    c.client.close();
    ASSERT_TRUE(c.wait_close());
    c.waiter.update([&] { c.opened = false; });
    c.client.connect();
    ASSERT_TRUE(c.waiter.wait_for([&] { return c.opened; }));
    ASSERT_TRUE(c.client.send(Bytes{5}));
    ASSERT_TRUE(c.wait_messages(1));
}

}  // namespace
}  // namespace outpost::net::test
