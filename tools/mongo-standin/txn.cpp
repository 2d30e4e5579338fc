// Sessions, multi-document transactions (snapshot reads, first-writer-wins conflicts, atomic
// commit under one clusterTime) and the write path shared by all write commands.
#include <cstring>

#include "commands.hpp"
#include "log.hpp"
#include "persistence.hpp"
#include "storage.hpp"

namespace standin {

namespace {

Error transient(int code, std::string msg) {
    return Error{code, std::move(msg), {"TransientTransactionError"}};
}

std::string lock_key(const std::string& ns, const std::string& id_key) {
    return ns + '\0' + id_key;
}

void release(Engine& e, Txn& t) {
    for (auto it = e.locks_.begin(); it != e.locks_.end();) {
        if (it->second == t.id)
            it = e.locks_.erase(it);
        else
            ++it;
    }
    e.active_txns_.erase(t.id);
}

void collect_garbage(Engine& e) {
    if (!e.active_txns_.empty() || e.gc_candidates_.empty()) return;
    std::set<std::string> nss;
    for (const auto& [ns, order] : e.gc_candidates_) nss.insert(ns);
    e.gc_candidates_.clear();
    for (auto& [db, colls] : e.dbs_) {
        for (auto& [name, c] : colls) {
            if (!nss.count(ns_of(db, name))) continue;
            std::vector<uint64_t> orders;
            for (const auto& [o, r] : c->records)
                if (r.versions.size() > 1 || r.versions.empty() || !r.versions.back().doc)
                    orders.push_back(o);
            for (uint64_t o : orders) prune_record(*c, o);
        }
    }
}

Doc id_doc_of(const DocPtr& d) {
    Doc out;
    bson_t v;
    if (!d || !view_of(*d, &v)) return out;
    bson_iter_t it;
    if (bson_iter_init_find(&it, &v, "_id")) bson_append_iter(out.get(), "_id", 3, &it);
    return out;
}

// The session the command's lsid names (created on first use) becomes the command's session.
Status attach_session(Engine& e, CommandCtx& c) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "lsid") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return ok_status();
    Doc lsid = iter_subdoc(&it);
    bson_iter_t id;
    if (!bson_iter_init_find(&id, lsid.get(), "id") || !BSON_ITER_HOLDS_BINARY(&id))
        return Error{40415, "BSON field 'lsid.id' is missing but a required field", {}};
    const uint8_t* data;
    uint32_t len;
    bson_subtype_t st;
    bson_iter_binary(&id, &st, &len, &data);
    std::string key = hex_upper(data, len);
    Session& s = e.sessions_[key];
    if (s.key.empty()) {
        s.key = key;
        s.lsid = std::move(lsid);
    }
    s.last_use = Clock::now();
    c.session = &s;
    return ok_status();
}

// The command's txnNumber, autocommit and startTransaction, checked against each other.
Status read_txn_fields(Engine& e, CommandCtx& c) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, c.cmd, "txnNumber")) {
        if (!iter_is_number(&it)) return Error{14, "txnNumber must be a number", {}};
        if (e.options().replset.empty())
            return Error{
                20, "Transaction numbers are only allowed on a replica set member or mongos", {}};
        c.txn_number = iter_as_int64(&it);
    }
    if (bson_iter_init_find(&it, c.cmd, "autocommit")) {
        if (iter_truthy(&it))
            return Error{72, "autocommit:true is not supported; omit it instead", {}};
        c.autocommit_false = true;
    }
    c.start_transaction = get_bool(c.cmd, "startTransaction").value_or(false);
    if (c.txn_number && !c.session)
        return Error{50768,
                     "txnNumber may only be provided for multi-document transactions and retryable "
                     "write commands; lsid is missing",
                     {}};
    if (!c.txn_number && (c.autocommit_false || c.start_transaction))
        return Error{50768, "txnNumber is required with autocommit and startTransaction", {}};
    return ok_status();
}

// A retryable write (or a command carrying txnNumber outside a transaction) with number N: a
// newer number ends the session's transaction.
Status retryable_write_number(Engine& e, const CommandCtx& c, Session& s, int64_t n) {
    if (c.start_transaction) return Error{50768, "startTransaction requires autocommit:false", {}};
    if (n > s.txn_number) {
        if (s.state == TxnState::kInProgress) Commands::abort_txn(e, s);
        s.txn_number = n;
        s.state = TxnState::kNone;
    }
    return ok_status();
}

