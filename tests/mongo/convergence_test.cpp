// A property test of the conflict rules (docs/sync-protocol.md, "Conflicts"; docs/mongo-mapping.md,
// "Concurrent edits"): devices, the sync server and a simulated MongoDB with the connector's rules,
// over the in-memory transport, under random interleavings of device writes, MongoDB writes,
// removals, references, lost Acks, dropped connections and server restarts. After each run every
// replica must hold the same objects.
//
// The MongoDB side is a model: documents keyed by entity and global id, and an oplog of
// transactions. What reaches it and what comes back goes through the connector's own rules:
// outbound_action() says what the outbound writer does with each server change,
// apply_stream_batch() applies MongoDB's changes to the server history as the change stream's
// committer does.
//
// OUTPOST_CONVERGENCE_SEEDS=N runs N seeds (default 2000); OUTPOST_CONVERGENCE_SEED=S runs seed S
// only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "common/status_macros.hpp"
#include "mongo/connector.hpp"
#include "mongo/inbound_pending.hpp"
#include "mongo/outbound_rules.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::mongo {
namespace {

using sync::testing::SyncNet;
using sync::testing::TestClient;

Model convergence_model() {
    ModelBuilder b;
    b.entity("Person")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString)
        .property("age", PropertyType::kInt32);
    b.entity("Note")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString)
        .relation_property("author", "Person")
        .to_many("readers", "Person");
    return b.build().value();
}

using Key = std::pair<uint64_t, Gid>;  // entity uid, global id

// One MongoDB document, as the model sees it: property uid -> value (relations: the target's global
// id as bytes), to-many relation uid -> targets.
struct Doc {
    std::map<uint64_t, Value> props;
    std::map<uint64_t, std::vector<Gid>> to_many;
};

// MongoDB with the connector's two sides.
class SimMongo {
  public:
    explicit SimMongo(const Model& model) : model_(model) {}

    // ---- MongoDB's own clients
    std::map<Key, Doc> docs;

    // One transaction by a MongoDB client: its changes are applied and go to the oplog.
    void client_txn(std::vector<ObjectChange> changes) {
        for (auto& c : changes) {
            apply(c);
            if (c.kind == ObjectChange::kPut && c.is_new)
                c = whole(c.entity_uid, c.gid);  // fullDocument
        }
        oplog_.push_back({false, 0, std::move(changes)});
    }

    // ---- outbound: the server history after the marker, one record per MongoDB transaction
    // Returns false when it has caught up.
    bool outbound_step(Store& server) {
        auto txn = server.begin_read().value();
        auto recs = ChangeLog::read(txn, marker_, 1).value();
        if (recs.empty()) return false;
        const ChangeLogRecord& rec = recs.front();
        marker_ = rec.position;
        std::vector<ObjectChange> written;
        if (rec.origin != kOrigin) {
            for (const auto& oc : rec.changes.objects) {
                auto box = server.box(model_.entity_by_uid(oc.entity_uid)->name).value();
                OutboundAction action = outbound_action(txn, box, oc).value();
                const Key key{oc.entity_uid, oc.gid};
                if (action == OutboundAction::kSkip) continue;
                if (action == OutboundAction::kDelete) {
                    if (docs.erase(key)) written.push_back(oc);
                    continue;
                }
                auto it = docs.find(key);
                if (it == docs.end() && action != OutboundAction::kUpsert) continue;  // no upsert
                ObjectChange c = oc;
                if (it == docs.end()) {
                    // A new object also sets its other mapped fields to null and its lists to [].
                    const Entity* e = model_.entity_by_uid(oc.entity_uid);
                    for (const auto& p : e->properties) {
                        if (p.has(kFlagId) || has_property(c, p.id.uid)) continue;
                        c.properties.push_back({p.id.uid, Value()});
                    }
                    for (const auto& r : e->relations) {
                        if (!has_relation(c, r.id.uid)) c.to_many.push_back({r.id.uid, {}});
                    }
                    c.is_new = true;
                } else {
                    c.is_new = false;
                }
                apply(c);
                written.push_back(std::move(c));
            }
        }
        oplog_.push_back({true, marker_, std::move(written)});  // always: the marker moved
        return true;
    }

