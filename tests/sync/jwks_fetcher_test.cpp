#include "sync/auth/jwks_fetcher.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.hpp"
#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "common/wait.hpp"
#include "sync/auth/token_mint.hpp"

namespace outpost::sync::auth {
namespace {

using namespace std::chrono_literals;
using test::LoopbackListener;
using test::Process;
using test::TempDir;
using test::wait_until;

constexpr auto kDeadline = 30s;

// A fresh RSA key (made at test time) as a PEM private key.
std::string rsa_private_pem() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!key || !bio ||
        !PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)) {
        return "";
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

// One RSA key for the suite; each test names it by the kids it needs.
const std::string& private_pem() {
    static const std::string pem = rsa_private_pem();
    return pem;
}

std::string jwks_with_kid(const std::string& kid) {
    auto jwks = public_jwks(private_pem(), kid);
    EXPECT_OK(jwks);
    return jwks.is_ok() ? jwks.value() : "";
}

std::string token_with_kid(const std::string& kid) {
    MintOptions o;
    o.private_key_pem = private_pem();
    o.kid = kid;
    o.subject = "alice";
    auto token = mint_token(o);
    EXPECT_OK(token);
    return token.is_ok() ? token.value() : "";
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Writes TEXT to PATH through a rename, so that a reader sees the old or the new file whole.
void write_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::binary) << text;
    std::filesystem::rename(tmp, path);
}

std::shared_ptr<TokenVerifier> verifier_without_keys() {
    JwtOptions o;
    o.jwks = R"({"keys": []})";
    auto v = TokenVerifier::create(o);
    EXPECT_OK(v);
    return v.is_ok() ? v.value() : nullptr;
}

// Log lines and key updates, as the fetcher reports them.
struct Recorder {
    Mutex mutex;
    std::vector<std::string> lines OUTPOST_GUARDED_BY(mutex);
    std::atomic<int> updates{0};

    void install(JwksFetcherOptions& o) {
        o.log = [this](bool error, const std::string& line) {
            MutexLock lock(mutex);
            lines.push_back((error ? "E " : "I ") + line);
        };
        o.on_keys_updated = [this] { ++updates; };
    }
    size_t count(const std::string& part) {
        MutexLock lock(mutex);
        return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
            return l.find(part) != std::string::npos;
        }));
    }
    std::string all() {
        MutexLock lock(mutex);
        std::string out;
        for (const auto& l : lines) out += l + "\n";
        return out;
    }
};

bool has_kid(const TokenVerifier& v, const std::string& kid) {
    const auto kids = v.jwks_kids();
    return std::find(kids.begin(), kids.end(), kid) != kids.end();
}

// `python3 -m http.server` serving DIR on 127.0.0.1; its request log goes to a file.
class StaticServer {
  public:
    bool start(const std::string& dir, const std::string& log_file, uint16_t port = 0) {
        log_file_ = log_file;
        if (!process_.spawn({"/usr/bin/python3", "-u", "-m", "http.server", std::to_string(port),
                             "--bind", "127.0.0.1", "--directory", dir},
                            log_file)) {
            return false;
        }
        auto line = process_.wait_for_line(
            [](const std::string& l) { return l.starts_with("Serving HTTP on"); }, kDeadline);
        if (!line) return false;
        const auto at = line->find(" port ");
        if (at == std::string::npos) return false;
        port_ = static_cast<uint16_t>(std::stoi(line->substr(at + 6)));
        return true;
    }
    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    // GET requests for PATH that it logged.
    size_t gets(const std::string& path) const {
        std::ifstream in(log_file_);
        size_t n = 0;
        for (std::string line; std::getline(in, line);) {
            if (line.find("\"GET " + path + " ") != std::string::npos) ++n;
        }
        return n;
    }

  private:
    Process process_;
    std::string log_file_;
    uint16_t port_ = 0;
};

// A JWKS file holding key "a", a verifier without keys, and fetcher options on the file with a
// recorder installed.
class JwksFile : public ::testing::Test {
  protected:
    void SetUp() override {
        write_file(file, jwks_with_kid("a"));
        ASSERT_TRUE(verifier);
        o.source = file;
        rec.install(o);
    }
    TempDir dir{"jwks"};
    const std::string file = dir.sub("jwks.json");
    std::shared_ptr<TokenVerifier> verifier = verifier_without_keys();
    JwksFetcherOptions o;
    Recorder rec;
};