// startTransaction with number N; READ_CONCERN (null when absent) is the command's readConcern.
Status start_txn(Engine& e, Session& s, int64_t n, const bson_iter_t* read_concern) {
    if (n == s.txn_number && s.state != TxnState::kNone)
        return transient(251, "Given transaction number " + std::to_string(n) +
                                  " does not match any in-progress transactions.");
    if (read_concern && BSON_ITER_HOLDS_DOCUMENT(read_concern)) {
        Doc rc = iter_subdoc(read_concern);
        auto level = get_string(rc.get(), "level").value_or("snapshot");
        if (level != "snapshot" && level != "majority" && level != "local")
            return Error{
                72, "The readConcern level must be either 'snapshot', 'majority' or 'local'", {}};
    }
    if (s.state == TxnState::kInProgress) Commands::abort_txn(e, s);
    s.txn_number = n;
    s.state = TxnState::kInProgress;
    s.txn = std::make_unique<Txn>();
    s.txn->id = e.next_txn_id_++;
    s.txn->snapshot_ts = e.cluster_ts_;
    s.txn->started = Clock::now();
    e.active_txns_[s.txn->id] = s.txn.get();
    return ok_status();
}

// A later command of transaction N (TERMINAL: commitTransaction or abortTransaction, which
// answer for a committed or aborted transaction themselves).
Status continue_txn(const Session& s, int64_t n, bool has_read_concern, bool terminal) {
    if (has_read_concern && !terminal)
        return Error{72, "Only the first command in a transaction may specify a readConcern", {}};
    if (n != s.txn_number)
        return transient(251, "Given transaction number " + std::to_string(n) +
                                  " does not match any in-progress transactions.");
    if (terminal || s.state == TxnState::kInProgress) return ok_status();
    if (s.state == TxnState::kCommitted)
        return Error{256, "Transaction " + std::to_string(n) + " has been committed.", {}};
    return transient(251, "Transaction " + std::to_string(n) + " has been aborted.");
}

// The collections transaction T created join the catalog; for one that another client created
// meanwhile, T's indexes are added to it.
void add_created_collections(Engine& e, Txn& t) {
    for (auto& [ns, created] : t.new_collections) {
        Collection* existing = e.find_collection(created->db, created->name);
        if (!existing) {
            e.add_collection(std::move(created), true);
            continue;
        }
        for (auto& idx : created->indexes) {
            bool known = false;
            for (const auto& have : existing->indexes) known = known || have.name == idx.name;
            if (known) continue;
            if (e.persistence_) e.persistence_->log_index(existing->db, existing->name, idx);
            existing->indexes.push_back(std::move(idx));
        }
        (void)rebuild_unique(*existing);
    }
    t.new_collections.clear();
}

// Commits a transaction's writes ENTRIES to namespace NS at TS, in the order they were made;
// OTHERS: other transactions are open and keep the history.
void apply_overlay(Engine& e, const std::string& ns,
                   const std::map<std::string, OverlayEntry>& entries, uint64_t ts, bool others) {
    std::vector<std::pair<uint64_t, std::pair<const std::string*, const OverlayEntry*>>> ordered;
    for (const auto& [k, en] : entries) ordered.push_back({en.seq, {&k, &en}});
    std::sort(ordered.begin(), ordered.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto dot = ns.find('.');
    std::string db = ns.substr(0, dot), coll = ns.substr(dot + 1);
    Collection* col = e.find_collection(db, coll);
    if (!col) {
        auto r = e.create_collection(db, coll, nullptr, true);
        if (!r.ok()) return;
        col = r.value();
    }
    for (const auto& [seq, kv] : ordered) {
        const std::string& key = *kv.first;
        const OverlayEntry& en = *kv.second;
        DocPtr before = col->current(key);
        if (!before && !en.doc) continue;
        apply_committed(*col, key, en.doc, ts, others);
        if (others) e.gc_candidates_.emplace_back(ns, 0);
        if (!e.persistence_) continue;
        if (en.doc) {
            e.persistence_->log_put(db, coll, en.doc);
        } else {
            Doc idd = id_doc_of(before);
            e.persistence_->log_delete(db, coll, idd.get());
        }
    }
}

// The change events of transaction T (number TXN_NUMBER of session S), all at clusterTime TS.
void publish_events(Engine& e, const Session& s, Txn& t, uint64_t ts, int64_t txn_number) {
    int64_t wall = e.now_ms();
    uint32_t idx = 0;
    LazyDoc lsid(s.lsid);
    for (Event& ev : t.events) {
        ev.ts = ts;
        ev.wall_ms = wall;
        ev.txn_index = idx++;
        ev.lsid = lsid;
        ev.txn_number = txn_number;
        Commands::append_event(e, std::move(ev));
    }
}

}  // namespace

