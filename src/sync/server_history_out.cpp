// ServerCore, history going out to one client: catch-up from a position, the streamed full sync,
// the Apply frames of a record (in parts when too big), and record tags.
#include <algorithm>
#include <optional>

#include "sync/server_core_internal.hpp"

namespace outpost::sync {

using namespace server_internal;

Status ServerCore::send_catch_up(Session& s, uint64_t after, uint64_t until,
                                 rules::SessionScope* old_scope) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    while (after < until && !s.closed) {
        OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, after, kCatchUpBatch));
        if (recs.empty()) break;
        for (auto& rec : recs) {
            if (rec.position > until) return Status::ok();
            after = rec.position;
            // The client's own records go whole too: they are here only when their Acks were lost,
            // and the client, told at login that they were applied, no longer holds them as
            // pending. Applied in history order, they put its values back over the older records
            // of others that it applies first.
            std::string encoded = encode_change_set(rec.changes);
            const uint64_t tag = record_tag(rec, encoded);
            std::optional<ChangeSet> in_scope;
            if (s.scope) {
                ScopeCache cache(rec.changes);
                OUTPOST_ASSIGN_OR_RETURN(in_scope, scoped(s, txn, rec.changes, cache, old_scope));
            }
            if (!in_scope && s.known.knows_all) {
                for (auto& f : apply_frames(rec.position, rec.changes, std::move(encoded), tag))
                    send(s, std::move(f));
            } else {
                ChangeSet mine = s.known.filter(in_scope ? *in_scope : rec.changes);
                for (auto& f : apply_frames(rec.position, mine, encode_change_set(mine), tag))
                    send(s, std::move(f));
            }
        }
    }
    return Status::ok();
}

Status ServerCore::start_full_sync(Session& s) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    auto fs = std::make_unique<Session::FullSync>(std::move(txn));
    OUTPOST_ASSIGN_OR_RETURN(fs->snapshot, ChangeLog::last_position(fs->txn));
    OUTPOST_ASSIGN_OR_RETURN(fs->tag, tag_at(fs->txn, fs->snapshot));
    s.sent_seq = fs->snapshot;
    full_sync_snapshots_.insert(fs->snapshot);
    s.full_sync = std::move(fs);
    return continue_full_sync(s);
}

Status ServerCore::continue_full_sync(Session& s) {
    Session::FullSync& fs = *s.full_sync;
    const auto& entities = store_->model().entities;
    // Moves the cursor to the next object to send; false at the end.
    auto advance = [&]() -> Result<bool> {
        while (fs.entity < entities.size()) {
            const Entity& e = entities[fs.entity];
            if (!e.sync || !s.known.knows(e.id.uid)) {
                ++fs.entity;
                continue;
            }
            if (!fs.box) {
                OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e.name));
                if (s.scope) {
                    // Only the objects in the client's read scope (an index finds them where the
                    // rule allows).
                    s.scope->set_now(wall_now_ms());
                    OUTPOST_ASSIGN_OR_RETURN(fs.ids, s.scope->readable_ids(fs.txn, e.id.uid));
                    log(LogLevel::kDebug, "session " + std::to_string(s.id) + ": full sync of " +
                                              e.name + ": " + s.scope->read_plan(e.id.uid));
                } else {
                    OUTPOST_ASSIGN_OR_RETURN(fs.ids, box.ids(fs.txn));
                }
                fs.box.emplace(box.verified());  // damaged objects: an error, not a crash
                fs.next = 0;
            }
            if (fs.next < fs.ids.size()) return true;
            fs.box.reset();
            fs.ids.clear();
            ++fs.entity;
        }
        return false;
    };
    while (!s.closed) {
        if (options_.full_sync_window_bytes != 0 &&
            s.connection->queued_bytes() >= options_.full_sync_window_bytes) {
            return Status::ok();  // continued when the connection has drained
        }
        ChangeSet chunk;
        size_t chunk_bytes = 0;
        bool more = true;
        while (chunk.objects.size() < options_.full_sync_chunk_objects &&
               chunk_bytes < options_.full_sync_chunk_bytes) {
            OUTPOST_ASSIGN_OR_RETURN(more, advance());
            if (!more) break;
            const Entity& e = entities[fs.entity];
            const uint64_t id = fs.ids[fs.next++];
            const detail::KnownEntity* ke = nullptr;
            if (!s.known.knows_all) ke = &s.known.entities.at(e.id.uid);
            OUTPOST_ASSIGN_OR_RETURN(auto obj, fs.box->get(fs.txn, id));
            OUTPOST_ASSIGN_OR_RETURN(auto gid, gid_of(fs.txn, *fs.box, id));
            if (!obj || !gid) continue;
            size_t bytes = 0;
            OUTPOST_ASSIGN_OR_RETURN(ObjectChange c,
                                     describe_object(fs.txn, e, *fs.box, id, *gid, ke, bytes));
            chunk.objects.push_back(std::move(c));
            chunk_bytes += bytes;
        }
        if (more) {
            OUTPOST_ASSIGN_OR_RETURN(more, advance());
        }
        send(s, encode_message(
                    FullSyncChunk{fs.snapshot, std::move(chunk), !more, more ? 0 : fs.tag}));
        if (!more) return finish_full_sync(s);
    }
    return Status::ok();
}