    // ---- inbound: the oplog after the stream's position, one transaction per batch
    // Returns false when it has caught up.
    bool inbound_step(Store& server, bool* changed, size_t max_txns = 1) {
        if (stream_ >= oplog_.size()) return false;
        // One getMore batch: up to MAX_TXNS transactions of the oplog, this server's markers among
        // them; each change carries the newest marker passed before it.
        std::vector<detail::Mapped> batch;
        uint64_t passed = own_seen_;
        for (size_t n = 0; n < max_txns && stream_ < oplog_.size(); ++n) {
            const OplogTxn& t = oplog_[stream_++];
            if (t.own) {
                passed = std::max(passed, t.marker);  // this server's write: skipped, marker passed
                continue;
            }
            for (const auto& c : t.changes) {
                detail::Mapped m;
                m.change = c;
                m.change.is_new = false;
                m.own_seen = passed;
                batch.push_back(std::move(m));
            }
        }
        uint64_t superseded = 0;
        Status st = server.write([&](WriteTxn& txn) {
            return detail::apply_stream_batch(txn, batch, passed, committed_seen_, &superseded);
        });
        EXPECT_OK(st);
        own_seen_ = std::max(passed, committed_seen_);
        *changed = true;
        return true;
    }

    // Documents as the model reads them: every property (null when absent), every list.
    std::map<Key, Doc> state() const { return docs; }

  private:
    struct OplogTxn {
        bool own;
        uint64_t marker;
        std::vector<ObjectChange> changes;  // an insert: a put of the whole document
    };

    static bool has_property(const ObjectChange& c, uint64_t uid) {
        for (const auto& p : c.properties) {
            if (p.property_uid == uid) return true;
        }
        return false;
    }
    static bool has_relation(const ObjectChange& c, uint64_t uid) {
        for (const auto& t : c.to_many) {
            if (t.relation_uid == uid) return true;
        }
        return false;
    }

    void apply(const ObjectChange& c) {
        const Key key{c.entity_uid, c.gid};
        if (c.kind == ObjectChange::kRemove) {
            docs.erase(key);
            return;
        }
        Doc& d = docs[key];
        for (const auto& p : c.properties) d.props[p.property_uid] = p.value;
        for (const auto& t : c.to_many) d.to_many[t.relation_uid] = t.targets;
    }

    // The insert event of a document: every mapped field of the document as it is now.
    ObjectChange whole(uint64_t entity_uid, const Gid& gid) const {
        ObjectChange c;
        c.kind = ObjectChange::kPut;
        c.entity_uid = entity_uid;
        c.gid = gid;
        const Entity* e = model_.entity_by_uid(entity_uid);
        auto it = docs.find({entity_uid, gid});
        for (const auto& p : e->properties) {
            if (p.has(kFlagId)) continue;
            Value v;
            if (it != docs.end()) {
                if (auto f = it->second.props.find(p.id.uid); f != it->second.props.end())
                    v = f->second;
            }
            c.properties.push_back({p.id.uid, v});
        }
        for (const auto& r : e->relations) {
            std::vector<Gid> targets;
            if (it != docs.end()) {
                if (auto f = it->second.to_many.find(r.id.uid); f != it->second.to_many.end()) {
                    targets = f->second;
                }
            }
            c.to_many.push_back({r.id.uid, std::move(targets)});
        }
        return c;
    }

    const Model& model_;
    std::vector<OplogTxn> oplog_;
    size_t stream_ = 0;            // the change stream's position in the oplog
    uint64_t marker_ = 0;          // the outbound writer's position in the server history
    uint64_t own_seen_ = 0;        // the newest marker the stream has passed
    uint64_t committed_seen_ = 0;  // the stream's own_seen as committed with the data
};

// ---- replicas as comparable text: a reference to an object the replica does not hold reads as
// null, and a list skips such targets (every replica clears its references when it applies a
// remove; MongoDB keeps a deleted document's _id in the documents that name it).

std::string hex(const Gid& g) { return gid_to_string(g); }

std::string value_text(const Value& v) {
    if (v.is_null()) return "null";
    if (v.is<int64_t>()) return std::to_string(v.as<int64_t>());
    if (v.is<std::string>()) return "\"" + v.as<std::string>() + "\"";
    return "?";
}

using Replica = std::map<std::string, std::string>;  // "Entity gid" -> "prop=value ..."