Status Commands::begin_command(Engine& e, CommandCtx& c) {
    auto st = attach_session(e, c);
    if (st.ok()) st = read_txn_fields(e, c);
    if (!st.ok() || !c.txn_number) return st;
    Session& s = *c.session;
    int64_t n = *c.txn_number;
    if (n < s.txn_number)
        return Error{225,
                     "Cannot start transaction " + std::to_string(n) +
                         " on session because a newer transaction " + std::to_string(s.txn_number) +
                         " has already started.",
                     {}};
    bson_iter_t rc;
    bool has_read_concern = bson_iter_init_find(&rc, c.cmd, "readConcern");
    if (!c.autocommit_false) return retryable_write_number(e, c, s, n);
    bool terminal = c.name == "commitTransaction" || c.name == "abortTransaction";
    st = c.start_transaction ? start_txn(e, s, n, has_read_concern ? &rc : nullptr)
                             : continue_txn(s, n, has_read_concern, terminal);
    if (!st.ok()) return st;
    if (!terminal) {
        c.in_txn = true;
        c.txn = s.txn.get();
    }
    return ok_status();
}

void Commands::abort_txn(Engine& e, Session& s) {
    if (s.txn) {
        release(e, *s.txn);
        s.txn.reset();
    }
    if (s.state == TxnState::kInProgress) s.state = TxnState::kAborted;
    collect_garbage(e);
    e.wake_waiters();
}

Outcome Commands::commit_transaction(Engine& e, CommandCtx& c) {
    if (c.db != "admin")
        return reply_error(
            Error{13, "commitTransaction may only be run against the admin database.", {}});
    if (!c.session || !c.txn_number || !c.autocommit_false)
        return reply_error(Error{50768, "commitTransaction must be run within a transaction", {}});
    Session& s = *c.session;
    if (s.state == TxnState::kCommitted) return reply_ok(Doc());
    if (s.state != TxnState::kInProgress || !s.txn)
        return reply_error(
            transient(251, "Transaction " + std::to_string(*c.txn_number) + " has been aborted."));
    Txn& t = *s.txn;
    if (t.failed) {
        abort_txn(e, s);
        return reply_error(transient(251, "Transaction has been aborted."));
    }
    bool any_write = !t.new_collections.empty();
    for (const auto& [ns, entries] : t.overlay) any_write = any_write || !entries.empty();
    if (any_write) {
        add_created_collections(e, t);
        uint64_t ts = e.next_ts();
        bool others = e.active_txns_.size() > 1;
        for (const auto& [ns, entries] : t.overlay) apply_overlay(e, ns, entries, ts, others);
        publish_events(e, s, t, ts, *c.txn_number);
    }
    release(e, t);
    s.txn.reset();
    s.state = TxnState::kCommitted;
    collect_garbage(e);
    e.wake_waiters();
    return reply_ok(Doc());
}

Outcome Commands::abort_transaction(Engine& e, CommandCtx& c) {
    if (c.db != "admin")
        return reply_error(
            Error{13, "abortTransaction may only be run against the admin database.", {}});
    if (!c.session || !c.txn_number || !c.autocommit_false)
        return reply_error(Error{50768, "abortTransaction must be run within a transaction", {}});
    Session& s = *c.session;
    if (s.state == TxnState::kCommitted)
        return reply_error(Error{
            256, "Transaction " + std::to_string(*c.txn_number) + " has been committed.", {}});
    if (s.state != TxnState::kInProgress)
        return reply_error(
            transient(251, "Transaction " + std::to_string(*c.txn_number) + " has been aborted."));
    abort_txn(e, s);
    return reply_ok(Doc());
}

