// ServerCore, sync rules (docs/sync-rules.md): a session's scope at login, the difference when it
// changed since the client's last login, the part of each history record a scoped session gets,
// and pushes outside the write scope.
#include <algorithm>
#include <cstdio>

#include "sync/server_core_internal.hpp"

namespace outpost::sync {

using namespace server_internal;

namespace {

// A scope change at login goes as its difference up to this many objects (and half the maximum
// message size); a larger one is a full sync of the new scope.
constexpr size_t kMaxScopeChangeObjects = 10'000;

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// Meta key of the definition of the scope with TAG (SessionScope::definition), kept when a session
// first holds it, so that a later login of a client that holds it can compute the difference.
std::string scope_def_key(uint64_t tag) { return "sync.scope_def." + hex64(tag); }

ObjectChange removal_of(const ObjectChange& c) {
    ObjectChange rm;
    rm.kind = ObjectChange::kRemove;
    rm.entity_uid = c.entity_uid;
    rm.gid = c.gid;
    return rm;
}

bool touches(const ObjectChange& c, const std::vector<uint64_t>& props) {
    if (props.empty()) return false;
    return std::any_of(c.properties.begin(), c.properties.end(), [&](const PropertyChange& p) {
        return std::find(props.begin(), props.end(), p.property_uid) != props.end();
    });
}

// The ids in A that are not in B (both in id order).
std::vector<uint64_t> minus(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    std::vector<uint64_t> out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

}  // namespace

Status ServerCore::bind_scope(Session& s, const Login& login, MetaWrites& to_bind) {
    s.scope.reset();
    if (!options_.rules || s.identity.kind != auth::CredentialKind::kJwt) return Status::ok();
    auto scope = options_.rules->scope_for(s.identity, login.variables, store_);
    if (!scope) {
        return Status(
            ErrorCode::kSyncServerError,
            "the sync rules cannot be applied to this login: " + scope.status().message());
    }
    s.scope = std::move(scope).value();
    const std::string key = scope_def_key(s.scope->tag());
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto kept, get_meta(txn, key));
    txn.close();
    // Only this thread writes definitions; one per scope, shared by the clients that hold it
    // (two logins of one group may both add it: the same value).
    if (!kept) to_bind.emplace_back(key, s.scope->definition());
    return Status::ok();
}

Status ServerCore::change_scope(const Session& s, const Login& login, Txn& txn, LoginResume& r) {
    r.scope_tag = s.scope ? s.scope->tag() : rules::kUnrestrictedScopeTag;
    if (login.scope_tag == r.scope_tag || r.full) return Status::ok();
    // A client that never held a tag got its data before scopes existed (unrestricted), or has
    // none (a full sync follows anyway).
    if (login.scope_tag == 0 && !s.scope) return Status::ok();
    auto full = [&](const std::string& why) {
        r.full = true;
        r.scope_changes.objects.clear();
        log(LogLevel::kInfo, "session " + std::to_string(s.id) + ": client " + s.client +
                                 ": its scope changed; " + why + ": full sync");
        return Status::ok();
    };
    if (login.scope_tag == 0) return full("it holds no scope tag");
    std::unique_ptr<rules::SessionScope> old;
    if (login.scope_tag != rules::kUnrestrictedScopeTag) {
        if (!options_.rules) return full("its former scope is unknown (no sync rules)");
        OUTPOST_ASSIGN_OR_RETURN(auto def, get_meta(txn, scope_def_key(login.scope_tag)));
        if (!def) return full("its former scope is unknown");
        auto read = options_.rules->scope_from_definition(*def, store_);
        if (!read) return full("its former scope no longer fits: " + read.status().message());
        old = std::move(read).value();
        old->set_now(wall_now_ms());
    }
    if (s.scope) s.scope->set_now(wall_now_ms());
    size_t bytes = 0;
    for (const Entity& e : store_->model().entities) {
        if (!e.sync || !s.known.knows(e.id.uid)) continue;
        const bool was_all = !old || !old->restricts_read(e.id.uid);
        const bool is_all = !s.scope || !s.scope->restricts_read(e.id.uid);
        if (was_all && is_all) continue;
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e.name));
        OUTPOST_ASSIGN_OR_RETURN(std::vector<uint64_t> was,
                                 was_all ? box.ids(txn) : old->readable_ids(txn, e.id.uid));
        OUTPOST_ASSIGN_OR_RETURN(std::vector<uint64_t> now,
                                 is_all ? box.ids(txn) : s.scope->readable_ids(txn, e.id.uid));
        const std::vector<uint64_t> gone = minus(was, now), came = minus(now, was);
        if (r.scope_changes.objects.size() + gone.size() + came.size() > kMaxScopeChangeObjects)
            return full("the difference holds more than " + std::to_string(kMaxScopeChangeObjects) +
                        " objects");
        const detail::KnownEntity* ke =
            s.known.knows_all ? nullptr : &s.known.entities.at(e.id.uid);
        DynamicBox verified = box.verified();
        for (uint64_t id : gone) {
            OUTPOST_ASSIGN_OR_RETURN(auto gid, gid_of(txn, box, id));
            if (!gid) continue;
            ObjectChange rm;
            rm.kind = ObjectChange::kRemove;
            rm.entity_uid = e.id.uid;
            rm.gid = *gid;
            bytes += gid->size() + 16;
            r.scope_changes.objects.push_back(std::move(rm));
        }
        for (uint64_t id : came) {
            OUTPOST_ASSIGN_OR_RETURN(auto gid, gid_of(txn, box, id));
            if (!gid) continue;
            OUTPOST_ASSIGN_OR_RETURN(ObjectChange c,
                                     describe_object(txn, e, verified, id, *gid, ke, bytes));
            r.scope_changes.objects.push_back(std::move(c));
        }
        if (bytes > options_.max_message_size / 2)
            return full("the difference is larger than half the maximum message size");
    }
    r.old_scope = std::move(old);
    ++stats_.scope_diffs;
    log(LogLevel::kInfo,
        "session " + std::to_string(s.id) + ": client " + s.client + ": its scope changed; " +
            std::to_string(r.scope_changes.objects.size()) + " objects enter or leave it");
    return Status::ok();
}

