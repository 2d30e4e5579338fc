#include "sync/server_core.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <optional>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "sync/server_core_internal.hpp"
#include "sync/unique_values.hpp"

namespace outpost::sync {

namespace detail {

ChangeSet KnownModel::filter(const ChangeSet& changes) const {
    if (knows_all) return changes;
    ChangeSet out;
    for (const auto& c : changes.objects) {
        auto it = entities.find(c.entity_uid);
        if (it == entities.end()) continue;
        if (c.kind == ObjectChange::kRemove) {
            out.objects.push_back(c);
            continue;
        }
        ObjectChange f;
        f.kind = c.kind;
        f.entity_uid = c.entity_uid;
        f.gid = c.gid;
        f.is_new = c.is_new;
        for (const auto& p : c.properties) {
            if (it->second.properties.count(p.property_uid)) f.properties.push_back(p);
        }
        for (const auto& t : c.to_many) {
            if (it->second.relations.count(t.relation_uid)) f.to_many.push_back(t);
        }
        if (f.is_new || !f.properties.empty() || !f.to_many.empty())
            out.objects.push_back(std::move(f));
    }
    return out;
}

}  // namespace detail
namespace server_internal {

// A rough size of a value in a change set, to close full-sync chunks near their byte bound.
// Strings, bytes and flex values count with their contents: they are what makes objects large.
size_t approx_flex_size(const Flex& f);
struct ApproxFlexSize {
    size_t operator()(const std::string& s) const { return s.size() + 2; }
    size_t operator()(const Bytes& b) const { return b.size() + 2; }
    size_t operator()(const Flex::Array& a) const {
        size_t n = 2;
        for (const auto& x : a) n += approx_flex_size(x);
        return n;
    }
    size_t operator()(const Flex::Map& m) const {
        size_t n = 2;
        for (const auto& [k, x] : m) n += k.size() + 2 + approx_flex_size(x);
        return n;
    }
    size_t operator()(const auto&) const { return 9; }
};
size_t approx_flex_size(const Flex& f) { return std::visit(ApproxFlexSize{}, f.v); }

struct ApproxSize {
    size_t operator()(const std::string& s) const { return s.size() + 2; }
    size_t operator()(const Bytes& b) const { return b.size() + 2; }
    size_t operator()(const Value::IntVector& x) const { return x.size() * 5 + 2; }
    size_t operator()(const Value::DoubleVector& x) const { return x.size() * 8 + 2; }
    size_t operator()(const Value::StringVector& x) const {
        size_t n = 2;
        for (const auto& s : x) n += s.size() + 2;
        return n;
    }
    size_t operator()(const Flex& f) const { return approx_flex_size(f) + 2; }
    size_t operator()(const auto&) const { return 9; }
};
size_t approx_size(const Value& v) { return std::visit(ApproxSize{}, v.v); }

// A history record's tag (Apply.tag): a 64-bit hash of its position, origin and encoded changes,
// never 0. Fixed here (not std::hash), so it stays the same across builds and restarts.
uint64_t record_tag(const ChangeLogRecord& rec, std::string_view encoded) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ rec.position;
    auto mix = [&h](std::string_view bytes) {  // 8 bytes a step (little-endian words)
        size_t i = 0;
        for (; i + 8 <= bytes.size(); i += 8) {
            uint64_t w = 0;
            for (int k = 0; k < 8; ++k)
                w |= uint64_t{static_cast<unsigned char>(bytes[i + k])} << (8 * k);
            h = (h ^ w) * 0x100000001b3ull;
            h ^= h >> 31;
        }
        for (; i < bytes.size(); ++i)
            h = (h ^ static_cast<unsigned char>(bytes[i])) * 0x100000001b3ull;
        h ^= bytes.size();
        h ^= h >> 29;
    };
    mix(rec.origin);
    mix(encoded);
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h == 0 ? 1 : h;
}

size_t approx_size(const ChangeSet& changes) {
    size_t n = 0;
    for (const auto& c : changes.objects) {
        n += c.gid.size() + 16;
        for (const auto& p : c.properties) n += approx_size(p.value) + 4;
        for (const auto& t : c.to_many) {
            for (const auto& g : t.targets) n += g.size() + 1;
        }
    }
    return n;
}

}  // namespace server_internal