Outcome Commands::end_sessions(Engine& e, CommandCtx& c) {
    auto end_one = [&](const std::string& key) {
        auto it = e.sessions_.find(key);
        if (it == e.sessions_.end()) return;
        if (it->second.state == TxnState::kInProgress) abort_txn(e, it->second);
        e.sessions_.erase(it);
    };
    if (c.name == "killAllSessions") {
        std::vector<std::string> keys;
        for (auto& [k, s] : e.sessions_) keys.push_back(k);
        for (auto& k : keys) end_one(k);
        c.session = nullptr;
        return reply_ok(Doc());
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, c.cmd, c.name.c_str()) && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t a;
        bson_iter_recurse(&it, &a);
        while (bson_iter_next(&a)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&a)) continue;
            Doc l = iter_subdoc(&a);
            bson_iter_t id;
            if (!bson_iter_init_find(&id, l.get(), "id") || !BSON_ITER_HOLDS_BINARY(&id)) continue;
            const uint8_t* data;
            uint32_t len;
            bson_subtype_t st;
            bson_iter_binary(&id, &st, &len, &data);
            std::string key = hex_upper(data, len);
            if (c.session && c.session->key == key) c.session = nullptr;
            end_one(key);
        }
    }
    return reply_ok(Doc());
}

Result<Collection*> Commands::collection_for_write(Engine& e, CommandCtx& c,
                                                   const std::string& coll) {
    if (Collection* col = e.find_collection(c.db, coll, c.txn)) return col;
    if (c.in_txn && c.txn) {
        // Created by the transaction: nobody else sees it before the commit.
        auto made = Engine::new_collection(c.db, coll, nullptr);
        if (!made.ok()) return made.error();
        Collection* raw = made.value().get();
        c.txn->new_collections[ns_of(c.db, coll)] = std::move(made.value());
        return raw;
    }
    return e.create_collection(c.db, coll, nullptr, true);
}

Status Commands::write(Engine& e, CommandCtx& c, Collection& coll, const std::string& id_key,
                       const DocPtr& before, const DocPtr& after, Event ev) {
    if (!c.in_txn && e.locks_.empty() && e.active_txns_.empty()) {
        // Fast path: no transaction is open, so nothing can block or needs old versions.
        uint64_t ts = e.next_ts();
        apply_committed(coll, id_key, after, ts, false);
        if (e.persistence_) {
            if (after) {
                e.persistence_->log_put(coll.db, coll.name, after);
            } else {
                Doc idd = id_doc_of(before);
                e.persistence_->log_delete(coll.db, coll.name, idd.get());
            }
        }
        ev.ts = ts;
        append_event(e, std::move(ev));
        return ok_status();
    }
    std::string ns = ns_of(coll.db, coll.name);
    std::string lk = lock_key(ns, id_key);
    if (c.in_txn && c.txn) {
        Txn& t = *c.txn;
        auto held = e.locks_.find(lk);
        if (held != e.locks_.end() && held->second != t.id)
            return Error{112,
                         "WriteConflict error: this operation conflicted with another operation. "
                         "Please retry your operation or multi-document transaction.",
                         {}};
        auto bid = coll.by_id.find(id_key);
        if (bid != coll.by_id.end()) {
            auto r = coll.records.find(bid->second);
            if (r != coll.records.end() && !r->second.versions.empty() &&
                r->second.versions.back().ts > t.snapshot_ts)
                return Error{
                    112,
                    "WriteConflict error: this operation conflicted with another operation. Please "
                    "retry your operation or multi-document transaction.",
                    {}};
        }
        auto& entries = t.overlay[ns];
        auto en = entries.find(id_key);
        if (en == entries.end()) {
            OverlayEntry oe;
            oe.doc = after;
            oe.seq = t.next_seq++;
            oe.existed_before = before != nullptr;
            entries.emplace(id_key, std::move(oe));
        } else {
            en->second.doc = after;
        }
        e.locks_[lk] = t.id;
        t.events.push_back(std::move(ev));
        return ok_status();
    }
    if (e.locks_.count(lk))
        return Error{kBlockedByTransaction, "document is held by a transaction", {}};
    uint64_t ts = e.next_ts();
    bool history = !e.active_txns_.empty();
    apply_committed(coll, id_key, after, ts, history);
    if (history) e.gc_candidates_.emplace_back(ns, 0);
    if (e.persistence_) {
        if (after) {
            e.persistence_->log_put(coll.db, coll.name, after);
        } else {
            Doc idd = id_doc_of(before);
            e.persistence_->log_delete(coll.db, coll.name, idd.get());
        }
    }
    ev.ts = ts;
    append_event(e, std::move(ev));
    return ok_status();
}

}  // namespace standin