Replica of_store(Store& store) {
    Replica out;
    auto txn = store.begin_read().value();
    std::map<std::string, DynamicBox> boxes;
    for (const auto& e : store.model().entities) boxes.emplace(e.name, store.box(e.name).value());
    auto target_gid = [&](const std::string& entity, uint64_t id) -> std::optional<Gid> {
        if (id == 0) return std::nullopt;
        DynamicBox& box = boxes.at(entity);
        if (!box.contains(txn, id).value()) return std::nullopt;
        return gid_of(txn, box, id).value();
    };
    for (const auto& e : store.model().entities) {
        DynamicBox& box = boxes.at(e.name);
        for (const auto& o : box.get_all(txn).value()) {
            std::string text;
            for (const auto& p : e.properties) {
                if (p.has(kFlagId)) continue;
                const Value& v = o.get(p.name);
                if (p.type == PropertyType::kRelation) {
                    auto g = v.is_null()
                                 ? std::nullopt
                                 : target_gid(p.target, static_cast<uint64_t>(v.as<int64_t>()));
                    text += p.name + "=" + (g ? hex(*g) : "null") + " ";
                } else {
                    text += p.name + "=" + value_text(v) + " ";
                }
            }
            for (size_t r = 0; r < e.relations.size(); ++r) {
                text += e.relations[r].name + "=[";
                for (uint64_t id : o.to_many()[r]) {
                    if (auto g = target_gid(e.relations[r].target, id)) text += hex(*g) + ",";
                }
                text += "] ";
            }
            out[e.name + " " + hex(gid_of(txn, box, o.id).value().value())] = text;
        }
    }
    return out;
}

Replica of_mongo(const SimMongo& mongo, const Model& model) {
    Replica out;
    auto docs = mongo.state();
    auto exists = [&](const std::string& entity, const Gid& g) {
        return docs.count({model.entity(entity)->id.uid, g}) > 0;
    };
    for (const auto& [key, doc] : docs) {
        const Entity* e = model.entity_by_uid(key.first);
        std::string text;
        for (const auto& p : e->properties) {
            if (p.has(kFlagId)) continue;
            Value v;
            if (auto f = doc.props.find(p.id.uid); f != doc.props.end()) v = f->second;
            if (p.type == PropertyType::kRelation) {
                std::optional<Gid> g;
                if (v.is<Bytes>()) g = Gid(v.as<Bytes>().begin(), v.as<Bytes>().end());
                text += p.name + "=" + (g && exists(p.target, *g) ? hex(*g) : "null") + " ";
            } else {
                text += p.name + "=" + value_text(v) + " ";
            }
        }
        for (const auto& r : e->relations) {
            text += r.name + "=[";
            if (auto f = doc.to_many.find(r.id.uid); f != doc.to_many.end()) {
                for (const auto& g : f->second) {
                    if (exists(r.target, g)) text += hex(g) + ",";
                }
            }
            text += "] ";
        }
        out[e->name + " " + hex(key.second)] = text;
    }
    return out;
}

std::string diff(const Replica& a, const Replica& b) {
    std::ostringstream out;
    int n = 0;
    for (const auto& [k, v] : a) {
        auto it = b.find(k);
        if (it == b.end()) {
            out << "\n  only in the first: " << k << " " << v;
        } else if (it->second != v) {
            out << "\n  " << k << ": " << v << " vs " << it->second;
        } else {
            continue;
        }
        if (++n > 6) return out.str();
    }
    for (const auto& [k, v] : b) {
        if (!a.count(k)) out << "\n  only in the second: " << k << " " << v;
        if (++n > 12) break;
    }
    return out.str();
}

// ---- one run

class Scenario {
  public:
    explicit Scenario(uint32_t seed)
        : seed_(seed), rng_(seed), model_(convergence_model()), net_(model_), mongo_(model_) {
        person_ = model_.entity("Person");
        note_ = model_.entity("Note");
        for (int i = 0; i < 3; ++i) {
            devices_.push_back(&net_.add_client("d" + std::to_string(i)));
            net_.connect(*devices_.back());
        }
    }

    // Returns the failure, or "" when every replica agrees.
    std::string go(int steps) {
        for (int step = 0; step < steps; ++step) {
            switch (rng_() % 16) {
                case 0:
                case 1:
                case 2:
                case 3:
                case 4:
                    device_write(pick_device(), step);
                    break;
                case 5:
                case 6:
                    mongo_write(step);
                    break;
                case 7:
                case 8:
                    outbound();
                    break;
                case 9:
                case 10:
                    inbound();
                    break;
                case 11:
                    link_fault(pick_device());
                    break;
                case 12:
                    if (rng_() % 8 == 0) net_.restart_server();
                    break;
                default:
                    break;
            }
            for (int k = static_cast<int>(rng_() % 3); k > 0; --k) net_.pump_once();
        }
        return settle();
    }

  private:
    TestClient& pick_device() { return *devices_[rng_() % devices_.size()]; }

    Value text_value(const char* what, int step) {
        return Value(std::string(what) + std::to_string(step));
    }