Result<std::optional<ChangeSet>> ServerCore::scoped(Session& s, Txn& txn, const ChangeSet& changes,
                                                    ScopeCache& cache,
                                                    rules::SessionScope* old_scope) {
    rules::SessionScope& scope = *s.scope;
    const auto& objects = changes.objects;
    size_t k = 0;
    while (k < objects.size() && (objects[k].kind == ObjectChange::kRemove ||
                                  !scope.restricts_read(objects[k].entity_uid))) {
        ++k;
    }
    if (k == objects.size()) return std::optional<ChangeSet>();  // as they are
    scope.set_now(wall_now_ms());
    ChangeSet out;
    out.objects.assign(objects.begin(), objects.begin() + static_cast<long>(k));
    bool same = true;
    for (; k < objects.size(); ++k) {
        const ObjectChange& c = objects[k];
        if (c.kind == ObjectChange::kRemove || !scope.restricts_read(c.entity_uid)) {
            out.objects.push_back(c);
            continue;
        }
        const Entity* e = store_->model().entity_by_uid(c.entity_uid);
        if (!e) continue;
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e->name));
        if (!cache.looked[k]) {
            OUTPOST_ASSIGN_OR_RETURN(cache.ids[k], local_id_of(txn, box, c.gid));
            cache.looked[k] = 1;
        }
        bool matches = false;
        if (cache.ids[k]) {
            OUTPOST_ASSIGN_OR_RETURN(matches, scope.may_read(txn, c.entity_uid, *cache.ids[k]));
        }
        const bool touched =
            touches(c, scope.read_rule_properties(c.entity_uid)) ||
            (old_scope && touches(c, old_scope->read_rule_properties(c.entity_uid)));
        if (matches && (!touched || c.is_new)) {
            out.objects.push_back(c);
            continue;
        }
        same = false;
        if (matches) {
            // It may have moved in: the whole object.
            if (!cache.whole[k]) {
                DynamicBox verified = box.verified();
                OUTPOST_ASSIGN_OR_RETURN(cache.whole[k],
                                         full_state(txn, *e, verified, *cache.ids[k], c.gid));
            }
            out.objects.push_back(*cache.whole[k]);
        } else if (touched && !c.is_new) {
            out.objects.push_back(removal_of(c));  // it may have moved out: this client's copy goes
        }
    }
    if (same) return std::optional<ChangeSet>();
    return std::optional<ChangeSet>(std::move(out));
}

