#include "sync/auth/jwks_fetcher.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.hpp"
#include "net/http_get.hpp"
#include "net/url.hpp"

namespace outpost::sync::auth {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t kMaxJwksBytes = size_t{1} << 20;
constexpr std::chrono::seconds kFirstRetry{1};
constexpr std::chrono::seconds kLastRetry{60};

Status invalid(std::string why) { return Status(ErrorCode::kInvalidArgument, std::move(why)); }

// What the fetcher's thread waits on; shared with the verifier's unknown-key listener, which may
// outlive the fetcher (it then finds `stop` set and does nothing).
struct Signal {
    Mutex mutex;
    CondVar cv;
    bool stop OUTPOST_GUARDED_BY(mutex) = false;
    bool wanted OUTPOST_GUARDED_BY(mutex) = false;  // an unknown kid asked for a load
    std::optional<Clock::time_point> last_wanted OUTPOST_GUARDED_BY(mutex);
    std::atomic<bool> cancel{false};  // ends a request in flight when the fetcher stops

    // An unknown kid: asks for a load unless one was asked for less than INTERVAL ago.
    // True when this call asked.
    bool want(std::chrono::seconds interval) OUTPOST_EXCLUDES(mutex) {
        {
            MutexLock lock(mutex);
            const auto now = Clock::now();
            if (stop || wanted || (last_wanted && now - *last_wanted < interval)) return false;
            wanted = true;
            last_wanted = now;
        }
        cv.notify_all();
        return true;
    }
};

std::string join_kids(const std::vector<std::string>& kids) {
    std::string out;
    for (const auto& kid : kids) out += (out.empty() ? "" : ", ") + kid;
    return out;
}

// A kid from a token, fit for a log line: printable ASCII, at most 64 characters.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 64)) out += c >= 0x20 && c < 0x7f ? c : '?';
    if (text.size() > 64) out += "...";
    return out;
}

Result<std::string> read_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) return invalid("cannot read " + path);
    std::string text;
    char buf[65536];
    for (;;) {
        const size_t n = std::fread(buf, 1, sizeof buf, f.get());
        text.append(buf, n);
        if (text.size() > kMaxJwksBytes) return invalid(path + " is larger than 1 MiB");
        if (n < sizeof buf) break;
    }
    if (std::ferror(f.get())) return invalid("cannot read " + path);
    return text;
}

}  // namespace

struct JwksFetcher::Impl {
    std::shared_ptr<TokenVerifier> verifier;
    JwksFetcherOptions options;
    bool is_url = false;
    std::shared_ptr<Signal> signal = std::make_shared<Signal>();
    std::atomic<uint64_t> loads{0};
    std::string last_text;  // the document of the key set in use; start(), then the thread only
    std::thread thread;

    void log(bool error, const std::string& line) const {
        if (options.log) options.log(error, "JWKS " + options.source + ": " + line);
    }

    Result<std::string> read() const {
        if (!is_url) return read_file(options.source);
        net::HttpGetOptions get;
        get.url = options.source;
        get.ca_file = options.ca_file;
        get.timeout = options.timeout;
        get.max_body_bytes = kMaxJwksBytes;
        get.cancel = &signal->cancel;
        OUTPOST_ASSIGN_OR_RETURN(net::HttpResponse response, net::http_get(get));
        return std::move(response.body);
    }

    // Reads the source and hands a new document to the verifier. *CHANGED: whether the key set
    // was replaced (an unchanged document is not). On an error the verifier keeps its keys.
    Status load(bool* changed) {
        *changed = false;
        loads.fetch_add(1);
        OUTPOST_ASSIGN_OR_RETURN(std::string text, read());
        if (text == last_text) return Status::ok();
        std::vector<std::string> warnings;
        OUTPOST_RETURN_IF_ERROR(verifier->set_jwks(text, &warnings));
        last_text = std::move(text);
        *changed = true;
        const std::vector<std::string> kids = verifier->jwks_kids();
        log(false, std::to_string(kids.size()) + (kids.size() == 1 ? " key" : " keys") +
                       (kids.empty() ? "" : " (kid " + join_kids(kids) + ")"));
        for (const auto& w : warnings) log(false, w);
        return Status::ok();
    }

