// Opening a store: the registry of stores open in this process, the LMDB environment, and the
// stored model and format that the schema is prepared from.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "common/mutex.hpp"
#include "store/migrations.hpp"
#include "store/schema.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace detail {

namespace {
constexpr const char* kModelKey = "model";

// Stores open in this process, by canonical directory. The environment (StoreImpl) can outlive the
// Store handles while transactions are open; a directory must never get a second environment.
struct Registered {
    std::weak_ptr<Store> store;
    std::weak_ptr<StoreImpl> impl;
};
Mutex g_registry_mu;
std::map<std::string, Registered>& registry() OUTPOST_REQUIRES(g_registry_mu) {
    static std::map<std::string, Registered> r;
    return r;
}

// The store already open in this process on directory KEY, or null; an error when it is open with
// another model (GIVEN) or another mode.
Result<std::shared_ptr<Store>> find_open(const std::string& key, const std::string& dir,
                                         const Model* given, const StoreOptions& options)
    OUTPOST_REQUIRES(g_registry_mu) {
    auto it = registry().find(key);
    if (it == registry().end()) return std::shared_ptr<Store>();
    auto existing = it->second.store.lock();
    auto impl = existing ? nullptr : it->second.impl.lock();
    if (!existing && !impl) return std::shared_ptr<Store>();
    const StoreImpl& open = existing ? *Access::impl(*existing) : *impl;
    if (given && open.model->to_json() != given->to_json()) {
        return Status(ErrorCode::kStoreInUse,
                      "store " + dir + " is already open in this process with another model");
    }
    if (open.options.read_only != options.read_only) {
        return Status(ErrorCode::kStoreInUse,
                      "store " + dir + " is already open in this process " +
                          (open.options.read_only ? "read-only" : "for writing"));
    }
    if (existing) return existing;
    auto store = Access::make_store(impl);
    it->second.store = store;
    return store;
}

// LMDB reads pages through the memory map, so a data file cut shorter than the pages its meta pages
// name (a copy that stopped, a full disk, a truncation) would end the process with SIGBUS on the
// first read past its end. mdb_env_open reads the meta pages with read(); nothing is read through
// the map before this check. The newest meta is read before the file's size: a writer in another
// process only makes the file longer.
Status check_file_size(MDB_env* env, const std::string& dir) {
    MDB_envinfo info;
    MDB_stat st;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_info(env, &info), "opening store " + dir));
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_stat(env, &st), "opening store " + dir));
    const std::string path = dir + "/data.mdb";
    struct stat fst;
    if (::stat(path.c_str(), &fst) != 0) {
        return Status(
            ErrorCode::kIo,
            "opening store " + dir + ": cannot stat " + path + ": " + std::strerror(errno), errno);
    }
    const uint64_t expected = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    const auto actual = static_cast<uint64_t>(fst.st_size);
    if (actual < expected) {
        return Status(ErrorCode::kCorrupt,
                      "store " + dir + " is damaged: data.mdb is " + std::to_string(actual) +
                          " bytes, but its last committed transaction uses pages up to " +
                          std::to_string(info.me_last_pgno) + " of " + std::to_string(st.ms_psize) +
                          " bytes, so it needs at least " + std::to_string(expected) +
                          " bytes (the file was cut short; restore it from a copy)");
    }
    return Status::ok();
}

// Creates and opens IMPL's LMDB environment on IMPL.dir.
Status open_environment(StoreImpl& impl) {
    const StoreOptions& options = impl.options;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_create(&impl.env), "creating environment"));
    mdb_env_set_mapsize(impl.env, options.max_size_bytes);
    mdb_env_set_maxdbs(impl.env, 4096);
    mdb_env_set_maxreaders(impl.env, options.max_readers);
    unsigned flags = MDB_NOTLS;
    if (options.no_sync) flags |= MDB_NOSYNC;
    if (options.read_only) flags |= MDB_RDONLY;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_open(impl.env, impl.dir.c_str(), flags, 0644),
                                        "opening store " + impl.dir));
    return check_file_size(impl.env, impl.dir);
}

// Opens the tables that do not belong to an entity: meta and the change log's.
Status open_store_tables(StoreImpl& impl, MDB_txn* txn, bool create) {
    OUTPOST_RETURN_IF_ERROR(open_dbi(txn, "meta", 0, create, &impl.meta));
    OUTPOST_RETURN_IF_ERROR(open_dbi(txn, "changelog", MDB_INTEGERKEY, create, &impl.changelog));
    OUTPOST_RETURN_IF_ERROR(
        open_dbi(txn, "changelog_origin", MDB_INTEGERKEY, create, &impl.changelog_origin));
    OUTPOST_RETURN_IF_ERROR(open_dbi(txn, "changelog_stored_runs", 0, create, &impl.stored_runs));
    return open_dbi(txn, "changelog_kept_versions", 0, create, &impl.kept_versions);
}

