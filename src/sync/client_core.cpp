#include "sync/client_core.hpp"

#include <algorithm>
#include <optional>
#include <random>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "sync/client_rebase.hpp"

namespace outpost::sync {

namespace {

constexpr const char* kServerSeqKey = "sync.server_seq";
constexpr const char* kServerTagKey = "sync.server_tag";  // the tag of record server_seq
constexpr const char* kScopeTagKey = "sync.scope_tag";  // LoginResult::scope_tag of the last login

// Stores the resume position and its record's tag (Apply.tag) in TXN.
Status put_position(WriteTxn& txn, uint64_t seq, uint64_t tag) {
    OUTPOST_RETURN_IF_ERROR(put_meta(txn, kServerSeqKey, std::to_string(seq)));
    return put_meta(txn, kServerTagKey, std::to_string(tag));
}
constexpr const char* kClientIdKey = "sync.client_id";
constexpr const char* kClientKeyKey = "sync.client_key";  // the key made with the id (Login)

std::string_view as_chars(std::span<const uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The client id and its key, made on first use and kept in the store's meta. A store that has an
// id but no key (made before keys existed) gets a key now; the server binds the id to the first
// key it sees.
Status load_or_make_identity(Store& store, ClientId& id, ClientKey& key) {
    return store.write([&](WriteTxn& txn) {
        std::random_device rd;
        auto random_fill = [&rd](std::span<uint8_t> out) {
            for (auto& b : out) b = static_cast<uint8_t>(rd());
        };
        OUTPOST_ASSIGN_OR_RETURN(auto stored_id, get_meta(txn, kClientIdKey));
        OUTPOST_ASSIGN_OR_RETURN(auto stored_key, get_meta(txn, kClientKeyKey));
        if (stored_id && stored_id->size() == id.size()) {
            std::copy(stored_id->begin(), stored_id->end(), id.begin());
        } else {
            random_fill(id);
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, kClientIdKey, as_chars(id)));
            stored_key.reset();  // a new id gets a new key
        }
        if (stored_key && stored_key->size() == key.size()) {
            std::copy(stored_key->begin(), stored_key->end(), key.begin());
            return Status::ok();
        }
        random_fill(key);
        return put_meta(txn, kClientKeyKey, as_chars(key));
    });
}

// The newest change-log position the store wrote (0: none yet), acknowledged or not.
Result<uint64_t> last_written(Store& store) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store.begin_read());
    return ChangeLog::last_position(txn);
}

// The number of the client's oldest transaction not yet acknowledged (the first change-log
// record), or, when none waits, the number its next transaction gets (Login.next_client_txn).
Result<uint64_t> next_client_txn(Store& store) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store.begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto first, ChangeLog::read(txn, 0, 1));
    if (!first.empty()) return first.front().position;
    OUTPOST_ASSIGN_OR_RETURN(uint64_t last, ChangeLog::last_position(txn));
    return last + 1;
}

}  // namespace

using client_internal::apply_rebased;
using client_internal::kRemoteOrigin;
using client_internal::Pending;

Result<std::unique_ptr<ClientCore>> ClientCore::create(std::shared_ptr<Store> store,
                                                       ClientOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "sync client: no store");
    std::unique_ptr<ClientCore> core(new ClientCore(std::move(store), std::move(options)));
    OUTPOST_RETURN_IF_ERROR(
        load_or_make_identity(*core->store_, core->client_id_, core->client_key_));
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, core->store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto seq, get_meta(txn, kServerSeqKey));
    if (seq) core->server_seq_ = std::stoull(*seq);
    OUTPOST_ASSIGN_OR_RETURN(auto tag, get_meta(txn, kServerTagKey));
    if (tag) core->server_tag_ = std::stoull(*tag);
    OUTPOST_ASSIGN_OR_RETURN(auto scope, get_meta(txn, kScopeTagKey));
    if (scope) core->scope_tag_ = std::stoull(*scope);
    txn.close();
    auto dirty = core->dirty_;
    auto wake = core->options_.wake;
    core->observer_ = core->store_->add_observer([dirty, wake](const Changes& changes) {
        if (!changes.origin.empty()) return;  // applied from the server: nothing to push
        dirty->store(true);
        if (wake) wake();
    });
    return core;
}