    // The thread: a load when DUE passes (refresh or retry) or when an unknown kid asks for one.
    void run(Clock::time_point due, std::chrono::seconds retry) {
        for (;;) {
            {
                MutexLock lock(signal->mutex);
                while (!signal->stop && !signal->wanted && Clock::now() < due) {
                    (void)signal->cv.wait_for(signal->mutex, due - Clock::now(), [&] {
                        signal->mutex.assert_held();
                        return signal->stop || signal->wanted;
                    });
                }
                if (signal->stop) return;
                signal->wanted = false;
            }
            bool changed = false;
            const Status st = load(&changed);
            if (st.is_ok()) {
                retry = kFirstRetry;
                due = Clock::now() + options.refresh_interval;
                if (changed && options.on_keys_updated) options.on_keys_updated();
                continue;
            }
            if (signal->cancel.load()) return;
            log(true, st.message() + "; keeping the keys there are (" +
                          std::to_string(verifier->jwks_kids().size()) + "), next try in " +
                          std::to_string(retry.count()) + " s");
            due = Clock::now() + retry;
            retry = std::min(retry * 2, kLastRetry);
        }
    }
};

JwksFetcher::JwksFetcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JwksFetcher::~JwksFetcher() {
    {
        MutexLock lock(impl_->signal->mutex);
        impl_->signal->stop = true;
    }
    impl_->signal->cancel.store(true);
    impl_->signal->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
}

uint64_t JwksFetcher::loads() const { return impl_->loads.load(); }

Result<std::unique_ptr<JwksFetcher>> JwksFetcher::start(std::shared_ptr<TokenVerifier> verifier,
                                                        JwksFetcherOptions options) {
    if (!verifier) return invalid("JWKS: no token verifier");
    if (options.source.empty()) return invalid("JWKS: no source (a file or an http(s) URL)");
    auto impl = std::make_unique<Impl>();
    const std::string& source = options.source;
    if (source.starts_with("http://") || source.starts_with("https://")) {
        auto url = net::detail::parse_http_url(source);
        if (!url)
            return invalid("JWKS: '" + source + "' is not an http(s)://HOST[:PORT][/PATH] URL");
        if (!url->tls && !net::detail::is_loopback_host(url->host)) {
            return invalid("JWKS: '" + source +
                           "': http:// is only for loopback hosts (127.0.0.1, ::1, localhost); "
                           "use https://");
        }
        impl->is_url = true;
    } else if (source.find("://") != std::string::npos) {
        return invalid("JWKS: '" + source + "' is neither a file nor an http(s) URL");
    }
    impl->verifier = std::move(verifier);
    impl->options = std::move(options);

    bool changed = false;
    auto due = Clock::now() + impl->options.refresh_interval;
    const Status first = impl->load(&changed);
    if (!first.is_ok()) {
        // A file must be right at start; a URL may come up later.
        if (!impl->is_url) return invalid("JWKS: " + first.message());
        impl->log(true, first.message() +
                            "; logins with its keys fail until it loads, next try in " +
                            std::to_string(kFirstRetry.count()) + " s");
        due = Clock::now() + kFirstRetry;
    }
    const std::chrono::seconds retry = first.is_ok() ? kFirstRetry : kFirstRetry * 2;
    impl->verifier->on_unknown_key(
        [signal = impl->signal, interval = impl->options.unknown_key_interval,
         log = impl->options.log, source = impl->options.source](const std::string& kid) {
            if (signal->want(interval) && log) {
                log(false, "JWKS " + source + ": a token names kid '" + printable(kid) +
                               "', which is not in the key set: loading it again");
            }
        });
    Impl* raw = impl.get();
    impl->thread = std::thread([raw, due, retry] { raw->run(due, retry); });
    return std::unique_ptr<JwksFetcher>(new JwksFetcher(std::move(impl)));
}

}  // namespace outpost::sync::auth