// The model the store was last opened with, or nullopt for a new store.
Result<std::optional<Model>> read_stored_model(const StoreImpl& impl, MDB_txn* txn) {
    if (impl.meta == 0) return std::optional<Model>();
    MDB_val k = mdb_val(kModelKey, std::strlen(kModelKey)), v;
    int rc = mdb_get(txn, impl.meta, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<Model>();
    if (rc != 0) return lmdb_status(rc, "reading stored model");
    auto m = Model::from_json(as_view(v));
    if (!m) return Status(ErrorCode::kCorrupt, "stored model: " + m.status().message());
    return std::optional<Model>(std::move(m).value());
}

// Checks that GIVEN is valid and may replace STORED (the model the store was last opened with).
Status check_given_model(const StoreImpl& impl, const Model& given,
                         const std::optional<Model>& stored) {
    OUTPOST_RETURN_IF_ERROR(given.validate());
    if (!stored) return Status::ok();
    OUTPOST_RETURN_IF_ERROR(check_evolution(*stored, given));
    if (impl.options.read_only && stored->to_json() != given.to_json()) {
        return Status(ErrorCode::kReadOnly,
                      "store " + impl.dir +
                          " was last opened with another model; open it writable once to "
                          "evolve it");
    }
    return Status::ok();
}

// Sets up IMPL in TXN, the transaction that opens it: its tables, its model (GIVEN, else the stored
// one) and schema, and, when writable, the model and format stored for the next open.
Status set_up_store(StoreImpl& impl, MDB_txn* txn, const Model* given) {
    const bool create = !impl.options.read_only;
    OUTPOST_RETURN_IF_ERROR(open_store_tables(impl, txn, create));
    OUTPOST_ASSIGN_OR_RETURN(std::optional<Model> stored, read_stored_model(impl, txn));
    if (!given && !stored) {
        return Status(ErrorCode::kNotFound,
                      "no store in " + impl.dir + " (give a model to create one)");
    }
    int format = 0;  // a new store
    if (stored) {
        OUTPOST_ASSIGN_OR_RETURN(format, read_store_format(txn, impl.meta, impl.dir));
    }
    if (given) OUTPOST_RETURN_IF_ERROR(check_given_model(impl, *given, stored));
    impl.model = std::make_shared<const Model>(given ? *given : *stored);
    OUTPOST_RETURN_IF_ERROR(prepare_schema(impl, txn, stored ? &*stored : nullptr, create, format));
    if (!create) return Status::ok();
    std::string json = impl.model->to_json();
    MDB_val k = mdb_val(kModelKey, std::strlen(kModelKey)), v = mdb_val(json.data(), json.size());
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(txn, impl.meta, &k, &v, 0), "storing model"));
    return write_store_format(txn, impl.meta);
}

Result<std::shared_ptr<Store>> open_store(const std::string& dir, const Model* given,
                                          const StoreOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!options.read_only) fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec)) {
        return Status(ErrorCode::kIo,
                      "store directory " + dir + " does not exist and could not be created");
    }
    std::string key = fs::canonical(dir, ec).string();

    MutexLock lock(g_registry_mu);
    OUTPOST_ASSIGN_OR_RETURN(auto open, find_open(key, dir, given, options));
    if (open) return open;

    auto impl = std::make_shared<StoreImpl>();
    impl->dir = dir;
    impl->options = options;
    OUTPOST_RETURN_IF_ERROR(open_environment(*impl));
    MDB_txn* txn = nullptr;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_txn_begin(impl->env, nullptr, options.read_only ? MDB_RDONLY : 0, &txn),
                    "opening store"));
    Status st = set_up_store(*impl, txn, given);
    if (!st) {
        mdb_txn_abort(txn);
        return st;
    }
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_txn_commit(txn), "opening store"));

    auto store = Access::make_store(impl);
    registry()[key] = Registered{store, impl};
    return store;
}

}  // namespace
}  // namespace detail

Result<std::shared_ptr<Store>> Store::open(const std::string& dir, const Model& model,
                                           const StoreOptions& options) {
    return detail::open_store(dir, &model, options);
}

Result<std::shared_ptr<Store>> Store::open_existing(const std::string& dir,
                                                    const StoreOptions& options) {
    return detail::open_store(dir, nullptr, options);
}

}  // namespace outpost