namespace {

using namespace server_internal;

std::string client_txn_key(const std::string& client_hex) {
    return "sync.client_txn." + client_hex;
}

// The corrections of a client's pushes whose Acks it may not have seen (meta value: entries of an
// 8-byte client_txn, a 4-byte length and that many bytes of an encoded change set, little-endian).
// An entry goes once a Login's next_client_txn is past it: the client saw that Ack.
std::string corrections_key(const std::string& client_hex) {
    return "sync.corrections." + client_hex;
}

struct StoredCorrection {
    uint64_t client_txn = 0;
    std::string encoded;
};

std::vector<StoredCorrection> decode_corrections(std::string_view bytes) {
    std::vector<StoredCorrection> out;
    auto u = [&](size_t at, size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
        return v;
    };
    size_t at = 0;
    while (bytes.size() - at >= 12) {
        const uint64_t txn = u(at, 8);
        const uint64_t len = u(at + 8, 4);
        if (len > bytes.size() - at - 12) break;  // damaged: what follows is unreadable
        out.push_back({txn, std::string(bytes.substr(at + 12, len))});
        at += 12 + len;
    }
    return out;
}

std::string encode_corrections(const std::vector<StoredCorrection>& entries) {
    std::string out;
    auto put = [&](uint64_t v, size_t n) {
        for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
    };
    for (const auto& e : entries) {
        put(e.client_txn, 8);
        put(e.encoded.size(), 4);
        out += e.encoded;
    }
    return out;
}

// The SHA-256 of the key a client id is bound to (Login.client_key).
std::string client_key_key(const std::string& client_hex) {
    return "sync.client_key." + client_hex;
}

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view bytes) {
    Digest out{};
    unsigned int size = 0;
    // Cannot fail for SHA-256 on memory (a failure would leave the digest zero: then every
    // comparison below fails rather than passes).
    (void)EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, EVP_sha256(), nullptr);
    return out;
}

// Compares secrets without telling their contents or lengths through the time it takes: both sides
// are hashed to the same size first, then compared in constant time.
bool constant_time_equal(std::string_view a, std::string_view b) {
    const Digest da = sha256(a), db = sha256(b);
    return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::string_view as_chars(std::span<const unsigned char> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Remote addresses whose failed logins are counted, at most (beyond it, those whose window and
// block are over are forgotten).
constexpr size_t kMaxTrackedAddresses = 4096;

// `1.2.3.4:5678` -> `1.2.3.4`, `[::1]:5678` -> `[::1]`: one peer reconnecting gets a new port.
std::string remote_host(const std::string& address) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || (address.front() == '[' && address[colon - 1] != ']')) {
        return address;
    }
    return address.substr(0, colon);
}

}  // namespace

Result<std::unique_ptr<ServerCore>> ServerCore::create(std::shared_ptr<Store> store,
                                                       ServerOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "sync server: no store");
    if (options.shared_secret.empty() && !options.allow_unauthenticated) {
        return Status(ErrorCode::kInvalidArgument,
                      "sync server: no auth method; set a shared secret, or allow unauthenticated "
                      "clients explicitly");
    }
    std::unique_ptr<ServerCore> core(new ServerCore(std::move(store), std::move(options)));
    auto txn = core->store_->begin_read();
    if (!txn) return txn.status();
    OUTPOST_ASSIGN_OR_RETURN(core->fanned_seq_, ChangeLog::last_position(*txn));
    if (core->options_.history_max_bytes != 0) {
        // The sizes of the records kept so far, for the byte bound (one pass at start).
        uint64_t after = 0;
        for (;;) {
            OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(*txn, after, kCatchUpBatch));
            if (recs.empty()) break;
            for (const auto& rec : recs) {
                core->note_history(rec.position, rec.bytes);
                after = rec.position;
            }
        }
        txn->close();
        core->trim_history();
    }
    return core;
}

ServerCore::ServerCore(std::shared_ptr<Store> store, ServerOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
    for (const auto& e : store_->model().entities) {
        if (std::any_of(e.properties.begin(), e.properties.end(), is_unique)) {
            entities_with_unique_.insert(e.id.uid);
        }
    }
}

ServerCore::~ServerCore() = default;

ServerCore::SessionId ServerCore::on_connect(std::shared_ptr<Connection> connection,
                                             std::string remote_address) {
    auto s = std::make_unique<Session>();
    s->id = next_session_++;
    s->connection = std::move(connection);
    s->remote = std::move(remote_address);
    SessionId id = s->id;
    sessions_.emplace(id, std::move(s));
    ++stats_.sessions;
    return id;
}

void ServerCore::on_login_deadline(SessionId session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second->logged_in || it->second->closed) return;
    ++stats_.login_timeouts;
    fail(*it->second, ErrorCode::kSyncProtocolViolation,
         "no Login within " + std::to_string(options_.login_timeout.count()) + " ms" +
             (it->second->remote.empty() ? "" : " (from " + it->second->remote + ")"));
}

