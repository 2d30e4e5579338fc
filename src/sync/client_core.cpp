#include "sync/client_core.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"

namespace outpost::sync {

namespace {

constexpr const char* kServerSeqKey = "sync.server_seq";
constexpr const char* kClientIdKey = "sync.client_id";
constexpr const char* kRemoteOrigin = "sync";

Result<ClientId> load_or_make_client_id(Store& store) {
    ClientId id{};
    Status st = store.write([&](WriteTxn& txn) {
        OUTPOST_ASSIGN_OR_RETURN(auto stored, get_meta(txn, kClientIdKey));
        if (stored && stored->size() == id.size()) {
            std::copy(stored->begin(), stored->end(), id.begin());
            return Status::ok();
        }
        std::random_device rd;
        for (auto& b : id) b = static_cast<uint8_t>(rd());
        return put_meta(txn, kClientIdKey,
                        std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
    });
    if (!st) return st;
    return id;
}

using ObjectKey = std::pair<uint64_t, Gid>;

// What the unacknowledged local change log touches. Those local changes reach the server after any
// remote change the client applies now, so on the server they will win: applying the remote value
// locally would leave this replica behind. Remote changes are rebased under them instead.
struct Pending {
    std::set<ObjectKey> removed;
    std::set<ObjectKey> created;  // made here and not yet acknowledged
    std::map<ObjectKey, std::pair<std::set<uint64_t>, std::set<uint64_t>>>
        put;  // properties, to-many

    void add(const ChangeSet& changes) {
        for (const auto& c : changes.objects) {
            ObjectKey key{c.entity_uid, c.gid};
            if (c.kind == ObjectChange::kRemove) {
                removed.insert(key);
                continue;
            }
            if (c.is_new) created.insert(key);
            auto& [props, rels] = put[key];
            for (const auto& p : c.properties) props.insert(p.property_uid);
            for (const auto& t : c.to_many) rels.insert(t.relation_uid);
        }
    }

    ChangeSet rebase(const ChangeSet& remote, const Model& model) const {
        ChangeSet out;
        for (const auto& c : remote.objects) {
            ObjectKey key{c.entity_uid, c.gid};
            if (c.kind == ObjectChange::kRemove) {
                out.objects.push_back(c);  // a delete beats a concurrent update
                continue;
            }
            if (removed.count(key)) continue;  // removed here: the server drops the put too
            ObjectChange f = c;
            if (auto it = put.find(key); it != put.end()) {
                std::erase_if(f.properties, [&](const PropertyChange& p) {
                    return it->second.first.count(p.property_uid);
                });
                std::erase_if(f.to_many, [&](const ToManyChange& t) {
                    return it->second.second.count(t.relation_uid);
                });
            }
            drop_references_to_removed(model, f);
            out.objects.push_back(std::move(f));
        }
        return out;
    }

    // References to objects removed here: the server will clear them when the remove reaches it
    // (a delete beats a concurrent edit that points at the deleted object), so they go here too.
    void drop_references_to_removed(const Model& model, ObjectChange& c) const {
        if (removed.empty()) return;
        const Entity* e = model.entity_by_uid(c.entity_uid);
        if (!e) return;
        auto gone = [&](const std::string& target, const Gid& g) {
            const Entity* t = model.entity(target);
            return t && removed.count({t->id.uid, g}) > 0;
        };
        for (auto& pc : c.properties) {
            if (!pc.value.is<Bytes>()) continue;
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == pc.property_uid; });
            if (p == e->properties.end() || p->type != PropertyType::kRelation) continue;
            const Bytes& b = pc.value.as<Bytes>();
            if (gone(p->target, Gid(b.begin(), b.end()))) pc.value = Value(nullptr);
        }
        for (auto& tc : c.to_many) {
            auto r = std::find_if(e->relations.begin(), e->relations.end(),
                                  [&](const Relation& x) { return x.id.uid == tc.relation_uid; });
            if (r == e->relations.end()) continue;
            std::erase_if(tc.targets, [&](const Gid& g) { return gone(r->target, g); });
        }
    }
};

}  // namespace

Result<std::unique_ptr<ClientCore>> ClientCore::create(std::shared_ptr<Store> store,
                                                       ClientOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "sync client: no store");
    std::unique_ptr<ClientCore> core(new ClientCore(std::move(store), std::move(options)));
    OUTPOST_ASSIGN_OR_RETURN(core->client_id_, load_or_make_client_id(*core->store_));
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, core->store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto seq, get_meta(txn, kServerSeqKey));
    if (seq) core->server_seq_ = std::stoull(*seq);
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
    state_ = ClientState::kConnected;
    in_flight_.clear();
    last_pushed_ = 0;
    up_to_date_ = false;
    Login login;
    login.client_id = client_id_;
    login.credentials = options_.credentials;
    login.model = describe_model(store_->model());
    login.last_server_seq = server_seq_;
    send(login);
}