    // Global ids of ENTITY on STORE (objects it holds), and on MongoDB.
    std::vector<std::pair<uint64_t, Gid>> objects(Store& store, const Entity& e) {
        std::vector<std::pair<uint64_t, Gid>> out;
        auto txn = store.begin_read().value();
        auto box = store.box(e.name).value();
        for (uint64_t id : box.ids(txn).value())
            out.emplace_back(id, gid_of(txn, box, id).value().value());
        return out;
    }

    void device_write(TestClient& d, int step) {
        auto people = objects(*d.store, *person_);
        auto notes = objects(*d.store, *note_);
        auto write = [&](auto&& fn) {
            Status st = d.store->write([&](WriteTxn& txn) { return fn(txn); });
            ASSERT_OK(st);
        };
        const int op = static_cast<int>(rng_() % 10);
        auto pbox = d.store->box("Person").value();
        auto nbox = d.store->box("Note").value();
        if (op < 2 || people.empty()) {
            write([&](WriteTxn& txn) -> Status {
                Object o = pbox.new_object();
                OUTPOST_RETURN_IF_ERROR(o.set("name", text_value("p", step)));
                OUTPOST_RETURN_IF_ERROR(o.set("age", Value(int64_t{step % 90})));
                return pbox.put(txn, o).status();
            });
        } else if (op < 4) {
            write([&](WriteTxn& txn) -> Status {
                Object o = nbox.new_object();
                OUTPOST_RETURN_IF_ERROR(o.set("text", text_value("n", step)));
                OUTPOST_RETURN_IF_ERROR(o.set(
                    "author", Value(static_cast<int64_t>(people[rng_() % people.size()].first))));
                OUTPOST_RETURN_IF_ERROR(
                    o.set_to_many("readers", {people[rng_() % people.size()].first}));
                return nbox.put(txn, o).status();
            });
        } else if (op < 7) {
            const bool person = notes.empty() || rng_() % 2;
            auto& box = person ? pbox : nbox;
            auto& list = person ? people : notes;
            const uint64_t id = list[rng_() % list.size()].first;
            write([&](WriteTxn& txn) -> Status {
                auto o = box.get(txn, id);
                OUTPOST_RETURN_IF_ERROR(o.status());
                if (!*o) return Status::ok();
                Object obj = **o;
                if (person) {
                    if (rng_() % 2) {
                        OUTPOST_RETURN_IF_ERROR(obj.set("name", text_value("p", step)));
                    } else {
                        OUTPOST_RETURN_IF_ERROR(obj.set("age", Value(int64_t{step % 90})));
                    }
                } else {
                    switch (rng_() % 3) {
                        case 0:
                            OUTPOST_RETURN_IF_ERROR(obj.set("text", text_value("n", step)));
                            break;
                        case 1:
                            OUTPOST_RETURN_IF_ERROR(obj.set(
                                "author",
                                Value(static_cast<int64_t>(people[rng_() % people.size()].first))));
                            break;
                        default:
                            OUTPOST_RETURN_IF_ERROR(
                                obj.set_to_many("readers", {people[rng_() % people.size()].first,
                                                            people[rng_() % people.size()].first}));
                    }
                }
                return box.put(txn, obj).status();
            });
        } else {
            const bool person = notes.empty() || rng_() % 2;
            auto& box = person ? pbox : nbox;
            auto& list = person ? people : notes;
            const uint64_t id = list[rng_() % list.size()].first;
            write([&](WriteTxn& txn) -> Status { return box.remove(txn, id).status(); });
        }
        d.core->poll();
    }

    void mongo_write(int step) {
        std::vector<Gid> people, notes;
        for (const auto& [key, doc] : mongo_.docs) {
            (key.first == person_->id.uid ? people : notes).push_back(key.second);
        }
        std::vector<ObjectChange> txn;
        const int n = 1 + static_cast<int>(rng_() % 2);
        for (int i = 0; i < n; ++i) {
            ObjectChange c;
            const int op = static_cast<int>(rng_() % 10);
            const bool person = notes.empty() || rng_() % 2;
            const Entity& e = person ? *person_ : *note_;
            auto& list = person ? people : notes;
            auto uid = [&](const Entity& ent, const char* name) {
                return ent.property(name)->id.uid;
            };
            auto some_person = [&]() -> Value {
                if (people.empty()) return Value();
                const Gid& g = people[rng_() % people.size()];
                return Value(Bytes(g.begin(), g.end()));
            };
            c.entity_uid = e.id.uid;
            c.kind = ObjectChange::kPut;
            if (op < 3 || list.empty()) {  // insert
                c.gid = new_object_id_gid();
                c.is_new = true;
                if (person) {
                    c.properties = {{uid(e, "name"), text_value("mp", step)},
                                    {uid(e, "age"), Value(int64_t{step % 90})}};
                } else {
                    c.properties = {{uid(e, "text"), text_value("mn", step)},
                                    {uid(e, "author"), some_person()}};
                }
                list.push_back(c.gid);
            } else if (op < 7) {  // update
                c.gid = list[rng_() % list.size()];
                if (person) {
                    c.properties = {rng_() % 2
                                        ? PropertyChange{uid(e, "name"), text_value("mp", step)}
                                        : PropertyChange{uid(e, "age"), Value(int64_t{step % 90})}};
                } else if (rng_() % 2) {
                    c.properties = {{uid(e, "text"), text_value("mn", step)}};
                } else {
                    c.properties = {{uid(e, "author"), some_person()}};
                }
            } else {  // delete
                c.kind = ObjectChange::kRemove;
                c.gid = list[rng_() % list.size()];
                std::erase(list, c.gid);
            }
            txn.push_back(std::move(c));
        }
        mongo_.client_txn(std::move(txn));
    }