TEST_F(JwksFile, LoadsKeysFromAFile) {
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));
    EXPECT_EQ(verifier->jwks_kids(), std::vector<std::string>{"a"});
    EXPECT_EQ(fetcher->loads(), 1u);
    EXPECT_EQ(rec.count("JWKS " + file + ": 1 key (kid a)"), 1u) << rec.all();
    ASSERT_OK_AND_ASSIGN(Identity id, verifier->verify(token_with_kid("a"), now_s()));
    EXPECT_EQ(id.user, "alice");
}

TEST_F(JwksFile, PicksUpARewrittenFileOnAnUnknownKid) {
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));

    write_file(file, jwks_with_kid("b"));
    const std::string token = token_with_kid("b");
    EXPECT_CODE(verifier->verify(token, now_s()), ErrorCode::kAuthUnknownKey);
    ASSERT_TRUE(wait_until([&] { return has_kid(*verifier, "b"); }, kDeadline)) << rec.all();
    EXPECT_OK(verifier->verify(token, now_s()));
    EXPECT_FALSE(has_kid(*verifier, "a"));  // gone from the file: gone from the set
    EXPECT_TRUE(wait_until([&] { return rec.updates.load() == 1; }, kDeadline));
    EXPECT_EQ(rec.count("kid 'b', which is not in the key set"), 1u) << rec.all();
}

TEST_F(JwksFile, RefreshesOnItsInterval) {
    o.refresh_interval = 1s;
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));
    write_file(file, jwks_with_kid("b"));
    EXPECT_TRUE(wait_until([&] { return has_kid(*verifier, "b"); }, kDeadline));
}

TEST_F(JwksFile, AFailedLoadKeepsTheKeys) {
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));

    write_file(file, "{not json");
    EXPECT_CODE(verifier->verify(token_with_kid("b"), now_s()), ErrorCode::kAuthUnknownKey);
    ASSERT_TRUE(wait_until([&] { return rec.count("E JWKS") == 1; }, kDeadline)) << rec.all();
    EXPECT_EQ(rec.count("keeping the keys there are (1), next try in 1 s"), 1u) << rec.all();
    EXPECT_EQ(verifier->jwks_kids(), std::vector<std::string>{"a"});
    EXPECT_OK(verifier->verify(token_with_kid("a"), now_s()));
    EXPECT_EQ(rec.updates.load(), 0);
}

TEST(JwksFetcher, LoadsFromAUrlAndRefetchesOnceWithinTheInterval) {
    TempDir dir("jwks");
    write_file(dir.sub("jwks.json"), jwks_with_kid("a"));
    StaticServer server;
    ASSERT_TRUE(server.start(dir.path(), dir.sub("server.log")));
    auto verifier = verifier_without_keys();
    ASSERT_TRUE(verifier);
    JwksFetcherOptions o;
    o.source = server.url("/jwks.json");
    o.unknown_key_interval = std::chrono::hours(1);
    Recorder rec;
    rec.install(o);
    {
        ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));
        EXPECT_EQ(verifier->jwks_kids(), std::vector<std::string>{"a"});
        EXPECT_EQ(server.gets("/jwks.json"), 1u);

        EXPECT_CODE(verifier->verify(token_with_kid("x"), now_s()), ErrorCode::kAuthUnknownKey);
        ASSERT_TRUE(wait_until([&] { return fetcher->loads() == 2; }, kDeadline));
        ASSERT_TRUE(wait_until([&] { return server.gets("/jwks.json") == 2; }, kDeadline));
        // Within the interval: the listener asks for nothing (it decides before verify returns).
        EXPECT_CODE(verifier->verify(token_with_kid("y"), now_s()), ErrorCode::kAuthUnknownKey);
        EXPECT_EQ(rec.count("kid 'x'"), 1u) << rec.all();
        EXPECT_EQ(rec.count("kid 'y'"), 0u) << rec.all();
    }
    // The fetcher has stopped: nothing was pending.
    EXPECT_EQ(server.gets("/jwks.json"), 2u);
    EXPECT_EQ(rec.updates.load(), 0);  // the same document came back
    // A listener that outlives its fetcher does nothing.
    EXPECT_CODE(verifier->verify(token_with_kid("z"), now_s()), ErrorCode::kAuthUnknownKey);
    EXPECT_EQ(rec.count("kid 'z'"), 0u) << rec.all();
}

