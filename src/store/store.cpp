// Store: transactions, observers, statistics (opening is in store_open.cpp, the schema in
// schema.cpp).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/changelog_internal.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace detail {

namespace {
thread_local std::vector<const StoreImpl*> tl_writing;
}  // namespace

Status lmdb_status(int rc, const std::string& context) {
    if (rc == MDB_SUCCESS) return Status::ok();
    ErrorCode code = ErrorCode::kStorage;
    if (rc == MDB_MAP_FULL) code = ErrorCode::kStorageFull;
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
        code = ErrorCode::kCorrupt;
    if (rc == EACCES) code = ErrorCode::kReadOnly;
    std::string msg = context + ": " + mdb_strerror(rc);
    if (rc == MDB_MAP_FULL) msg += " (raise StoreOptions::max_size_bytes)";
    return {code, msg, rc};
}

uint64_t read_u64(const MDB_val& v) {
    uint64_t x = 0;
    std::memcpy(&x, v.mv_data, std::min<size_t>(8, v.mv_size));
    return x;
}

bool thread_is_writing(const StoreImpl* store) {
    return std::find(tl_writing.begin(), tl_writing.end(), store) != tl_writing.end();
}

void thread_set_writing(const StoreImpl* store, bool on) {
    auto it = std::find(tl_writing.begin(), tl_writing.end(), store);
    if (on && it == tl_writing.end()) tl_writing.push_back(store);
    if (!on && it != tl_writing.end()) tl_writing.erase(it);
}

TxnState::~TxnState() {
    if (write && txn && owner != std::this_thread::get_id()) {
        MutexLock lock(store->parked_mu);
        store->parked_txn = txn;
        store->parked_owner = owner;
        txn = nullptr;
        return;
    }
    if (txn) {
        mdb_txn_abort(txn);
        txn = nullptr;
    }
    if (write) thread_set_writing(store.get(), false);
}

void TxnState::record_put(const EntityInfo& e, uint64_t id) {
    auto& c = changes[e.entity->id.id];
    c.entity_id = e.entity->id.id;
    c.put_ids.push_back(id);
}

void TxnState::record_remove(const EntityInfo& e, uint64_t id) {
    auto& c = changes[e.entity->id.id];
    c.entity_id = e.entity->id.id;
    c.removed_ids.push_back(id);
}

StoreImpl::~StoreImpl() {
    if (env) mdb_env_close(env);
}

const EntityInfo* StoreImpl::entity(std::string_view name) const {
    for (const auto& e : entities) {
        if (e->entity->name == name) return e.get();
    }
    return nullptr;
}

const EntityInfo* StoreImpl::entity_by_uid(uint64_t uid) const {
    for (const auto& e : entities) {
        if (e->entity->id.uid == uid) return e.get();
    }
    return nullptr;
}

const EntityInfo* StoreImpl::entity_by_id(uint32_t id) const {
    for (const auto& e : entities) {
        if (e->entity->id.id == id) return e.get();
    }
    return nullptr;
}

void StoreImpl::notify(const Changes& changes) {
    std::vector<Store::Observer> copy;
    {
        MutexLock lock(observers_mu);
        for (const auto& [h, o] : observers) copy.push_back(o);
    }
    for (const auto& o : copy) o(changes);
}

}  // namespace detail

using detail::lmdb_status;
using detail::TxnState;

Store::Store(std::shared_ptr<detail::StoreImpl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const Model& Store::model() const { return *impl_->model; }
const std::string& Store::dir() const { return impl_->dir; }

Result<ReadTxn> Store::begin_read() {
    auto st = std::make_unique<TxnState>();
    st->store = impl_;
    st->owner = std::this_thread::get_id();
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &st->txn), "beginning read"));
    return detail::Access::make_read(std::move(st));
}

Result<WriteTxn> Store::begin_write() {
    if (impl_->options.read_only)
        return Status(ErrorCode::kReadOnly, "store " + impl_->dir + " is read-only");
    {
        MutexLock lock(impl_->parked_mu);
        if (impl_->parked_txn) {
            if (impl_->parked_owner != std::this_thread::get_id()) {
                return Status(
                    ErrorCode::kTxnMisuse,
                    "a write transaction of this store was ended on another thread than the one "
                    "that began it; it holds the write lock until its own thread begins a write");
            }
            mdb_txn_abort(impl_->parked_txn);
            impl_->parked_txn = nullptr;
            detail::thread_set_writing(impl_.get(), false);
        }
    }
    if (detail::thread_is_writing(impl_.get())) {
        return Status(ErrorCode::kTxnMisuse,
                      "this thread already has a write transaction open on the store; "
                      "commit or abort it first (write transactions do not nest)");
    }
    auto st = std::make_unique<TxnState>();
    st->store = impl_;
    st->owner = std::this_thread::get_id();
    st->write = true;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_txn_begin(impl_->env, nullptr, 0, &st->txn), "beginning write"));
    detail::thread_set_writing(impl_.get(), true);
    return detail::Access::make_write(std::move(st));
}

Status Store::write(const std::function<Status(WriteTxn&)>& fn) {
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, begin_write());
    Status st = fn(txn);
    if (!st) return st;
    return txn.commit();
}