std::chrono::steady_clock::time_point ServerCore::now() const {
    return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

bool ServerCore::login_throttled(const Session& s) {
    if (options_.max_failed_logins == 0 || s.remote.empty()) return false;
    auto it = login_failures_.find(remote_host(s.remote));
    return it != login_failures_.end() && now() < it->second.blocked_until;
}

void ServerCore::note_failed_login(const Session& s) {
    if (options_.max_failed_logins == 0 || s.remote.empty()) return;
    const auto t = now();
    if (login_failures_.size() >= kMaxTrackedAddresses) {
        // Addresses whose window and block are over tell nothing any more.
        std::erase_if(login_failures_, [&](const auto& entry) {
            return t >= entry.second.blocked_until &&
                   t - entry.second.window_start > options_.failed_login_window;
        });
    }
    const std::string host = remote_host(s.remote);
    LoginFailures& f = login_failures_[host];
    if (f.count == 0 || t - f.window_start > options_.failed_login_window) {
        f.window_start = t;
        f.count = 0;
    }
    if (++f.count < options_.max_failed_logins) return;
    f.blocked_until = t + options_.failed_login_block;
    f.count = 0;
    auto seconds = [](std::chrono::milliseconds ms) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(ms).count()) + " s";
    };
    log(LogLevel::kWarn, "address " + host + ": " + std::to_string(options_.max_failed_logins) +
                             " failed logins within " + seconds(options_.failed_login_window) +
                             ": its logins are refused for " +
                             seconds(options_.failed_login_block));
}

void ServerCore::on_disconnect(SessionId session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    if (it->second->logged_in) --stats_.logged_in;
    if (it->second->full_sync)
        full_sync_snapshots_.erase(full_sync_snapshots_.find(it->second->full_sync->snapshot));
    sessions_.erase(it);
}

void ServerCore::send(Session& s, std::string frame) {
    if (s.closed) return;
    if (options_.max_send_queue_bytes != 0 &&
        s.connection->queued_bytes() + frame.size() > options_.max_send_queue_bytes) {
        // A slow client never slows the others: it is dropped and catches up from history later.
        s.closed = true;
        s.connection->close(ErrorCode::kSyncTooFarBehind, "send queue above its bound");
        return;
    }
    s.connection->send(std::move(frame));
}

void ServerCore::fail(Session& s, ErrorCode code, const std::string& reason) {
    if (s.closed) return;
    ++stats_.protocol_errors;
    log(LogLevel::kWarn, "session " + std::to_string(s.id) +
                             (s.client.empty() ? "" : " (client " + s.client + ")") + ": error (" +
                             std::to_string(static_cast<int>(code)) + "), closing: " + reason);
    s.connection->send(encode_message(Error{code, reason}));
    s.closed = true;
    s.connection->close(code, reason);
}

void ServerCore::log(LogLevel level, const std::string& text) const {
    if (options_.log) options_.log(level, text);
}

void ServerCore::on_message(SessionId session, std::span<const uint8_t> frame) {
    const Incoming one{session, frame};
    on_messages(std::span(&one, 1));
}

void ServerCore::on_messages(std::span<const Incoming> frames) {
    auto decode = [&](const Incoming& in) -> Result<Message> {
        if (in.decoded) return std::move(*in.decoded);
        return decode_message(in.frame, options_.max_message_size);
    };
    size_t i = 0;
    while (i < frames.size()) {
        const SessionId id = frames[i].session;
        auto decoded = decode(frames[i]);
        ++i;
        auto it = sessions_.find(id);
        if (it == sessions_.end() || it->second->closed) continue;
        Session& s = *it->second;
        if (!decoded) {
            fail(s, decoded.status().code(), decoded.status().message());
            continue;
        }
        if (!s.logged_in || !std::holds_alternative<Push>(*decoded)) {
            dispatch(s, std::move(decoded).value());
            continue;
        }
        // A run of Pushes from this session, up to the first frame that is not one.
        std::vector<Push> run;
        auto add = [&](Push&& p) {
            if (!whole_push(s, p)) return;
            if (s.full_sync) {
                hold(s, std::move(p));
            } else {
                run.push_back(std::move(p));
            }
        };
        add(std::move(std::get<Push>(*decoded)));
        std::optional<Result<Message>> after;  // the frame that ended the run, decoded
        while (i < frames.size() && frames[i].session == id && run.size() < kMaxPushesPerCommit &&
               !s.closed) {
            auto next = decode(frames[i]);
            ++i;
            if (next && std::holds_alternative<Push>(*next)) {
                add(std::move(std::get<Push>(*next)));
            } else {
                after = std::move(next);
                break;
            }
        }
        if (s.closed) continue;
        if (!run.empty()) handle_pushes(s, run);
        if (after && !s.closed) {
            if (!*after) {
                fail(s, after->status().code(), after->status().message());
            } else {
                dispatch(s, std::move(*after).value());
            }
        }
    }
}

void ServerCore::hold(Session& s, Push p) {
    // A client has at most ClientOptions::max_in_flight pushes unacknowledged (16 by default).
    if (s.held.size() >= kMaxHeldPushes) {
        fail(s, ErrorCode::kSyncProtocolViolation,
             "more than " + std::to_string(kMaxHeldPushes) + " pushes during a full sync");
        return;
    }
    s.held.push_back(std::move(p));
}