    void outbound() { mongo_.outbound_step(net_.server_store()); }

    void inbound() {
        bool changed = false;
        if (mongo_.inbound_step(net_.server_store(), &changed, 1 + rng_() % 3) && changed) {
            net_.server().poll();
        }
    }

    void link_fault(TestClient& d) {
        switch (rng_() % 5) {
            case 0:
                if (d.pipe) {
                    net_.cut(d);
                } else {
                    d.drop_acks = false;
                    net_.connect(d);
                }
                break;
            case 1:
                if (d.pipe) d.drop_acks = true;  // the next Ack is lost with the connection
                break;
            case 2:
                net_.restart(d);  // the app restarts (offline until connected again)
                break;
            case 3:
                // The link dies after a few more frames from the server: what follows is lost.
                if (!d.pipe) net_.connect(d);
                d.cut_after_frames = static_cast<int>(rng_() % 4);
                break;
            default:
                if (!d.pipe) net_.connect(d);
        }
    }

    std::string settle() {
        for (auto* d : devices_) {
            d->drop_acks = false;
            d->cut_after_frames = -1;
            if (!d->pipe) net_.connect(*d);
        }
        for (int round = 0; round < 1000; ++round) {
            bool moved = false;
            if (!net_.pump_until([&] { return net_.all_up_to_date(); })) {
                return "devices never got up to date";
            }
            while (mongo_.outbound_step(net_.server_store())) moved = true;
            bool changed = false;
            while (mongo_.inbound_step(net_.server_store(), &changed)) moved = true;
            if (changed) net_.server().poll();
            moved |= net_.pump_once();
            if (!moved) break;
        }
        net_.pump_all();
        const Replica server = of_store(net_.server_store());
        const Replica mongo = of_mongo(mongo_, model_);
        std::string failure;
        if (server != mongo) failure += "\n server vs MongoDB:" + diff(server, mongo);
        for (auto* d : devices_) {
            const Replica mine = of_store(*d->store);
            if (mine != server) failure += "\n " + d->name + " vs server:" + diff(mine, server);
        }
        return failure;
    }

    uint32_t seed_;
    std::mt19937 rng_;
    Model model_;
    SyncNet net_;
    SimMongo mongo_;
    const Entity* person_ = nullptr;
    const Entity* note_ = nullptr;
    std::vector<TestClient*> devices_;
};

uint32_t env_number(const char* name, uint32_t fallback) {
    const char* v = std::getenv(name);
    return v ? static_cast<uint32_t>(std::strtoul(v, nullptr, 10)) : fallback;
}

TEST(Convergence, RandomInterleavingsOfDevicesMongoDbAndFaultsConverge) {
    // Each seed makes four stores: on a memory file system where there is one, unless TMPDIR says.
    if (!std::getenv("TMPDIR") && std::filesystem::is_directory("/dev/shm"))
        setenv("TMPDIR", "/dev/shm", 0);
    uint32_t first = 1, count = env_number("OUTPOST_CONVERGENCE_SEEDS", 2000);
    if (std::getenv("OUTPOST_CONVERGENCE_SEED")) {
        first = env_number("OUTPOST_CONVERGENCE_SEED", 1);
        count = 1;
    }
    int failures = 0;
    for (uint32_t seed = first; seed < first + count && failures < 3; ++seed) {
        Scenario run(seed);
        const std::string failure = run.go(60);
        if (!failure.empty()) {
            ++failures;
            ADD_FAILURE() << "seed " << seed << " (OUTPOST_CONVERGENCE_SEED=" << seed
                          << "):" << failure;
        }
    }
}

}  // namespace
}  // namespace outpost::mongo