void ClientCore::on_disconnect() {
    connection_.reset();
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

void ClientCore::on_message(std::span<const uint8_t> frame) {
    if (!connection_) return;
    auto decoded = decode_message(frame, options_.max_message_size);
    if (!decoded) {
        fail(decoded.status().code(), decoded.status().message());
        return;
    }
    Message& msg = decoded.value();
    if (auto* r = std::get_if<LoginResult>(&msg)) {
        if (state_ != ClientState::kConnected) {
            fail(ErrorCode::kSyncProtocolViolation, "unexpected LoginResult");
            return;
        }
        if (r->code != ErrorCode::kOk) {
            last_error_ = r->code;
            if (error_fn_) error_fn_(r->code, r->message);
            return;  // the server closes the connection
        }
        if (r->last_client_txn != 0) {
            // Pushes the server applied whose Acks were lost with an earlier connection: done. They
            // must go before any Apply is rebased under them (they no longer come later).
            Status st = store_->write(
                [&](WriteTxn& txn) { return ChangeLog::acknowledge(txn, r->last_client_txn); });
            if (!st) {
                fail(ErrorCode::kSyncServerError, "acknowledging: " + st.to_string());
                return;
            }
        }
        state_ = ClientState::kLoggedIn;
        login_seq_ = r->server_seq;
        push_pending();
        update_up_to_date();
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
        handle_ack(*ack);
    } else if (auto* a = std::get_if<Apply>(&msg)) {
        if (a->server_seq <= server_seq_) return;  // seen already (an Ack moved past it)
        Status st = apply_remote(a->server_seq, a->changes, true, false);
        if (!st) {
            fail(ErrorCode::kSyncMalformedMessage,
                 "Apply " + std::to_string(a->server_seq) + ": " + st.to_string());
            return;
        }
        send(ApplyAck{a->server_seq});
        update_up_to_date();
    } else if (auto* c = std::get_if<FullSyncChunk>(&msg)) {
        Status st = apply_remote(c->server_seq, c->changes, c->last, true);
        if (!st) {
            fail(ErrorCode::kSyncMalformedMessage, "FullSyncChunk: " + st.to_string());
            return;
        }
        if (c->last) {
            send(ApplyAck{c->server_seq});
            update_up_to_date();
        }
    } else {
        fail(ErrorCode::kSyncProtocolViolation,
             std::string(message_name(msg)) + " is not a server message");
    }
}

Status ClientCore::apply_remote(uint64_t server_seq, const ChangeSet& changes, bool store_seq,
                                bool full_sync) {
    if (full_sync) {
        for (const auto& c : changes.objects) {
            if (c.kind == ObjectChange::kPut) full_sync_seen_.emplace(c.entity_uid, c.gid);
        }
    }
    Status st = store_->write([&](WriteTxn& txn) {
        OUTPOST_ASSIGN_OR_RETURN(uint64_t pending_count, ChangeLog::size(txn));
        Pending pending;
        if (pending_count == 0) {
            OUTPOST_RETURN_IF_ERROR(
                ChangeLog::apply(txn, changes, kRemoteOrigin, ApplyMode::kRemote));
        } else {
            OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, 0, pending_count));
            for (const auto& rec : recs) pending.add(rec.changes);
            OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, pending.rebase(changes, store_->model()),
                                                     kRemoteOrigin, ApplyMode::kRemote));
        }
        if (full_sync && store_seq) {
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
        if (store_seq)
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, kServerSeqKey, std::to_string(server_seq)));
        return Status::ok();
    });
    if (full_sync && store_seq) full_sync_seen_.clear();
    if (st && store_seq) server_seq_ = server_seq;
    return st;
}

void ClientCore::handle_ack(const Ack& ack) {
    if (in_flight_.empty() || in_flight_.front() != ack.client_txn) {
        fail(ErrorCode::kSyncProtocolViolation,
             "Ack for " + std::to_string(ack.client_txn) + " out of order");
        return;
    }
    // All history before the record this push became was sent (and applied) before the Ack, so the
    // resume position may move to it.
    bool advance = ack.server_seq > server_seq_;
    Status st = store_->write([&](WriteTxn& txn) {
        OUTPOST_RETURN_IF_ERROR(ChangeLog::acknowledge(txn, ack.client_txn));
        if (advance) {
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, kServerSeqKey, std::to_string(ack.server_seq)));
        }
        return Status::ok();
    });
    if (!st) {
        fail(ErrorCode::kSyncServerError,
             "acknowledging " + std::to_string(ack.client_txn) + ": " + st.to_string());
        return;
    }
    if (advance) server_seq_ = ack.server_seq;
    in_flight_.pop_front();
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
            send(Push{rec.position, std::move(rec.changes)});
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