bool ServerCore::whole_push(Session& s, Push& p) {
    if (s.partial && s.partial->client_txn != p.client_txn) {
        fail(s, ErrorCode::kSyncProtocolViolation,
             "push " + std::to_string(p.client_txn) + " before the last part of push " +
                 std::to_string(s.partial->client_txn));
        return false;
    }
    if (!p.more && !s.partial) return true;
    s.partial_bytes += approx_size(p.changes);
    if (s.partial_bytes > options_.max_transaction_bytes) {
        fail(s, ErrorCode::kSyncMessageTooLarge,
             "push " + std::to_string(p.client_txn) + ": the transaction's parts hold more than " +
                 std::to_string(options_.max_transaction_bytes) + " bytes");
        return false;
    }
    if (!s.partial) {
        s.partial = std::move(p);
        return false;
    }
    auto& into = s.partial->changes.objects;
    into.insert(into.end(), std::make_move_iterator(p.changes.objects.begin()),
                std::make_move_iterator(p.changes.objects.end()));
    if (p.more) return false;
    p = std::move(*s.partial);
    p.more = false;
    s.partial.reset();
    s.partial_bytes = 0;
    return true;
}

void ServerCore::dispatch(Session& s, Message msg) {
    if (auto* login = std::get_if<Login>(&msg)) {
        if (s.logged_in) {
            fail(s, ErrorCode::kSyncProtocolViolation, "a second Login on one connection");
            return;
        }
        handle_login(s, std::move(*login));
        return;
    }
    if (std::holds_alternative<Heartbeat>(msg)) {
        send(s, encode_message(Heartbeat{}));
        return;
    }
    if (!s.logged_in) {
        fail(s, ErrorCode::kSyncProtocolViolation,
             std::string(message_name(msg)) + " before Login");
        return;
    }
    if (auto* push = std::get_if<Push>(&msg)) {
        if (!whole_push(s, *push)) return;
        if (s.full_sync) {
            hold(s, std::move(*push));
        } else {
            handle_pushes(s, std::span(push, 1));
        }
    } else if (auto* ack = std::get_if<ApplyAck>(&msg)) {
        s.acked_seq = std::max(s.acked_seq, ack->server_seq);
    } else if (std::holds_alternative<Error>(msg)) {
        // The client reports a problem and goes away; nothing to answer.
    } else {
        fail(s, ErrorCode::kSyncProtocolViolation,
             std::string(message_name(msg)) + " is not a client message");
    }
}

ErrorCode ServerCore::check_model(const Login& login, std::string& why) const {
    const Model& model = store_->model();
    for (const auto& me : login.model) {
        const Entity* e = model.entity_by_uid(me.uid);
        if (!e || !e->sync) {
            why = "entity uid " + std::to_string(me.uid) + " is not synced by this server";
            return ErrorCode::kSyncUnsupportedModel;
        }
        for (const auto& [uid, type] : me.properties) {
            const uint64_t want = uid;  // clang 14 cannot capture structured bindings
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == want; });
            if (p == e->properties.end()) {
                why = e->name + ": property uid " + std::to_string(uid) +
                      " is unknown to this server";
                return ErrorCode::kSyncUnsupportedModel;
            }
            if (p->type != type) {
                why = e->name + "." + p->name + " is " + std::string(property_type_name(p->type)) +
                      " on this server, " + std::string(property_type_name(type)) +
                      " on the client";
                return ErrorCode::kSyncUnsupportedModel;
            }
        }
        for (uint64_t uid : me.relations) {
            auto r = std::find_if(e->relations.begin(), e->relations.end(),
                                  [&](const Relation& x) { return x.id.uid == uid; });
            if (r == e->relations.end()) {
                why = e->name + ": relation uid " + std::to_string(uid) +
                      " is unknown to this server";
                return ErrorCode::kSyncUnsupportedModel;
            }
        }
    }
    return ErrorCode::kOk;
}

Status ServerCore::check_identity(const Login& login, const std::string& client) {
    // With a shared secret (or none) every holder of the secret looks alike, so a client id is
    // bound to the key the client made with it: the key's SHA-256 is kept at the first login that
    // brings one (a new client, or one this server knew before keys existed: trust on first use),
    // and every later login of the id must bring the same key. An auth method that names a user
    // (a JWT's subject) binds the id to that user here instead.
    const std::string key = client_key_key(client);
    const Digest digest = sha256(as_chars(login.client_key));
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto bound, get_meta(txn, key));
    txn.close();
    if (!bound) {
        // Only this thread writes the keys: nothing can bind the id between the read and this.
        Status st = store_->write([&](WriteTxn& w) { return put_meta(w, key, as_chars(digest)); });
        if (!st) return Status(ErrorCode::kSyncServerError, st.to_string());
        log(LogLevel::kDebug, "client " + client + ": bound to the key of its first login");
        return Status::ok();
    }
    if (bound->size() != digest.size() ||
        CRYPTO_memcmp(bound->data(), digest.data(), digest.size()) != 0) {
        return Status(ErrorCode::kAuthCredentialsRejected,
                      "client id " + client + " is bound to another key");
    }
    return Status::ok();
}