Result<bool> ServerCore::write_refused(WriteTxn& txn, const Session& s, const ObjectChange& c,
                                       ChangeSet& corrections) {
    const Entity* e = store_->model().entity_by_uid(c.entity_uid);
    if (!e) return false;
    rules::SessionScope& scope = *s.scope;
    scope.set_now(wall_now_ms());
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e->name));
    OUTPOST_ASSIGN_OR_RETURN(auto id, local_id_of(txn, box, c.gid));
    std::optional<Object> stored;
    if (id) {
        OUTPOST_ASSIGN_OR_RETURN(stored, box.verified().get(txn, *id));
    }
    bool allowed = true;
    if (stored) {
        OUTPOST_ASSIGN_OR_RETURN(allowed, scope.may_write(txn, *stored));
    }
    if (allowed && c.kind == ObjectChange::kPut) {
        // The object as the change leaves it (relations keep their stored targets: rules compare
        // an entity's own values, never through a relation).
        Object after = stored ? *stored : Object(*e);
        for (const auto& pc : c.properties) {
            for (size_t i = 0; i < e->properties.size(); ++i) {
                const Property& p = e->properties[i];
                if (p.id.uid != pc.property_uid || p.has(kFlagId)) continue;
                if (p.type != PropertyType::kRelation) after.values()[i] = pc.value;
            }
        }
        OUTPOST_ASSIGN_OR_RETURN(allowed, scope.may_write(txn, after));
    }
    if (allowed) return false;
    ++stats_.writes_refused;
    log(LogLevel::kWarn, "client " + s.client + " (user " + s.identity.user +
                             "): " + (c.kind == ObjectChange::kRemove ? "remove" : "put") + " of " +
                             e->name + " " + gid_to_string(c.gid) +
                             " refused: outside its write scope");
    bool readable = false;
    if (stored) {
        OUTPOST_ASSIGN_OR_RETURN(readable, scope.may_read(txn, *stored));
    }
    if (readable) {
        OUTPOST_ASSIGN_OR_RETURN(ObjectChange state, full_state(txn, *e, box, *id, c.gid));
        corrections.objects.push_back(std::move(state));
        return true;
    }
    corrections.objects.push_back(removal_of(c));
    if (!stored) {
        // A creation refused: later pushes of this object (sent before the client saw the
        // correction) are dropped too.
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, tombstone_key(c.entity_uid, c.gid), ""));
    }
    return true;
}

Status ServerCore::scope_corrections(Txn& txn, const Session& s, const ChangeSet& applied,
                                     ChangeSet& corrections) {
    rules::SessionScope& scope = *s.scope;
    scope.set_now(wall_now_ms());
    auto readable = [&](const ObjectChange& c) -> Result<bool> {
        const Entity* e = store_->model().entity_by_uid(c.entity_uid);
        if (!e) return false;
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e->name));
        OUTPOST_ASSIGN_OR_RETURN(auto id, local_id_of(txn, box, c.gid));
        if (!id) return false;
        return scope.may_read(txn, c.entity_uid, *id);
    };
    for (ObjectChange& c : corrections.objects) {
        if (c.kind != ObjectChange::kPut || !scope.restricts_read(c.entity_uid)) continue;
        OUTPOST_ASSIGN_OR_RETURN(bool ok, readable(c));
        if (!ok) c = removal_of(c);  // never shown: the client drops any copy it has
    }
    for (const ObjectChange& c : applied.objects) {
        if (c.kind != ObjectChange::kPut || !scope.restricts_read(c.entity_uid)) continue;
        OUTPOST_ASSIGN_OR_RETURN(bool ok, readable(c));
        if (!ok) corrections.objects.push_back(removal_of(c));  // the push moved it out
    }
    return Status::ok();
}

}  // namespace outpost::sync