Status ServerCore::finish_full_sync(Session& s) {
    const uint64_t snapshot = s.full_sync->snapshot;
    full_sync_snapshots_.erase(full_sync_snapshots_.find(snapshot));
    s.full_sync.reset();
    // The records fanned out to the others meanwhile follow (kept: trimming stops at the snapshot).
    const uint64_t until = std::max(snapshot, fanned_seq_);
    if (until > snapshot) OUTPOST_RETURN_IF_ERROR(send_catch_up(s, snapshot, until));
    s.sent_seq = until;
    // Then the pushes that waited, in order.
    std::vector<Push> held = std::move(s.held);
    s.held.clear();
    for (size_t i = 0; i < held.size() && !s.closed; i += kMaxPushesPerCommit) {
        const size_t n = std::min(kMaxPushesPerCommit, held.size() - i);
        handle_pushes(s, std::span(held.data() + i, n));
    }
    return Status::ok();
}

bool ServerCore::continue_full_syncs() {
    if (full_sync_snapshots_.empty()) return false;
    for (auto& [id, sp] : sessions_) {
        Session& s = *sp;
        if (!s.full_sync || s.closed) continue;
        if (Status st = continue_full_sync(s); !st)
            fail(s, ErrorCode::kSyncServerError, st.to_string());
    }
    return !full_sync_snapshots_.empty();
}

Result<ObjectChange> ServerCore::describe_object(Txn& txn, const Entity& e, DynamicBox& box,
                                                 uint64_t id, const Gid& gid,
                                                 const detail::KnownEntity* ke, size_t& bytes) {
    OUTPOST_ASSIGN_OR_RETURN(auto obj, box.get(txn, id));
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = e.id.uid;
    c.gid = gid;
    c.is_new = true;
    bytes += gid.size() + 16;
    if (!obj) return c;
    for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        if (p.has(kFlagId) || (ke && !ke->properties.count(p.id.uid))) continue;
        const Value& v = obj->values()[i];
        if (v.is_null()) continue;
        PropertyChange pc;
        pc.property_uid = p.id.uid;
        if (p.type == PropertyType::kRelation) {
            if (!v.is<int64_t>() || v.as<int64_t>() == 0) continue;
            OUTPOST_ASSIGN_OR_RETURN(DynamicBox target, store_->box(p.target));
            OUTPOST_ASSIGN_OR_RETURN(auto tgid,
                                     gid_of(txn, target, static_cast<uint64_t>(v.as<int64_t>())));
            if (!tgid) continue;
            pc.value = Value(Bytes(tgid->begin(), tgid->end()));
        } else {
            pc.value = v;
        }
        bytes += approx_size(pc.value) + 4;
        c.properties.push_back(std::move(pc));
    }
    for (size_t r = 0; r < e.relations.size(); ++r) {
        const Relation& rel = e.relations[r];
        if (ke && !ke->relations.count(rel.id.uid)) continue;
        OUTPOST_ASSIGN_OR_RETURN(auto targets, box.get_to_many(txn, static_cast<int>(r), id));
        if (targets.empty()) continue;
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox target, store_->box(rel.target));
        ToManyChange tc;
        tc.relation_uid = rel.id.uid;
        for (uint64_t t : targets) {
            OUTPOST_ASSIGN_OR_RETURN(auto tgid, gid_of(txn, target, t));
            if (tgid) {
                bytes += tgid->size() + 1;
                tc.targets.push_back(std::move(*tgid));
            }
        }
        c.to_many.push_back(std::move(tc));
    }
    return c;
}

std::vector<std::string> ServerCore::apply_frames(uint64_t position, const ChangeSet& changes,
                                                  std::string encoded, uint64_t tag) const {
    std::vector<std::string> frames;
    if (encoded.size() + 64 <= options_.max_message_size) {
        frames.push_back(encode_apply(position, encoded, false, tag));
        return frames;
    }
    std::vector<ChangeSet> parts = split_change_set(changes, options_.max_message_size / 2);
    for (size_t i = 0; i < parts.size(); ++i) {
        frames.push_back(
            encode_apply(position, encode_change_set(parts[i]), i + 1 < parts.size(), tag));
    }
    return frames;
}

Result<uint64_t> ServerCore::tag_at(Txn& txn, uint64_t position) {
    if (position == 0) return uint64_t{0};
    OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, position - 1, 1));
    if (recs.empty() || recs.front().position != position) return uint64_t{0};
    return record_tag(recs.front(), encode_change_set(recs.front().changes));
}

}  // namespace outpost::sync