void ServerCore::handle_login(Session& s, Login login) {
    auto reject = [&](ErrorCode code, const std::string& why) {
        ++stats_.protocol_errors;
        log(LogLevel::kWarn, "session " + std::to_string(s.id) + ": login rejected (" +
                                 std::to_string(static_cast<int>(code)) + "): " + why);
        s.connection->send(encode_message(LoginResult{code, 0, why, 0, {}}));
        s.closed = true;
        s.connection->close(code, why);
    };
    if (Status st = check_protocol_version(login.protocol_version); !st) {
        reject(st.code(), st.message());
        return;
    }
    if (login_throttled(s)) {
        // Refused without a check (and without a log line each: the limit logged when it began).
        ++stats_.logins_throttled;
        const std::string why = "too many failed logins from this address; try again later";
        s.connection->send(
            encode_message(LoginResult{ErrorCode::kAuthCredentialsRejected, 0, why, 0, {}}));
        s.closed = true;
        s.connection->close(ErrorCode::kAuthCredentialsRejected, why);
        return;
    }
    if (!options_.shared_secret.empty() &&
        !constant_time_equal(login.credentials, options_.shared_secret)) {
        note_failed_login(s);
        reject(ErrorCode::kAuthCredentialsRejected, "credentials rejected");
        return;
    }
    if (login.client_key.size() != ClientKey().size()) {
        fail(s, ErrorCode::kSyncMalformedMessage, "Login: client_key must be 32 bytes");
        return;
    }
    if (login.next_client_txn == 0) {
        fail(s, ErrorCode::kSyncMalformedMessage, "Login: next_client_txn 0");
        return;
    }
    std::string why;
    if (ErrorCode code = check_model(login, why); code != ErrorCode::kOk) {
        reject(code, why);
        return;
    }
    const std::string client = client_id_to_hex(login.client_id);
    // Before anything is done for the client id (below: its older connection goes), the login must
    // show that it is that client's.
    if (Status st = check_identity(login, client); !st) {
        if (st.code() == ErrorCode::kAuthCredentialsRejected) note_failed_login(s);
        reject(st.code(), st.message());
        return;
    }
    // The filter for what this client is sent.
    detail::KnownModel known;
    size_t server_synced = 0;
    bool complete = true;
    for (const auto& e : store_->model().entities) {
        if (!e.sync) continue;
        ++server_synced;
        auto me = std::find_if(login.model.begin(), login.model.end(),
                               [&](const ModelEntity& x) { return x.uid == e.id.uid; });
        if (me == login.model.end()) {
            complete = false;
            continue;
        }
        detail::KnownEntity ke;
        for (const auto& [uid, type] : me->properties) ke.properties.insert(uid);
        for (uint64_t uid : me->relations) ke.relations.insert(uid);
        for (const auto& p : e.properties) {
            if (!p.has(kFlagId) && !ke.properties.count(p.id.uid)) complete = false;
        }
        if (ke.relations.size() != e.relations.size()) complete = false;
        known.entities.emplace(e.id.uid, std::move(ke));
    }
    known.knows_all = complete && known.entities.size() == server_synced;
    s.known = std::move(known);
    s.client = client;
    s.protocol_version = login.protocol_version;
    // One connection per client: an older one (a half-open socket the client gave up on) goes.
    for (auto& [id, other] : sessions_) {
        if (other.get() != &s && other->logged_in && !other->closed && other->client == s.client) {
            other->closed = true;
            other->connection->close(ErrorCode::kOk,
                                     "replaced by a newer connection of this client");
        }
    }

    auto txn = store_->begin_read();
    if (!txn) {
        reject(ErrorCode::kSyncServerError, txn.status().to_string());
        return;
    }
    auto last = ChangeLog::last_position(*txn);
    if (!last) {
        reject(ErrorCode::kSyncServerError, last.status().to_string());
        return;
    }
    uint64_t head = *last;
    bool full = login.last_server_seq == 0 || login.last_server_seq > head;
    if (!full && login.last_server_seq < head) {
        auto first = ChangeLog::read(*txn, login.last_server_seq, 1);
        full = !first || first->empty() || first->front().position != login.last_server_seq + 1;
    }
    if (!full && login.last_server_tag != 0) {
        // The record at the client's position must be the one it applied: a server restored from an
        // older copy of its data may have written another record there since.
        auto tag = tag_at(*txn, login.last_server_seq);
        if (tag && *tag != 0 && *tag != login.last_server_tag) {
            full = true;
            log(LogLevel::kWarn, "session " + std::to_string(s.id) + ": client " + s.client +
                                     ": its position " + std::to_string(login.last_server_seq) +
                                     " names another record here (was this server's data restored "
                                     "from an older copy?): full sync");
        }
    }
    auto applied = get_meta(*txn, client_txn_key(s.client));
    if (!applied) {
        reject(ErrorCode::kSyncServerError, applied.status().to_string());
        return;
    }
    uint64_t last_client_txn = *applied ? std::stoull(**applied) : 0;
    auto stored_corrections = get_meta(*txn, corrections_key(s.client));
    if (!stored_corrections) {
        reject(ErrorCode::kSyncServerError, stored_corrections.status().to_string());
        return;
    }
    txn->close();
    // The client's transactions are numbered without gaps: the next one applied must follow the
    // last one applied here, or be the oldest the client still holds.
    s.next_txn = std::max(last_client_txn + 1, login.next_client_txn);
    s.login_next_txn = login.next_client_txn;
    if (login.next_client_txn > last_client_txn + 1) {
        log(LogLevel::kWarn,
            "session " + std::to_string(s.id) + ": client " + s.client + ": its transactions " +
                std::to_string(last_client_txn + 1) + " to " +
                std::to_string(login.next_client_txn - 1) +
                " were acknowledged but are not here (was this server's data restored from an "
                "older copy, or did the client sync with another server?)");
    }

    // The corrections of pushes whose Acks were lost go with the LoginResult that reports them.
    LoginResult result{ErrorCode::kOk, head, "", last_client_txn, {}};
    if (*stored_corrections) {
        for (const auto& e : decode_corrections(**stored_corrections)) {
            if (e.client_txn < login.next_client_txn || e.client_txn > last_client_txn) continue;
            auto cs = decode_change_set({reinterpret_cast<const uint8_t*>(e.encoded.data()),
                                         e.encoded.size()});
            if (!cs) {
                log(LogLevel::kWarn, "client " + s.client + ": the stored corrections of push " +
                                         std::to_string(e.client_txn) +
                                         " are damaged: " + cs.status().to_string());
                continue;
            }
            auto& into = result.corrections.objects;
            into.insert(into.end(), std::make_move_iterator(cs->objects.begin()),
                        std::make_move_iterator(cs->objects.end()));
        }
    }
    s.connection->send(encode_message(result));
    s.logged_in = true;
    ++stats_.logged_in;
    log(LogLevel::kInfo, "session " + std::to_string(s.id) + ": client " + s.client +
                             " logged in (" +
                             (full ? "full sync"
                              : login.last_server_seq < head
                                  ? "catch-up from " + std::to_string(login.last_server_seq)
                                  : std::string("up to date")) +
                             ", server sequence " + std::to_string(head) + ")");
    Status st;
    if (full) {
        ++stats_.full_syncs;
        st = start_full_sync(s);
    } else if (login.last_server_seq < head) {
        ++stats_.catch_ups;
        st = send_catch_up(s, login.last_server_seq, head);
    }
    if (!st) {
        fail(s, ErrorCode::kSyncServerError, st.to_string());
        return;
    }
    if (!full) s.sent_seq = head;
}