TEST(JwksFetcher, RetriesAUrlThatIsDownAtStart) {
    TempDir dir("jwks");
    write_file(dir.sub("jwks.json"), jwks_with_kid("a"));
    uint16_t port = 0;
    {
        LoopbackListener free_port;
        port = free_port.port();
    }
    ASSERT_NE(port, 0);
    auto verifier = verifier_without_keys();
    ASSERT_TRUE(verifier);
    JwksFetcherOptions o;
    o.source = "http://127.0.0.1:" + std::to_string(port) + "/jwks.json";
    Recorder rec;
    rec.install(o);
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));
    EXPECT_TRUE(verifier->jwks_kids().empty());
    EXPECT_EQ(rec.count("next try in 1 s"), 1u) << rec.all();
    EXPECT_CODE(verifier->verify(token_with_kid("a"), now_s()), ErrorCode::kAuthUnknownKey);

    StaticServer server;
    ASSERT_TRUE(server.start(dir.path(), dir.sub("server.log"), port));
    ASSERT_TRUE(wait_until([&] { return has_kid(*verifier, "a"); }, kDeadline)) << rec.all();
    EXPECT_OK(verifier->verify(token_with_kid("a"), now_s()));
    EXPECT_TRUE(wait_until([&] { return rec.updates.load() == 1; }, kDeadline));
    EXPECT_GE(fetcher->loads(), 2u);
}

// A socket bound to 127.0.0.1:PORT that accepts connections and never writes.
class SilentServer {
  public:
    explicit SilentServer(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::listen(fd_, 4) == 0;
    }
    ~SilentServer() {
        if (peer_ >= 0) ::close(peer_);
        if (fd_ >= 0) ::close(fd_);
    }
    SilentServer(const SilentServer&) = delete;
    SilentServer& operator=(const SilentServer&) = delete;

    bool ok() const { return ok_; }
    // Waits (up to TIMEOUT) for a peer to connect; true when one did.
    bool accept(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
        peer_ = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        return peer_ >= 0;
    }

  private:
    int fd_ = -1;
    int peer_ = -1;
    bool ok_ = false;
};

TEST(JwksFetcher, StopsWhileARequestWaitsOnASilentServer) {
    uint16_t port = 0;
    {
        LoopbackListener free_port;
        port = free_port.port();
    }
    ASSERT_NE(port, 0);
    auto verifier = verifier_without_keys();
    ASSERT_TRUE(verifier);
    JwksFetcherOptions o;
    o.source = "http://127.0.0.1:" + std::to_string(port) + "/jwks.json";
    o.timeout = std::chrono::hours(1);
    // Refused at start (nothing listens yet); the retry a second later meets the silent server.
    ASSERT_OK_AND_ASSIGN(auto fetcher, JwksFetcher::start(verifier, o));
    SilentServer silent(port);
    ASSERT_TRUE(silent.ok());
    ASSERT_TRUE(silent.accept(kDeadline));
    auto stopped = std::async(std::launch::async, [&] { fetcher.reset(); });
    EXPECT_EQ(stopped.wait_for(kDeadline), std::future_status::ready);
}

TEST(JwksFetcher, RefusesBadSources) {
    TempDir dir("jwks");
    write_file(dir.sub("bad.json"), R"({"keys": 5})");
    auto verifier = verifier_without_keys();
    ASSERT_TRUE(verifier);
    for (const std::string& source :
         {std::string("http://example.com/jwks.json"), std::string("http://10.0.0.1/jwks.json"),
          std::string("ftp://127.0.0.1/jwks.json"), std::string("https://"), std::string(""),
          dir.sub("missing.json"), dir.sub("bad.json"), dir.path()}) {
        SCOPED_TRACE(source);
        JwksFetcherOptions o;
        o.source = source;
        EXPECT_CODE(JwksFetcher::start(verifier, o), ErrorCode::kInvalidArgument);
    }
    EXPECT_TRUE(verifier->jwks_kids().empty());
}

}  // namespace
}  // namespace outpost::sync::auth
