#include "persistence.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "log.hpp"
#include "storage.hpp"
#include "wire.hpp"

namespace standin {

namespace {

Error io_error(const std::string& what) { return Error{8, what + ": " + std::strerror(errno), {}}; }

Status write_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error("write");
        }
        off += static_cast<size_t>(n);
    }
    return ok_status();
}

std::string frame(const bson_t* payload) {
    std::string s(8, '\0');
    uint32_t len = payload->len;
    uint32_t crc = crc32c(bson_get_data(payload), payload->len);
    std::memcpy(&s[0], &len, 4);
    std::memcpy(&s[4], &crc, 4);
    s.append(reinterpret_cast<const char*>(bson_get_data(payload)), payload->len);
    return s;
}

Status sync_dir(const std::string& dir) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return io_error("open " + dir);
    ::fsync(dfd);
    ::close(dfd);
    return ok_status();
}

Doc event_to_bson(const Event& ev) {
    Doc d;
    bson_t* b = d.get();
    BSON_APPEND_UTF8(b, "o", "event");
    BSON_APPEND_INT64(b, "seq", static_cast<int64_t>(ev.seq));
    append_ts(b, "ts", ev.ts);
    BSON_APPEND_INT64(b, "wall", ev.wall_ms);
    BSON_APPEND_INT32(b, "idx", static_cast<int32_t>(ev.txn_index));
    append_str(b, "op", ev.op);
    append_str(b, "db", ev.db);
    append_str(b, "c", ev.coll);
    if (!ev.to_db.empty()) append_str(b, "tdb", ev.to_db);
    if (!ev.to_coll.empty()) append_str(b, "tc", ev.to_coll);
    {
        Doc key = event_document_key(ev);
        BSON_APPEND_DOCUMENT(b, "key", key.get());
    }
    auto put = [&](const char* k, const DocPtr& p) {
        if (!p) return;
        bson_t v;
        view_of(*p, &v);
        BSON_APPEND_DOCUMENT(b, k, &v);
    };
    put("full", ev.full_document);
    put("before", ev.before);
    if (!ev.update_description.empty()) BSON_APPEND_DOCUMENT(b, "ud", ev.update_description.get());
    if (!ev.lsid.empty()) {
        BSON_APPEND_DOCUMENT(b, "lsid", ev.lsid.get());
        BSON_APPEND_INT64(b, "txn", ev.txn_number);
    }
    return d;
}

uint64_t get_ts(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_TIMESTAMP(&it)) return 0;
    uint32_t s, i;
    bson_iter_timestamp(&it, &s, &i);
    return (static_cast<uint64_t>(s) << 32) | i;
}

DocPtr get_docptr(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return nullptr;
    uint32_t len;
    const uint8_t* data;
    bson_iter_document(&it, &len, &data);
    return std::make_shared<const std::string>(reinterpret_cast<const char*>(data), len);
}

Doc get_doc(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, b, key) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return Doc();
    return iter_subdoc(&it);
}

}  // namespace

Persistence::~Persistence() {
    if (fd_ >= 0) {
        (void)flush();
        ::close(fd_);
    }
}

Result<std::unique_ptr<Persistence>> Persistence::open(const std::string& dir, Engine& e) {
    ::mkdir(dir.c_str(), 0755);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return io_error("data directory " + dir);
    std::unique_ptr<Persistence> p(new Persistence(dir, e));
    // Meta: epoch and term.
    std::ifstream meta(dir + "/meta.bson", std::ios::binary);
    if (meta) {
        std::stringstream ss;
        ss << meta.rdbuf();
        std::string bytes = ss.str();
        Doc m = Doc::from_string(bytes);
        auto epoch = get_int(m.get(), "epoch");
        auto term = get_int(m.get(), "term");
        if (!epoch || !term) return Error{8, "corrupt meta.bson in " + dir, {}};
        e.epoch_ = static_cast<uint64_t>(*epoch);
        e.term_ = static_cast<uint64_t>(*term) + 1;
    }
    auto s = p->write_meta();
    if (!s.ok()) return s.error();
    s = p->replay();
    if (!s.ok()) return s.error();
    s = p->rewrite();
    if (!s.ok()) return s.error();
    return p;
}