Status ServerCore::keep_corrections(WriteTxn& txn, const Session& s, std::span<const Push> pushes,
                                    const std::vector<char>& applied,
                                    const std::vector<ChangeSet>& corrections) {
    const std::string key = corrections_key(s.client);
    OUTPOST_ASSIGN_OR_RETURN(auto stored, get_meta(txn, key));
    bool any_new = false;
    for (size_t i = 0; i < pushes.size(); ++i) any_new |= applied[i] && !corrections[i].empty();
    if (!stored && !any_new) return Status::ok();  // the usual case: nothing kept, nothing to keep
    std::vector<StoredCorrection> entries;
    if (stored) entries = decode_corrections(*stored);
    const size_t before = entries.size();
    std::erase_if(entries,
                  [&](const StoredCorrection& e) { return e.client_txn < s.login_next_txn; });
    if (!any_new && entries.size() == before) return Status::ok();
    for (size_t i = 0; i < pushes.size(); ++i) {
        if (applied[i] && !corrections[i].empty()) {
            entries.push_back({pushes[i].client_txn, encode_change_set(corrections[i])});
        }
    }
    if (entries.empty()) return remove_meta(txn, key);
    return put_meta(txn, key, encode_corrections(entries));
}

Result<std::vector<char>> ServerCore::apply_pushes(Session& s, std::span<Push> pushes,
                                                   uint64_t& record,
                                                   std::vector<ChangeSet>& corrections) {
    record = 0;
    corrections.assign(pushes.size(), ChangeSet{});
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store_->begin_write());
    const std::string key = client_txn_key(s.client);
    OUTPOST_ASSIGN_OR_RETURN(auto stored, get_meta(txn, key));
    uint64_t last_applied = stored ? std::stoull(*stored) : 0;
    OUTPOST_ASSIGN_OR_RETURN(uint64_t before, ChangeLog::last_position(txn));
    std::vector<char> applied(pushes.size(), 0);
    bool any = false;
    uint64_t next_txn = s.next_txn;
    std::vector<char> keep;
    for (size_t i = 0; i < pushes.size(); ++i) {
        const Push& push = pushes[i];
        // A resend of a transaction applied before (its Ack was lost): exactly once.
        if (push.client_txn <= last_applied) continue;
        // Anything else is the client's next transaction: a gap or a jump would make the client's
        // later transactions look like resends.
        if (push.client_txn != next_txn) {
            return Status(ErrorCode::kSyncProtocolViolation,
                          "push " + std::to_string(push.client_txn) + ": expected transaction " +
                              std::to_string(next_txn) + " (after " + std::to_string(last_applied) +
                              ", applied)");
        }
        // A delete beats a concurrent update: removed GIDs keep a tombstone, and puts for them
        // are dropped.
        auto& objects = pushes[i].changes.objects;
        keep.assign(objects.size(), 1);
        bool dropped = false;
        for (size_t k = 0; k < objects.size(); ++k) {
            ObjectChange& c = objects[k];
            std::string tomb = tombstone_key(c.entity_uid, c.gid);
            if (c.kind == ObjectChange::kRemove) {
                OUTPOST_RETURN_IF_ERROR(put_meta(txn, tomb, ""));
                continue;
            }
            OUTPOST_ASSIGN_OR_RETURN(auto dead, get_meta(txn, tomb));
            bool loses = false;
            if (!dead) {
                OUTPOST_ASSIGN_OR_RETURN(loses, loses_on_clock(txn, c, corrections[i]));
            }
            if (!dead && !loses) {
                OUTPOST_ASSIGN_OR_RETURN(
                    loses, loses_on_unique(txn, s, pushes[i].changes, c, corrections[i]));
            }
            if (dead || loses) {
                keep[k] = 0;
                dropped = true;
                continue;
            }
            OUTPOST_RETURN_IF_ERROR(drop_references_to_removed(txn, store_->model(), c));
        }
        ChangeSet accepted;
        if (dropped) {
            for (size_t k = 0; k < objects.size(); ++k) {
                if (keep[k]) accepted.objects.push_back(objects[k]);
            }
        }
        const ChangeSet& apply = dropped ? accepted : push.changes;
        if (!entities_with_unique_.empty()) {
            OUTPOST_ASSIGN_OR_RETURN(ChangeSet frees, unique_values_to_free(txn, *store_, apply));
            if (!frees.empty()) {
                OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, frees, s.client, ApplyMode::kRecord));
            }
        }
        OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, apply, s.client, ApplyMode::kRecord));
        last_applied = push.client_txn;
        ++next_txn;
        applied[i] = 1;
        any = true;
    }
    if (!any) {
        txn.abort();
        return applied;
    }
    OUTPOST_RETURN_IF_ERROR(put_meta(txn, key, std::to_string(last_applied)));
    OUTPOST_RETURN_IF_ERROR(keep_corrections(txn, s, pushes, applied, corrections));
    // The record this transaction writes (if it changes anything) is appended at commit as before
    // + 1: the write lock is held from begin_write to commit, so no other writer can come in
    // between.
    const uint64_t next = before + 1;
    if (options_.history_max_records != 0 && next > options_.history_max_records) {
        const uint64_t upto = trim_limit(next - options_.history_max_records);
        if (upto != 0) OUTPOST_RETURN_IF_ERROR(ChangeLog::acknowledge(txn, upto));
    }
    OUTPOST_RETURN_IF_ERROR(txn.commit());
    s.next_txn = next_txn;
    // Whether record NEXT exists and is this one (a write that changed nothing appends none, and
    // another writer may have appended it since) is learnt when fan_out() reads it.
    record = next;
    return applied;
}

