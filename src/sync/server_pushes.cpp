// ServerCore, pushes coming in: the parts of a transaction sent in parts, pushes held during a full
// sync, and pushes applied exactly once into the history (a group in one transaction), with the
// corrections kept for Acks that may be lost.
#include <algorithm>
#include <chrono>

#include "sync/server_core_internal.hpp"
#include "sync/unique_values.hpp"

namespace outpost::sync {

namespace server_internal {

std::string client_txn_key(const std::string& client_hex) {
    return "sync.client_txn." + client_hex;
}

std::string corrections_key(const std::string& client_hex) {
    return "sync.corrections." + client_hex;
}

std::vector<StoredCorrection> decode_corrections(std::string_view bytes) {
    std::vector<StoredCorrection> out;
    auto u = [&](size_t at, size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i)
            v |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
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

}  // namespace server_internal

using namespace server_internal;

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

Result<bool> ServerCore::screen_push(WriteTxn& txn, const Session& s, ChangeSet& changes,
                                     ChangeSet& corrections, ChangeSet& accepted) {
    // A delete beats a concurrent update: removed GIDs keep a tombstone, and puts for them are
    // dropped.
    auto& objects = changes.objects;
    std::vector<char> keep(objects.size(), 1);
    bool dropped = false;
    for (size_t k = 0; k < objects.size(); ++k) {
        ObjectChange& c = objects[k];
        if (s.scope && s.scope->restricts_write(c.entity_uid)) {
            OUTPOST_ASSIGN_OR_RETURN(bool refused, write_refused(txn, s, c, corrections));
            if (refused) {
                keep[k] = 0;
                dropped = true;
                continue;
            }
        }
        std::string tomb = tombstone_key(c.entity_uid, c.gid);
        if (c.kind == ObjectChange::kRemove) {
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, tomb, ""));
            continue;
        }
        OUTPOST_ASSIGN_OR_RETURN(auto dead, get_meta(txn, tomb));
        bool loses = false;
        if (!dead) {
            OUTPOST_ASSIGN_OR_RETURN(loses, loses_on_clock(txn, c, corrections));
        }
        if (!dead && !loses) {
            OUTPOST_ASSIGN_OR_RETURN(loses, loses_on_unique(txn, s, changes, c, corrections));
        }
        if (dead || loses) {
            keep[k] = 0;
            dropped = true;
            continue;
        }
        OUTPOST_RETURN_IF_ERROR(drop_references_to_removed(txn, store_->model(), c));
    }
    if (dropped) {
        for (size_t k = 0; k < objects.size(); ++k) {
            if (keep[k]) accepted.objects.push_back(objects[k]);
        }
    }
    return dropped;
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
        ChangeSet accepted;
        OUTPOST_ASSIGN_OR_RETURN(bool dropped,
                                 screen_push(txn, s, pushes[i].changes, corrections[i], accepted));
        const ChangeSet& apply = dropped ? accepted : push.changes;
        if (!entities_with_unique_.empty()) {
            OUTPOST_ASSIGN_OR_RETURN(ChangeSet frees, unique_values_to_free(txn, *store_, apply));
            if (!frees.empty()) {
                OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, frees, s.client, ApplyMode::kRecord));
            }
        }
        OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, apply, s.client, ApplyMode::kRecord));
        if (s.scope) OUTPOST_RETURN_IF_ERROR(scope_corrections(txn, s, apply, corrections[i]));
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

void ServerCore::note_apply_time(double seconds) {
    size_t bucket = 0;
    while (bucket < kApplySecondsBounds.size() && seconds > kApplySecondsBounds[bucket]) ++bucket;
    ++stats_.apply_seconds_counts[bucket];
    stats_.apply_seconds_sum += seconds;
}

void ServerCore::handle_pushes(Session& s, std::span<Push> pushes) {
    uint64_t record = 0;
    std::vector<ChangeSet> corrections;
    const auto started = std::chrono::steady_clock::now();
    auto applied = apply_pushes(s, pushes, record, corrections);
    if (applied) {
        note_apply_time(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
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
    for (size_t i = 0; i < pushes.size(); ++i) {
        if ((*applied)[i]) stats_.changes_applied += pushes[i].changes.objects.size();
    }
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
    // The client moves its position to the record of its pushes with their Acks.
    if (record != 0) s.acked_seq = std::max(s.acked_seq, record);
}

}  // namespace outpost::sync
