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

using namespace server_internal;

Result<std::unique_ptr<ServerCore>> ServerCore::create(std::shared_ptr<Store> store,
                                                       ServerOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "sync server: no store");
    if (options.shared_secret.empty() && !options.verify_token && !options.allow_unauthenticated) {
        return Status(ErrorCode::kInvalidArgument,
                      "sync server: no auth method; set a shared secret or a token verifier, or "
                      "allow unauthenticated clients explicitly");
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
    s->connected_ms = wall_now_ms();
    SessionId id = s->id;
    sessions_.emplace(id, std::move(s));
    ++stats_.sessions;
    return id;
}

void ServerCore::on_disconnect(SessionId session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    if (it->second->logged_in) --stats_.logged_in;
    if (const int64_t exp = it->second->identity.expires_at_s; exp != 0) {
        auto [first, last] = expiries_.equal_range(exp + options_.token_leeway.count());
        for (auto e = first; e != last; ++e) {
            if (e->second == session) {
                expiries_.erase(e);
                break;
            }
        }
    }
    if (it->second->full_sync)
        full_sync_snapshots_.erase(full_sync_snapshots_.find(it->second->full_sync->snapshot));
    if (auto c = session_of_client_.find(it->second->client);
        c != session_of_client_.end() && c->second == session) {
        session_of_client_.erase(c);
    }
    sessions_.erase(it);
}

std::vector<SessionInfo> ServerCore::sessions() const {
    std::vector<SessionInfo> out;
    out.reserve(stats_.logged_in);
    for (const auto& [id, sp] : sessions_) {
        const Session& s = *sp;
        if (!s.logged_in || s.closed) continue;
        out.push_back(
            {s.id, s.client, s.identity.kind == auth::CredentialKind::kJwt ? s.identity.user : "",
             s.remote, s.connected_ms, s.protocol_version, s.acked_seq, s.full_sync != nullptr});
    }
    return out;
}

size_t ServerCore::disconnect_client(const std::string& client, const std::string& reason) {
    size_t n = 0;
    for (auto& [id, sp] : sessions_) {
        Session& s = *sp;
        if (!s.logged_in || s.closed || s.client != client) continue;
        log(LogLevel::kInfo,
            "session " + std::to_string(s.id) + ": client " + s.client + ": " + reason);
        s.closed = true;
        s.connection->close(ErrorCode::kOk, reason);
        ++n;
    }
    return n;
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
    // Consecutive Logins of different sessions and client ids form a group (commit_logins); any
    // other frame answers the group first.
    std::vector<PendingLogin> logins;
    MetaWrites to_bind;
    auto answer_logins = [&] {
        if (!logins.empty()) commit_logins(logins, to_bind);
    };
    size_t i = 0;
    while (i < frames.size()) {
        const SessionId id = frames[i].session;
        auto decoded = decode(frames[i]);
        ++i;
        auto it = sessions_.find(id);
        if (it == sessions_.end() || it->second->closed) continue;
        Session& s = *it->second;
        if (decoded && !s.logged_in && std::holds_alternative<Login>(*decoded)) {
            Login& login = std::get<Login>(*decoded);
            std::string client = client_id_to_hex(login.client_id);
            if (std::any_of(logins.begin(), logins.end(), [&](const PendingLogin& p) {
                    return p.session == id || p.client == client;
                })) {
                answer_logins();  // a second Login of S, or its client's other connection
                if (s.closed) continue;
                if (s.logged_in) {
                    dispatch(s, std::move(decoded).value());
                    continue;
                }
            }
            if (prepare_login(s, login, client, to_bind)) {
                logins.push_back({id, std::move(login), std::move(client)});
            }
            continue;
        }
        answer_logins();
        if (s.closed) continue;
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
    answer_logins();
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
            if (options_.on_history_record) options_.on_history_record(rec.position);
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
            // One encoding for every client that knows the whole model and gets the record as it
            // is, made when one needs it.
            std::vector<std::string> full;
            std::optional<ScopeCache> cache;  // for the sessions with a scope
            for (auto& [id, sp] : sessions_) {
                Session& s = *sp;
                // A session in a full sync gets these records when it ends (finish_full_sync).
                if (!s.logged_in || s.closed || s.full_sync || s.sent_seq >= rec.position) continue;
                s.sent_seq = rec.position;
                if (rec.origin == s.client) continue;
                tagged();
                std::optional<ChangeSet> in_scope;
                if (s.scope) {
                    if (!cache) cache.emplace(rec.changes);
                    auto r = scoped(s, *txn, rec.changes, *cache);
                    if (!r) {
                        fail(s, ErrorCode::kSyncServerError, r.status().to_string());
                        continue;
                    }
                    in_scope = std::move(r).value();
                }
                if (!in_scope && s.known.knows_all) {
                    if (full.empty()) full = apply_frames(rec.position, rec.changes, encoded, tag);
                    for (const auto& f : full) send(s, f);
                    stats_.fanout_changes += rec.changes.objects.size();
                } else {
                    ChangeSet mine = s.known.filter(in_scope ? *in_scope : rec.changes);
                    if (mine.empty()) continue;
                    for (auto& f : apply_frames(rec.position, mine, encode_change_set(mine), tag))
                        send(s, std::move(f));
                    stats_.fanout_changes += mine.objects.size();
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