ClientCore::ClientCore(std::shared_ptr<Store> store, ClientOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      dirty_(std::make_shared<std::atomic<bool>>(false)) {}

ClientCore::~ClientCore() {
    if (observer_ != 0) store_->remove_observer(observer_);
}

void ClientCore::send(const Message& message) {
    if (connection_) connection_->send(encode_message(message));
}

void ClientCore::send_push(uint64_t client_txn, ChangeSet changes) {
    if (!connection_) return;
    Push whole{client_txn, std::move(changes)};
    std::string frame = encode_message(whole);
    if (frame.size() <= options_.max_message_size) {
        connection_->send(std::move(frame));
        return;
    }
    // Too big for one frame: parts of about half the maximum each, the last with more = false.
    std::vector<ChangeSet> parts = split_change_set(whole.changes, options_.max_message_size / 2);
    std::vector<std::string> frames;
    for (size_t i = 0; i < parts.size(); ++i) {
        frames.push_back(
            encode_message(Push{client_txn, std::move(parts[i]), i + 1 < parts.size()}));
        if (frames.back().size() > options_.max_message_size) {
            fail(ErrorCode::kSyncMessageTooLarge,
                 "push " + std::to_string(client_txn) + ": the change of one object takes " +
                     std::to_string(frames.back().size()) +
                     " bytes, above the maximum message size (" +
                     std::to_string(options_.max_message_size) + ")");
            return;
        }
    }
    for (auto& f : frames) connection_->send(std::move(f));
}

void ClientCore::fail(ErrorCode code, const std::string& reason) {
    last_error_ = code;
    if (connection_) {
        connection_->send(encode_message(Error{code, reason}));
        connection_->close(code, reason);
    }
    if (error_fn_) error_fn_(code, reason);
    on_disconnect();
}

void ClientCore::connect(std::shared_ptr<Connection> connection) {
    connection_ = std::move(connection);
    full_sync_seen_.clear();
    full_sync_started_ = false;
    partial_apply_.reset();
    state_ = ClientState::kConnected;
    in_flight_.clear();
    last_pushed_ = 0;
    up_to_date_ = false;
    Login login;
    login.client_id = client_id_;
    login.credentials = options_.credentials;
    login.credential_kind = options_.credential_kind;
    login.variables = options_.variables;
    login.scope_tag = scope_tag_;
    login.model = describe_model(store_->model());
    login.last_server_seq = server_seq_;
    login.last_server_tag = server_tag_;
    login.client_key.assign(client_key_.begin(), client_key_.end());
    auto next = next_client_txn(*store_);
    if (!next) {
        fail(ErrorCode::kSyncServerError, "reading the change log: " + next.status().to_string());
        return;
    }
    login.next_client_txn = *next;
    send(login);
}

void ClientCore::on_disconnect() {
    connection_.reset();
    partial_apply_.reset();
    state_ = ClientState::kDisconnected;
    in_flight_.clear();
    last_pushed_ = 0;
    up_to_date_ = false;
}

void ClientCore::send_heartbeat() {
    if (state_ != ClientState::kDisconnected) send(Heartbeat{});
}

void ClientCore::poll() {
    if (dirty_->exchange(false)) {
        up_to_date_ = false;
        push_pending();
        update_up_to_date();
    }
}

uint64_t ClientCore::outgoing_queue_length() {
    auto txn = store_->begin_read();
    if (!txn) return 0;
    auto n = ChangeLog::size(*txn);
    return n ? *n : 0;
}

void ClientCore::on_message(std::span<const uint8_t> frame) { on_messages(std::span(&frame, 1)); }

void ClientCore::on_messages(std::span<const std::span<const uint8_t>> frames) {
    size_t i = 0;
    while (i < frames.size()) {
        if (!connection_) return;
        auto decoded = decode_message(frames[i++], options_.max_message_size);
        if (!decoded) {
            fail(decoded.status().code(), decoded.status().message());
            continue;
        }
        if (state_ != ClientState::kLoggedIn || !std::holds_alternative<Ack>(*decoded)) {
            dispatch(*decoded);
            continue;
        }
        // A run of Acks, up to the first frame that is not one.
        std::vector<Ack> acks{std::get<Ack>(*decoded)};
        std::optional<Result<Message>> after;  // the frame that ended the run, decoded
        while (i < frames.size()) {
            auto next = decode_message(frames[i++], options_.max_message_size);
            if (next && std::holds_alternative<Ack>(*next)) {
                acks.push_back(std::get<Ack>(*next));
            } else {
                after = std::move(next);
                break;
            }
        }
        handle_acks(acks);
        if (after && connection_) {
            if (!*after) {
                fail(after->status().code(), after->status().message());
            } else {
                dispatch(**after);
            }
        }
    }
}

void ClientCore::dispatch(Message& msg) {
    if (auto* r = std::get_if<LoginResult>(&msg)) {
        handle_login_result(*r);
        return;
    }
    if (auto* e = std::get_if<Error>(&msg)) {
        last_error_ = e->code;
        if (error_fn_) error_fn_(e->code, e->reason);
        return;
    }
    if (std::holds_alternative<Heartbeat>(msg)) return;
    if (state_ != ClientState::kLoggedIn) {
        fail(ErrorCode::kSyncProtocolViolation,
             std::string(message_name(msg)) + " before LoginResult");
        return;
    }
    if (auto* ack = std::get_if<Ack>(&msg)) {
        handle_acks(std::span(ack, 1));
    } else if (auto* a = std::get_if<Apply>(&msg)) {
        handle_apply(*a);
    } else if (auto* c = std::get_if<FullSyncChunk>(&msg)) {
        handle_full_sync_chunk(*c);
    } else {
        fail(ErrorCode::kSyncProtocolViolation,
             std::string(message_name(msg)) + " is not a server message");
    }
}

void ClientCore::handle_login_result(const LoginResult& r) {
    if (state_ != ClientState::kConnected) {
        fail(ErrorCode::kSyncProtocolViolation, "unexpected LoginResult");
        return;
    }
    if (r.code != ErrorCode::kOk) {
        last_error_ = r.code;
        if (error_fn_) error_fn_(r.code, r.message);
        return;  // the server closes the connection
    }
    if ((r.last_client_txn != 0 || !r.scope_changes.empty() || r.scope_tag != scope_tag_) &&
        !settle_login(r)) {
        return;
    }
    state_ = ClientState::kLoggedIn;
    login_seq_ = r.server_seq;
    push_pending();
    update_up_to_date();
}

bool ClientCore::settle_login(const LoginResult& r) {
    // A server that counts transactions of this client id that this store never wrote (the id
    // used by another store, or this store restored from an older copy) would take the next ones
    // for resends and drop them: an error, not "up to date".
    auto last = last_written(*store_);
    if (!last) {
        fail(ErrorCode::kSyncServerError, "reading the change log: " + last.status().to_string());
        return false;
    }
    if (r.last_client_txn > *last) {
        fail(ErrorCode::kSyncProtocolViolation,
             "the server has applied this client's transactions up to " +
                 std::to_string(r.last_client_txn) + ", but this store wrote only up to " +
                 std::to_string(*last) +
                 " (is its client id used by another store, or was the store restored "
                 "from an older copy?)");
        return false;
    }
    // Pushes the server applied whose Acks were lost with an earlier connection: done. They must go
    // before any Apply is rebased under them (they no longer come later). The corrections those
    // Acks carried come here, in the same transaction: once the pushes are dropped the server no
    // longer sends them.
    // A scope that changed since the last login (sync rules) comes as its difference, applied in
    // the same transaction with the scope's new tag, so a lost LoginResult repeats it.
    Status st = store_->write([&](WriteTxn& txn) {
        if (r.last_client_txn != 0) {
            OUTPOST_RETURN_IF_ERROR(ChangeLog::acknowledge(txn, r.last_client_txn));
        }
        if (!r.corrections.empty()) {
            Pending pending;
            OUTPOST_RETURN_IF_ERROR(apply_rebased(txn, *store_, r.corrections, pending, false));
        }
        if (!r.scope_changes.empty()) {
            Pending pending;
            OUTPOST_RETURN_IF_ERROR(apply_rebased(txn, *store_, r.scope_changes, pending, false));
        }
        if (r.scope_tag == scope_tag_) return Status::ok();
        return put_meta(txn, kScopeTagKey, std::to_string(r.scope_tag));
    });
    if (!st) {
        fail(ErrorCode::kSyncServerError, "acknowledging: " + st.to_string());
        return false;
    }
    scope_tag_ = r.scope_tag;
    return true;
}

void ClientCore::handle_apply(Apply& a) {
    if (a.more || partial_apply_) {
        // A record sent in parts: applied whole when the last part arrives.
        if (partial_apply_ && partial_apply_->server_seq != a.server_seq) {
            fail(ErrorCode::kSyncProtocolViolation, "Apply " + std::to_string(a.server_seq) +
                                                        " before the last part of Apply " +
                                                        std::to_string(partial_apply_->server_seq));
            return;
        }
        if (!partial_apply_) {
            partial_apply_ = std::move(a);
            return;
        }
        auto& into = partial_apply_->changes.objects;
        into.insert(into.end(), std::make_move_iterator(a.changes.objects.begin()),
                    std::make_move_iterator(a.changes.objects.end()));
        if (a.more) return;
        a = std::move(*partial_apply_);
        partial_apply_.reset();
    }
    if (a.server_seq <= server_seq_) return;  // seen already (an Ack moved past it)
    Status st = apply_remote(a.server_seq, a.tag, a.changes, true, false);
    if (!st) {
        fail(ErrorCode::kSyncMalformedMessage,
             "Apply " + std::to_string(a.server_seq) + ": " + st.to_string());
        return;
    }
    send(ApplyAck{a.server_seq});
    update_up_to_date();
}

void ClientCore::handle_full_sync_chunk(const FullSyncChunk& c) {
    Status st = apply_remote(c.server_seq, c.tag, c.changes, c.last, true);
    if (!st) {
        fail(ErrorCode::kSyncMalformedMessage, "FullSyncChunk: " + st.to_string());
        return;
    }
    if (c.last) {
        send(ApplyAck{c.server_seq});
        update_up_to_date();
    }
}

Status ClientCore::apply_remote(uint64_t server_seq, uint64_t tag, const ChangeSet& changes,
                                bool store_seq, bool full_sync) {
    if (full_sync) {
        for (const auto& c : changes.objects) {
            if (c.kind == ObjectChange::kPut) full_sync_seen_.emplace(c.entity_uid, c.gid);
        }
    }
    Status st = store_->write([&](WriteTxn& txn) {
        const bool cleanup = full_sync && store_seq;
        Pending pending;
        OUTPOST_RETURN_IF_ERROR(apply_rebased(txn, *store_, changes, pending, cleanup));
        if (cleanup) {
            // The snapshot is complete: objects here that it lacks were removed on the server while
            // this client was away (beyond the kept history), so they go here too; objects created
            // here and not yet pushed stay.
            ChangeSet stale;
            for (const auto& e : store_->model().entities) {
                if (!e.sync) continue;
                OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e.name));
                OUTPOST_ASSIGN_OR_RETURN(auto ids, box.ids(txn));
                for (uint64_t id : ids) {
                    OUTPOST_ASSIGN_OR_RETURN(auto gid, gid_of(txn, box, id));
                    if (!gid) continue;
                    ObjectKey key{e.id.uid, *gid};
                    if (full_sync_seen_.count(key) || pending.created.count(key)) continue;
                    ObjectChange rm;
                    rm.kind = ObjectChange::kRemove;
                    rm.entity_uid = e.id.uid;
                    rm.gid = *gid;
                    stale.objects.push_back(std::move(rm));
                }
            }
            if (!stale.empty()) {
                OUTPOST_RETURN_IF_ERROR(
                    ChangeLog::apply(txn, stale, kRemoteOrigin, ApplyMode::kRemote));
            }
        }
        if (store_seq) {
            OUTPOST_RETURN_IF_ERROR(put_position(txn, server_seq, tag));
        } else if (full_sync && !full_sync_started_) {
            // A full sync cut short leaves a mix of old and new data (the scope it is for may have
            // changed, and the scope tag was kept at login): without a position, the next login
            // starts it again.
            OUTPOST_RETURN_IF_ERROR(remove_meta(txn, kServerSeqKey));
            OUTPOST_RETURN_IF_ERROR(remove_meta(txn, kServerTagKey));
        }
        return Status::ok();
    });
    if (st && full_sync && !store_seq && !full_sync_started_) {
        full_sync_started_ = true;
        server_seq_ = 0;
        server_tag_ = 0;
    }
    if (full_sync && store_seq) {
        full_sync_seen_.clear();
        full_sync_started_ = false;
    }
    if (st && store_seq) {
        server_seq_ = server_seq;
        server_tag_ = tag;
    }
    return st;
}