Status Persistence::write_meta() {
    Doc m;
    BSON_APPEND_INT64(m.get(), "epoch", static_cast<int64_t>(engine_.epoch_));
    BSON_APPEND_INT64(m.get(), "term", static_cast<int64_t>(engine_.term_));
    std::string tmp = dir_ + "/meta.bson.tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return io_error("open " + tmp);
    auto s = write_all(fd, m.bytes());
    ::fsync(fd);
    ::close(fd);
    if (!s.ok()) return s;
    if (::rename(tmp.c_str(), (dir_ + "/meta.bson").c_str()) != 0) return io_error("rename meta");
    return sync_dir(dir_);
}

namespace {

// One operation of a log record (o: create, options, drop, rename, index, dropindex, put, del,
// event, trim) applied to the engine's state; TS is the record's cluster time.
void replay_create(Engine& e, const bson_t* op, const std::string& db, const std::string& coll) {
    Doc opts = get_doc(op, "options");
    auto r = e.create_collection(db, coll, opts.get(), false);
    if (!r.ok()) return;
    bson_iter_t u;
    if (bson_iter_init_find(&u, op, "uuid") && BSON_ITER_HOLDS_BINARY(&u)) {
        const uint8_t* d;
        uint32_t n;
        bson_subtype_t st;
        bson_iter_binary(&u, &st, &n, &d);
        if (n == 16) std::memcpy(r.value()->uuid.data(), d, 16);
    }
}

void replay_drop(Engine& e, const std::string& db, const std::string& coll) {
    auto d = e.dbs_.find(db);
    if (d == e.dbs_.end()) return;
    d->second.erase(coll);
    if (d->second.empty()) e.dbs_.erase(d);
}

void replay_rename(Engine& e, const bson_t* op, const std::string& db, const std::string& coll) {
    std::string tdb = get_string(op, "tdb").value_or(""), tc = get_string(op, "tc").value_or("");
    auto d = e.dbs_.find(db);
    if (d == e.dbs_.end() || !d->second.count(coll)) return;
    auto node = std::move(d->second[coll]);
    d->second.erase(coll);
    if (d->second.empty()) e.dbs_.erase(d);
    node->db = tdb;
    node->name = tc;
    e.dbs_[tdb][tc] = std::move(node);
}

void replay_index(Collection& c, const bson_t* op) {
    Doc spec = get_doc(op, "spec");
    IndexSpec idx;
    idx.name = get_string(spec.get(), "name").value_or("");
    idx.key = get_doc(spec.get(), "key");
    idx.unique = get_bool(spec.get(), "unique").value_or(false);
    idx.spec = std::move(spec);
    bool dup = false;
    for (auto& existing : c.indexes) dup = dup || existing.name == idx.name;
    if (!dup) c.indexes.push_back(std::move(idx));
    (void)rebuild_unique(c);
}

void replay_drop_index(Collection& c, const bson_t* op) {
    std::string name = get_string(op, "name").value_or("");
    std::erase_if(c.indexes, [&](const IndexSpec& s) { return s.name == name && name != "_id_"; });
    (void)rebuild_unique(c);
}

// put (a document) or del (by _id) in DB.COLL, created when missing.
void replay_write(Engine& e, const bson_t* op, const std::string& o, const std::string& db,
                  const std::string& coll, uint64_t ts) {
    Collection* c = e.find_collection(db, coll);
    if (!c) {
        auto r = e.create_collection(db, coll, nullptr, false);
        if (!r.ok()) return;
        c = r.value();
    }
    DocPtr doc = get_docptr(op, o == "put" ? "doc" : "id");
    if (!doc) return;
    std::string key = id_key_of(doc);
    apply_committed(*c, key, o == "put" ? doc : nullptr, ts, false);
}

void replay_event(Engine& e, const bson_t* op, const std::string& db, const std::string& coll) {
    Event ev;
    ev.seq = static_cast<uint64_t>(get_int(op, "seq").value_or(0));
    ev.ts = get_ts(op, "ts");
    ev.wall_ms = get_int(op, "wall").value_or(0);
    ev.txn_index = static_cast<uint32_t>(get_int(op, "idx").value_or(0));
    ev.op = get_string(op, "op").value_or("");
    ev.db = db;
    ev.coll = coll;
    ev.to_db = get_string(op, "tdb").value_or("");
    ev.to_coll = get_string(op, "tc").value_or("");
    ev.document_key = get_doc(op, "key");
    ev.full_document = get_docptr(op, "full");
    ev.before = get_docptr(op, "before");
    ev.update_description = get_doc(op, "ud");
    ev.lsid = get_doc(op, "lsid");
    ev.txn_number = get_int(op, "txn").value_or(-1);
    if (ev.ts > e.cluster_ts_) e.cluster_ts_ = ev.ts;
    if (ev.seq < e.next_event_seq_) return;
    e.next_event_seq_ = ev.seq + 1;
    e.events_.push_back(std::move(ev));
    while (e.events_.size() > std::max<size_t>(1, e.options().oplog_size)) e.events_.pop_front();
    e.first_retained_seq_ = e.events_.front().seq;
}

void replay_op(Engine& e, const bson_t* op, uint64_t ts) {
    std::string o = get_string(op, "o").value_or("");
    std::string db = get_string(op, "db").value_or("");
    std::string coll = get_string(op, "c").value_or("");
    if (o == "create") {
        replay_create(e, op, db, coll);
    } else if (o == "options") {
        if (Collection* c = e.find_collection(db, coll)) c->options = get_doc(op, "options");
    } else if (o == "drop") {
        replay_drop(e, db, coll);
    } else if (o == "rename") {
        replay_rename(e, op, db, coll);
    } else if (o == "index") {
        if (Collection* c = e.find_collection(db, coll)) replay_index(*c, op);
    } else if (o == "dropindex") {
        if (Collection* c = e.find_collection(db, coll)) replay_drop_index(*c, op);
    } else if (o == "put" || o == "del") {
        replay_write(e, op, o, db, coll, ts);
    } else if (o == "event") {
        replay_event(e, op, db, coll);
    } else if (o == "trim") {
        e.first_retained_seq_ = static_cast<uint64_t>(get_int(op, "first").value_or(1));
        e.next_event_seq_ = std::max(e.next_event_seq_, e.first_retained_seq_);
    }
}

}  // namespace

