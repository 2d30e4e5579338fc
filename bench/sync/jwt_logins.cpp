// bench-sync's jwt_logins phase: RS256 logins against the in-process server (main.cpp's usage).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "bench_common.hpp"

namespace outpost::bench {
namespace {

// ---- JWT logins --------------------------------------------------------------------------------

// A new 2048-bit RSA private key, PEM.
std::string new_rsa_key_pem() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!key || !bio ||
        PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        fail("jwt_logins", "making an RSA key failed");
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

// Login slots that finished (the connection closed), for the driving thread to refill.
struct LoginTally {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<size_t> finished;
    size_t logged_in = 0;
    std::string failure;  // the first login that did not succeed
};

// One login: connects, sends LOGIN, closes at the LoginResult; tells TALLY when closed.
class LoginClient {
  public:
    LoginClient(const std::string& url, std::shared_ptr<net::EventLoop> loop, LoginTally& tally,
                size_t slot, const std::string* login)
        : tally_(tally), slot_(slot), login_(login) {
        net::WsClientOptions options;
        options.url = url;
        options.connect_timeout = 60s;
        ws_ = std::make_unique<net::WsClient>(std::move(options), std::move(loop));
        ws_->set_on_open([this] {
            ws_->send(std::span(reinterpret_cast<const uint8_t*>(login_->data()), login_->size()));
        });
        ws_->set_on_message([this](std::span<const uint8_t> frame) { on_message(frame); });
        // Notified under the lock: the driving thread destroys this client once it sees the slot,
        // so nothing here may touch the client after the lock is released.
        ws_->set_on_close([this](uint16_t code, const std::string& reason) {
            std::lock_guard lock(tally_.mu);
            if (!ok_ && tally_.failure.empty()) {
                tally_.failure =
                    "closed before the LoginResult: " + std::to_string(code) + " " + reason;
            }
            tally_.finished.push_back(slot_);
            tally_.cv.notify_all();
        });
        ws_->connect();
    }

  private:
    void on_message(std::span<const uint8_t> frame) {
        auto msg = sync::decode_message(frame);
        auto* r = msg ? std::get_if<sync::LoginResult>(&*msg) : nullptr;
        if (r == nullptr) return;  // the full sync that follows
        {
            std::lock_guard lock(tally_.mu);
            if (r->code == ErrorCode::kOk) {
                ok_ = true;
                ++tally_.logged_in;
            } else if (tally_.failure.empty()) {
                tally_.failure = "login refused: " + r->message;
            }
        }
        ws_->close();
    }

    LoginTally& tally_;
    const size_t slot_;
    const std::string* login_;
    bool ok_ = false;  // on the loop's thread, and read there (on_close)
    std::unique_ptr<net::WsClient> ws_;
};

// Logs every frame of LOGINS in, PARALLEL connections at a time (a finished one is replaced);
// logins per second.
double login_round(const std::string& url, const std::vector<std::string>& logins,
                   size_t parallel) {
    const size_t n = logins.size();
    LoginTally tally;
    auto loop = std::make_shared<net::EventLoop>(1);
    std::vector<std::unique_ptr<LoginClient>> slots(std::min(parallel, n));
    size_t started = 0;
    auto t = Clock::now();
    for (size_t i = 0; i < slots.size(); ++i, ++started) {
        slots[i] = std::make_unique<LoginClient>(url, loop, tally, i, &logins[started]);
    }
    for (size_t closed = 0; closed < n; ++closed) {
        size_t slot = 0;
        {
            std::unique_lock lock(tally.mu);
            if (!tally.cv.wait_for(lock, 120s, [&] { return !tally.finished.empty(); }))
                fail("jwt_logins", "no login finished within 120 s");
            if (!tally.failure.empty()) fail("jwt_logins", tally.failure);
            slot = tally.finished.front();
            tally.finished.pop_front();
        }
        slots[slot].reset();
        if (started < n) {
            slots[slot] = std::make_unique<LoginClient>(url, loop, tally, slot, &logins[started++]);
        }
    }
    const double secs = seconds_since(t);
    progress("jwt_logins: %zu logins in %.2f s", tally.logged_in, secs);
    slots.clear();
    loop.reset();
    return static_cast<double>(tally.logged_in) / secs;
}

}  // namespace

void run_jwt_logins(const Model& model, size_t n, size_t parallel, Report& report) {
    constexpr size_t kUsers = 1000;
    progress("jwt_logins: %zu RS256 logins, %zu at a time, each a fresh client id (%zu users)", n,
             parallel, kUsers);
    const std::string key = new_rsa_key_pem();
    sync::auth::JwtOptions jwt;
    jwt.jwks = take(sync::auth::public_jwks(key, "bench"), "the JWKS");
    jwt.audiences = {"outpost"};
    jwt.issuer = "https://id.bench.test/";
    auto verifier = take(sync::auth::TokenVerifier::create(jwt), "the token verifier");
    std::vector<std::string> logins;  // minted and encoded before the clock starts
    {
        std::vector<std::string> tokens;
        for (size_t u = 0; u < std::min(n, kUsers); ++u) {
            sync::auth::MintOptions m;
            m.private_key_pem = key;
            m.kid = "bench";
            m.subject = "user" + std::to_string(u);
            m.issuer = jwt.issuer;
            m.audiences = jwt.audiences;
            tokens.push_back(take(sync::auth::mint_token(m), "minting a token"));
        }
        std::mt19937_64 rng(11);
        for (size_t i = 0; i < n; ++i)
            logins.push_back(login_frame(model, rng, tokens[i % kUsers]));
    }
    Server server(fresh_dir("jwt-logins-server"), model, [&](sync::ServerOptions& o) {
        o.allow_unauthenticated = false;
        o.verify_token = [verifier](std::string_view token, int64_t now_s) {
            return verifier->verify(token, now_s);
        };
    });

    // Round 1: every login a client id the server has not seen (its bindings are written); round
    // 2: the same ids again (returning clients: nothing to write).
    const double fresh = login_round(server.url, logins, parallel);
    report.print("jwt_logins_per_s", fresh, "logins/s");
    const double returning = login_round(server.url, logins, parallel);
    report.print("jwt_returning_logins_per_s", returning, "logins/s");
    progress("jwt_logins: %zu durable commits of bindings for %zu new client ids",
             static_cast<size_t>(server.server->stats().login_commits), n);
}

}  // namespace outpost::bench