void ServerCore::handle_pushes(Session& s, std::span<Push> pushes) {
    uint64_t record = 0;
    std::vector<ChangeSet> corrections;
    auto applied = apply_pushes(s, pushes, record, corrections);
    if (!applied && pushes.size() > 1) {
        // Something in the group failed and nothing was committed: one push at a time, as without
        // grouping, so that the pushes before the bad one are applied and acknowledged.
        for (Push& p : pushes) {
            handle_pushes(s, std::span(&p, 1));
            if (s.closed) return;
        }
        return;
    }
    if (!applied) {
        const Status& st = applied.status();
        if (st.code() == ErrorCode::kSyncProtocolViolation) {
            fail(s, st.code(), st.message());
            return;
        }
        bool server_side = static_cast<int>(st.code()) >= 200 && static_cast<int>(st.code()) < 300;
        fail(s, server_side ? ErrorCode::kSyncServerError : ErrorCode::kSyncMalformedMessage,
             "push " + std::to_string(pushes.front().client_txn) + ": " + st.to_string());
        return;
    }
    const auto n_applied = static_cast<uint64_t>(std::count(applied->begin(), applied->end(), 1));
    stats_.pushes_applied += n_applied;
    stats_.pushes_skipped += pushes.size() - n_applied;
    // Everything before this record goes out first (also to this client), so that when the Ack
    // moves the client's resume position to RECORD it has received all that comes before.
    uint64_t tag = 0;
    if (n_applied != 0) {
        FanOutWatch watch{record, &s.client, false};
        fan_out(&watch);
        if (!watch.seen) record = 0;
        tag = watch.tag;
    }
    for (size_t i = 0; i < pushes.size(); ++i) {
        const bool made = (*applied)[i] && record != 0;
        send(s, encode_message(Ack{pushes[i].client_txn, made ? record : 0,
                                   std::move(corrections[i]), made ? tag : 0}));
    }
}