void ClientCore::handle_acks(std::span<const Ack> acks) {
    // The Acks that match the pushes in flight, in order.
    size_t matched = 0;
    uint64_t seq = server_seq_, tag = server_tag_;
    while (matched < acks.size() && matched < in_flight_.size() &&
           in_flight_[matched] == acks[matched].client_txn) {
        if (acks[matched].server_seq > seq) {
            seq = acks[matched].server_seq;
            tag = acks[matched].server_tag;
        }
        ++matched;
    }
    if (matched > 0) {
        // All history before the record a push became was sent (and applied) before its Ack, so
        // the resume position may move to it.
        const uint64_t last_txn = acks[matched - 1].client_txn;
        const bool advance = seq > server_seq_;
        Status st = store_->write([&](WriteTxn& txn) {
            OUTPOST_RETURN_IF_ERROR(ChangeLog::acknowledge(txn, last_txn));
            for (size_t i = 0; i < matched; ++i) {
                if (acks[i].corrections.empty()) continue;
                // Puts of this transaction that lost (on their sync clock, or a unique value taken
                // first): take the server's state (under the local changes still pending, which
                // will reach the server later).
                Pending pending;
                OUTPOST_RETURN_IF_ERROR(
                    apply_rebased(txn, *store_, acks[i].corrections, pending, false));
            }
            if (advance) OUTPOST_RETURN_IF_ERROR(put_position(txn, seq, tag));
            return Status::ok();
        });
        if (!st) {
            fail(ErrorCode::kSyncServerError,
                 "acknowledging " + std::to_string(last_txn) + ": " + st.to_string());
            return;
        }
        server_seq_ = seq;
        server_tag_ = tag;
        in_flight_.erase(in_flight_.begin(), in_flight_.begin() + static_cast<long>(matched));
    }
    if (matched < acks.size()) {
        fail(ErrorCode::kSyncProtocolViolation,
             "Ack for " + std::to_string(acks[matched].client_txn) + " out of order");
        return;
    }
    push_pending();
    update_up_to_date();
}

void ClientCore::push_pending() {
    if (state_ != ClientState::kLoggedIn) return;
    while (in_flight_.size() < options_.max_in_flight) {
        auto txn = store_->begin_read();
        if (!txn) return;
        auto recs = ChangeLog::read(*txn, last_pushed_, options_.max_in_flight - in_flight_.size());
        txn->close();
        if (!recs) {
            fail(ErrorCode::kSyncServerError,
                 "reading the change log: " + recs.status().to_string());
            return;
        }
        if (recs->empty()) return;
        for (auto& rec : *recs) {
            last_pushed_ = rec.position;
            in_flight_.push_back(rec.position);
            send_push(rec.position, std::move(rec.changes));
        }
    }
}

void ClientCore::update_up_to_date() {
    bool now = state_ == ClientState::kLoggedIn && in_flight_.empty() &&
               server_seq_ >= login_seq_ && outgoing_queue_length() == 0;
    bool was = up_to_date_;
    up_to_date_ = now;
    if (now && !was && up_to_date_fn_) up_to_date_fn_();
}

}  // namespace outpost::sync