Status Persistence::replay() {
    std::string path = dir_ + "/wal.log";
    std::ifstream in(path, std::ios::binary);
    if (!in) return ok_status();
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    size_t off = 0;
    Engine& e = engine_;
    size_t records = 0;
    while (off + 8 <= data.size()) {
        uint32_t len, crc;
        std::memcpy(&len, &data[off], 4);
        std::memcpy(&crc, &data[off + 4], 4);
        if (len < 5 || off + 8 + len > data.size()) break;
        const uint8_t* payload = reinterpret_cast<const uint8_t*>(&data[off + 8]);
        if (crc32c(payload, len) != crc) break;
        bson_t rec;
        if (!bson_init_static(&rec, payload, len)) break;
        off += 8 + len;
        ++records;
        uint64_t ts = get_ts(&rec, "ts");
        if (ts > e.cluster_ts_) e.cluster_ts_ = ts;
        bson_iter_t ops;
        if (!bson_iter_init_find(&ops, &rec, "ops") || !BSON_ITER_HOLDS_ARRAY(&ops)) continue;
        bson_iter_t op_it;
        bson_iter_recurse(&ops, &op_it);
        while (bson_iter_next(&op_it)) {
            Doc op = iter_subdoc(&op_it);
            replay_op(e, op.get(), ts);
        }
    }
    if (off < data.size())
        log_info("write-ahead log: ignoring a torn record at the end (" +
                 std::to_string(data.size() - off) + " bytes)");
    log_info("replayed " + std::to_string(records) + " log records from " + path);
    return ok_status();
}