void ServerCore::poll() {
    fan_out(nullptr);
    continue_full_syncs();
}

void ServerCore::fan_out(FanOutWatch* watch) {
    auto txn = store_->begin_read();
    if (!txn) return;
    auto head = ChangeLog::last_position(*txn);
    if (!head || *head <= fanned_seq_) return;
    while (fanned_seq_ < *head) {
        auto recs = ChangeLog::read(*txn, fanned_seq_, kCatchUpBatch);
        if (!recs || recs->empty()) break;
        for (const auto& rec : *recs) {
            note_history(rec.position, rec.bytes);
            // The record encoded whole and its tag, once, and only when someone needs them.
            std::string encoded;
            uint64_t tag = 0;
            auto tagged = [&] {
                if (tag == 0) {
                    encoded = encode_change_set(rec.changes);
                    tag = record_tag(rec, encoded);
                }
            };
            if (watch && rec.position == watch->position && rec.origin == *watch->origin) {
                watch->seen = true;
                tagged();
                watch->tag = tag;
            }
            // One encoding for every client that knows the whole model, made when one needs it.
            std::vector<std::string> full;
            for (auto& [id, sp] : sessions_) {
                Session& s = *sp;
                // A session in a full sync gets these records when it ends (finish_full_sync).
                if (!s.logged_in || s.closed || s.full_sync || s.sent_seq >= rec.position) continue;
                s.sent_seq = rec.position;
                if (rec.origin == s.client) continue;
                tagged();
                if (s.known.knows_all) {
                    if (full.empty()) full = apply_frames(rec.position, rec.changes, encoded, tag);
                    for (const auto& f : full) send(s, f);
                } else {
                    ChangeSet mine = s.known.filter(rec.changes);
                    if (mine.empty()) continue;
                    for (auto& f : apply_frames(rec.position, mine, encode_change_set(mine), tag))
                        send(s, std::move(f));
                }
            }
            fanned_seq_ = rec.position;
        }
    }
    txn->close();
    trim_history();
}

void ServerCore::note_history(uint64_t position, uint64_t bytes) {
    if (options_.history_max_bytes == 0) return;
    history_sizes_.emplace_back(position, bytes);
    history_bytes_ += bytes;
}

uint64_t ServerCore::trim_limit(uint64_t wanted) const {
    // Records not fanned out yet (written by others since the last poll) stay, and so do those a
    // full sync in progress catches up from when it ends.
    wanted = std::min(wanted, fanned_seq_);
    if (!full_sync_snapshots_.empty()) wanted = std::min(wanted, *full_sync_snapshots_.begin());
    if (!options_.history_trim_limit) return wanted;
    return std::min(wanted, options_.history_trim_limit());
}

void ServerCore::trim_history() {
    if (options_.history_max_bytes == 0 || history_bytes_ <= options_.history_max_bytes) return;
    // The newest record always stays: it is the head clients resume from.
    size_t drop = 0;
    uint64_t bytes = history_bytes_;
    const uint64_t limit = trim_limit(UINT64_MAX);
    while (bytes > options_.history_max_bytes && drop + 1 < history_sizes_.size() &&
           history_sizes_[drop].first <= limit) {
        bytes -= history_sizes_[drop].second;
        ++drop;
    }
    if (drop == 0) return;
    const uint64_t upto = history_sizes_[drop - 1].first;
    Status st = store_->write([&](WriteTxn& w) { return ChangeLog::acknowledge(w, upto); });
    if (!st) return;  // retried after the next record; the history is only longer meanwhile
    history_sizes_.erase(history_sizes_.begin(), history_sizes_.begin() + static_cast<long>(drop));
    history_bytes_ = bytes;
}

}  // namespace outpost::sync