Status Store::read(const std::function<Status(ReadTxn&)>& fn) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, begin_read());
    return fn(txn);
}

Result<DynamicBox> Store::box(std::string_view entity) {
    const detail::EntityInfo* info = impl_->entity(entity);
    if (!info) {
        return Status(ErrorCode::kUnknownEntity,
                      "the model has no entity \"" + std::string(entity) + "\"");
    }
    return detail::Access::make_box(shared_from_this(), info);
}

uint64_t Store::add_observer(Observer observer) {
    MutexLock lock(impl_->observers_mu);
    uint64_t h = impl_->next_observer++;
    impl_->observers.emplace(h, std::move(observer));
    return h;
}

void Store::remove_observer(uint64_t handle) {
    MutexLock lock(impl_->observers_mu);
    impl_->observers.erase(handle);
}

Result<StoreStats> Store::stats() {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, begin_read());
    MDB_txn* t = detail::Access::state(txn)->txn;
    StoreStats out;
    auto pages = [&](MDB_dbi dbi, uint64_t* entries) -> uint64_t {
        if (dbi == 0) return 0;
        MDB_stat s;
        if (mdb_stat(t, dbi, &s) != 0) return 0;
        if (entries) *entries = s.ms_entries;
        return (s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) * s.ms_psize;
    };
    for (const auto& e : impl_->entities) {
        EntityStats es;
        es.name = e->entity->name;
        es.bytes = pages(e->objects, &es.count);
        for (const auto& i : e->indexes) es.bytes += pages(i.dbi, nullptr);
        for (const auto& r : e->relations)
            es.bytes += pages(r.list_dbi, nullptr) + pages(r.backlink_dbi, nullptr);
        out.entities.push_back(es);
    }
    MDB_envinfo info;
    MDB_stat env_stat;
    mdb_env_info(impl_->env, &info);
    mdb_env_stat(impl_->env, &env_stat);
    out.used_bytes = (info.me_last_pgno + 1) * env_stat.ms_psize;
    out.map_bytes = info.me_mapsize;
    out.history_bytes = pages(impl_->changelog, nullptr) + pages(impl_->changelog_origin, nullptr);
    struct stat fst;
    if (::stat((impl_->dir + "/data.mdb").c_str(), &fst) == 0) out.file_bytes = fst.st_size;
    return out;
}

// ---- transactions ----

Txn::Txn(std::unique_ptr<detail::TxnState> state) : state_(std::move(state)) {}
Txn::Txn(Txn&&) noexcept = default;
Txn& Txn::operator=(Txn&&) noexcept = default;
Txn::~Txn() = default;

bool Txn::is_write() const { return state_ && state_->write; }
bool Txn::is_open() const { return state_ && state_->txn; }

Status Txn::check_usable() const {
    if (!state_ || !state_->txn) return {ErrorCode::kTxnMisuse, "the transaction is closed"};
    if (state_->owner != std::this_thread::get_id()) {
        return {ErrorCode::kTxnMisuse,
                "a transaction may only be used by the thread that began it"};
    }
    return Status::ok();
}

ReadTxn::ReadTxn(std::unique_ptr<detail::TxnState> state) : Txn(std::move(state)) {}
WriteTxn::WriteTxn(std::unique_ptr<detail::TxnState> state) : Txn(std::move(state)) {}

void ReadTxn::close() { state_.reset(); }

Status WriteTxn::commit() {
    OUTPOST_RETURN_IF_ERROR(check_usable());
    TxnState& s = *state_;
    Status st;
    for (const auto& [info, next] : s.next_ids) {
        MDB_val k = detail::mdb_val(info->seq_key.data(), info->seq_key.size());
        uint64_t last = next - 1;
        MDB_val v = detail::mdb_val(&last, 8);
        st = lmdb_status(mdb_put(s.txn, s.store->meta, &k, &v, 0), "storing id sequence");
        if (!st) break;
    }
    if (st) st = detail::flush_log(s);
    if (!st) {
        state_.reset();
        return st;
    }
    int rc = mdb_txn_commit(s.txn);
    s.txn = nullptr;
    detail::thread_set_writing(s.store.get(), false);
    if (rc != 0) {
        state_.reset();
        return lmdb_status(rc, "committing");
    }
    if (!s.changes.empty()) {
        Changes changes;
        changes.origin = s.origin;
        for (auto& [id, c] : s.changes) {
            std::sort(c.put_ids.begin(), c.put_ids.end());
            c.put_ids.erase(std::unique(c.put_ids.begin(), c.put_ids.end()), c.put_ids.end());
            std::sort(c.removed_ids.begin(), c.removed_ids.end());
            c.removed_ids.erase(std::unique(c.removed_ids.begin(), c.removed_ids.end()),
                                c.removed_ids.end());
            changes.entities.push_back(std::move(c));
        }
        auto store = s.store;
        state_.reset();
        store->notify(changes);
    } else {
        state_.reset();
    }
    return Status::ok();
}

void WriteTxn::abort() {
    // From a foreign thread this parks the transaction (see StoreImpl::parked_txn).
    state_.reset();
}

void WriteTxn::set_origin(std::string origin) {
    if (state_) state_->origin = std::move(origin);
}

}  // namespace outpost