Status Persistence::rewrite() {
    // A compact log: one record holding the whole current state.
    Engine& e = engine_;
    ops_ = Doc();
    nops_ = 0;
    for (const auto& [db, colls] : e.dbs_) {
        for (const auto& [name, c] : colls) {
            log_create(*c);
            for (size_t i = 1; i < c->indexes.size(); ++i) log_index(db, name, c->indexes[i]);
            for (const auto& [order, rec] : c->records)
                if (DocPtr d = visible(rec, kLatest)) log_put(db, name, d);
        }
    }
    {
        Doc op;
        BSON_APPEND_UTF8(op.get(), "o", "trim");
        BSON_APPEND_INT64(
            op.get(), "first",
            static_cast<int64_t>(e.events_.empty() ? e.next_event_seq_ : e.first_retained_seq_));
        add_op(op);
    }
    for (const Event& ev : e.events_) log_event(ev);
    Doc rec;
    append_ts(rec.get(), "ts", e.cluster_ts_);
    BSON_APPEND_ARRAY(rec.get(), "ops", ops_.get());
    ops_ = Doc();
    nops_ = 0;
    std::string tmp = dir_ + "/wal.log.tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return io_error("open " + tmp);
    auto s = write_all(fd, frame(rec.get()));
    if (s.ok() && ::fsync(fd) != 0) s = io_error("fsync");
    ::close(fd);
    if (!s.ok()) return s;
    if (::rename(tmp.c_str(), (dir_ + "/wal.log").c_str()) != 0) return io_error("rename wal");
    s = sync_dir(dir_);
    if (!s.ok()) return s;
    fd_ = ::open((dir_ + "/wal.log").c_str(), O_WRONLY | O_APPEND);
    if (fd_ < 0) return io_error("open wal.log");
    return ok_status();
}

void Persistence::add_op(const Doc& op) {
    std::string k = std::to_string(nops_++);
    bson_append_document(ops_.get(), k.c_str(), static_cast<int>(k.size()), op.get());
}

namespace {
// One operation document, appended to the pending record when the scope ends.
struct OpScope {
    Persistence* p;
    Doc doc;
    bson_t* child = doc.get();
    ~OpScope() { p->add_op(doc); }
};
}  // namespace

void Persistence::log_create(const Collection& c) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "create");
    append_str(s.child, "db", c.db);
    append_str(s.child, "c", c.name);
    bson_append_binary(s.child, "uuid", -1, BSON_SUBTYPE_UUID, c.uuid.data(), 16);
    BSON_APPEND_DOCUMENT(s.child, "options", c.options.get());
}

void Persistence::log_options(const Collection& c) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "options");
    append_str(s.child, "db", c.db);
    append_str(s.child, "c", c.name);
    BSON_APPEND_DOCUMENT(s.child, "options", c.options.get());
}

void Persistence::log_drop(const std::string& db, const std::string& coll) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "drop");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
}

void Persistence::log_rename(const std::string& db, const std::string& coll,
                             const std::string& to_db, const std::string& to_coll) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "rename");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
    append_str(s.child, "tdb", to_db);
    append_str(s.child, "tc", to_coll);
}

void Persistence::log_index(const std::string& db, const std::string& coll, const IndexSpec& idx) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "index");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
    BSON_APPEND_DOCUMENT(s.child, "spec", idx.spec.get());
}

void Persistence::log_drop_index(const std::string& db, const std::string& coll,
                                 const std::string& name) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "dropindex");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
    append_str(s.child, "name", name);
}

void Persistence::log_put(const std::string& db, const std::string& coll, const DocPtr& doc) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "put");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
    bson_t v;
    view_of(*doc, &v);
    BSON_APPEND_DOCUMENT(s.child, "doc", &v);
}

void Persistence::log_delete(const std::string& db, const std::string& coll, const bson_t* id_doc) {
    OpScope s{this, Doc()};
    BSON_APPEND_UTF8(s.child, "o", "del");
    append_str(s.child, "db", db);
    append_str(s.child, "c", coll);
    BSON_APPEND_DOCUMENT(s.child, "id", id_doc);
}

void Persistence::log_event(const Event& ev) { add_op(event_to_bson(ev)); }

Status Persistence::flush() {
    if (nops_ == 0 || fd_ < 0) return ok_status();
    Doc rec;
    append_ts(rec.get(), "ts", engine_.cluster_ts_);
    BSON_APPEND_ARRAY(rec.get(), "ops", ops_.get());
    ops_ = Doc();
    nops_ = 0;
    auto s = write_all(fd_, frame(rec.get()));
    if (!s.ok()) return s;
    if (::fdatasync(fd_) != 0) return io_error("fdatasync");
    return ok_status();
}

}  // namespace standin
