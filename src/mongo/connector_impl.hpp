#pragma once
// Connector internals shared by connector.cpp, outbound.cpp, inbound.cpp and import.cpp.

#include <atomic>
#include <functional>
#include <optional>
#include <thread>

#include "common/mutex.hpp"
#include "mongo/client_pool.hpp"
#include "mongo/connector.hpp"
#include "mongo/connector_meta.hpp"
#include "mongo/connector_state.hpp"
#include "mongo/handles.hpp"
#include "mongo/import_requests.hpp"
#include "mongo/mapping.hpp"
#include "mongo/outbound_rules.hpp"
#include "mongo/retry_backoff.hpp"
#include "mongo/wakeup.hpp"
#include "outpost/changelog.hpp"

namespace outpost::mongo {

// The connector's parts, each owning its state: the client pool, the wake-ups of its threads, the
// import requests and the status; the outbound writer (outbound.cpp) and the inbound stream
// (inbound.cpp, inbound_stream.hpp) on their threads; the importer (import.cpp).
struct Connector::Impl {
    Impl(std::shared_ptr<Store> s, ConnectorOptions o, Mapping m)
        : store(std::move(s)), options(std::move(o)), mapping(std::move(m)), pool(options.url) {}

    // Set by create(), then only read.
    std::shared_ptr<Store> store;
    ConnectorOptions options;
    Mapping mapping;
    std::string server_id;
    std::string marker_id;  // "server:<server_id>"

    detail::ClientPool pool;
    Result<detail::PooledClient> client() { return pool.client(); }
    // Waits until C can select a server that takes writes: up to the URL's serverSelectionTimeoutMS
    // (default 30 s), in kSelectionSliceMs steps that end when stopping. Errors: kMongoConnection
    // (the last selection error), kIllegalState when stopping.
    Status wait_for_primary(mongoc_client_t* c);
    Status stopping_status() const;

    // stopping (set by stop(), cleared by start()) and the wakes of the threads: new history for
    // the outbound thread, an import request for the inbound thread.
    detail::Wakeup wakeup;
    std::atomic<bool> running{false};
    // Orders the starting and the joining of the threads when start() and stop() (or two stop()s)
    // run at once.
    Mutex lifecycle_mutex;
    std::thread outbound_thread OUTPOST_GUARDED_BY(lifecycle_mutex);
    std::thread inbound_thread OUTPOST_GUARDED_BY(lifecycle_mutex);
    uint64_t observer OUTPOST_GUARDED_BY(lifecycle_mutex) = 0;
    bool observing OUTPOST_GUARDED_BY(lifecycle_mutex) = false;
    // Set by start() before it starts the threads, then read by them (the import's and the inbound
    // stream's commits).
    std::function<void()> on_inbound_commit;

    // Import requests while running (served by the inbound thread), and one import at a time.
    detail::ImportRequests import_requests;
    Mutex import_run_mutex;

    // Status: every part reports here; Connector::status() reads a snapshot.
    detail::ConnectorState state{options.log, store.get()};
    std::atomic<uint64_t> outbound_position{0};

    // Outbound (outbound.cpp).
    void outbound_loop();
    Result<uint64_t> read_marker(mongoc_client_t* client);
    struct Op {
        const CollectionMap* coll = nullptr;
        bool remove = false;
        bool upsert = false;  // the object is new on the server (outbound_rules.hpp)
        Gid gid;
        detail::Bson update;    // {$set, $unset}
        bool excluded = false;  // dead-lettered after a write error
    };
    // A batch's writes to one collection: one ordered bulk write, made without a client so that it
    // can be made ahead; bound to the writing client and session when it runs, and run once.
    struct CollectionWrites {
        const CollectionMap* coll = nullptr;
        std::vector<size_t> ops;  // indexes into the batch's ops, in order
        detail::BulkPtr bulk;
    };
    // Groups the ops not excluded by collection (in order of first appearance: an object's writes
    // stay in order, it has one collection) into OUT.
    static Status group_writes(std::vector<Op>& ops, std::vector<CollectionWrites>& out);
    // One MongoDB transaction's worth of history, prepared while the previous one is written.
    struct Batch {
        std::vector<Op> ops;
        std::vector<CollectionWrites>
            writes;             // the ops' bulk writes for the first attempt, or empty
        uint64_t last = 0;      // the marker's position: the newest history record the batch covers
        uint64_t nrecords = 0;  // records it covers that did not come from MongoDB
    };
    // Reads the history after POS, maps it to batches and hands them to PUSH in history order until
    // stopping or PUSH returns false. Runs on its own thread beside the writing outbound thread.
    void prepare_outbound(uint64_t pos, const std::function<bool(Batch&&)>& push);
    class HistoryReader;  // outbound.cpp
    // What the outbound writer does with a change (outbound_rules.hpp).
    using ActionFor =
        std::function<Result<OutboundAction>(const CollectionMap&, const ObjectChange&)>;
    // Adds the records of HISTORY to BATCH, up to the batch limits. False when a record is blocked
    // (an error was reported; BATCH ends before that record).
    bool fill_batch(ReadTxn& check, HistoryReader& history, Batch& batch);
    // Adds the op of change OC of REC to OPS (none when it is skipped or dead-lettered). False when
    // it is blocked (strict conversions, a read error), reported.
    bool add_op(const ChangeLogRecord& rec, const ObjectChange& oc, const ActionFor& action_for,
                std::vector<Op>& ops);
    // Connects C (kept across calls), ends a session a crash left open, and returns the position
    // to write after: the marker's, or 0 when the history is older than MongoDB says. nullopt
    // when stopping.
    std::optional<uint64_t> connect_outbound(std::optional<detail::PooledClient>& c);
    void end_previous_session(mongoc_client_t* c);
    // POS, or 0 (reported) when the server history ends before it (a new store, an old id).
    uint64_t checked_start(uint64_t pos);
    // SESSION is the outbound thread's session, made when empty. One session (one lsid) for every
    // transaction, also after network errors: the next transaction number ends any transaction that
    // a failed statement or commit left open on the server, with its locks. WRITES (may be empty)
    // are the ops' bulk writes made ahead; they are used by the first attempt.
    Status write_batch(mongoc_client_t* client, detail::SessionPtr& session, std::vector<Op>& ops,
                       std::vector<CollectionWrites>& writes, uint64_t position);
    Status run_transaction(mongoc_client_t* client, detail::SessionPtr& session,
                           std::vector<Op>& ops, std::vector<CollectionWrites>& writes,
                           uint64_t position, bool& transient);

    // Inbound (inbound.cpp).
    void inbound_loop();
    Status stream_once(mongoc_client_t* client);  // runs one change stream until an error or stop

    // Import (import.cpp). Runs on the calling thread; the caller holds import_run_mutex. REASON
    // says why it runs (for its log lines and ImportRun); AUTOMATIC when the connector started it.
    class Importer;  // one run (import.cpp)
    Result<ImportStats> import_now(mongoc_client_t* client, bool automatic,
                                   const std::string& reason,
                                   const std::function<void(const ImportProgress&)>& progress)
        OUTPOST_REQUIRES(import_run_mutex);
    void serve_import_request(mongoc_client_t* client) OUTPOST_EXCLUDES(import_run_mutex);

    // The change stream's current point (a post-batch token), taken with a stream opened and
    // closed.
    Result<detail::Bson> current_point(mongoc_client_t* client);
    // Stores the current point as the resume token when none is stored and no import will run, so
    // that every change after start() returns is streamed.
    Status ensure_start_point(mongoc_client_t* client);

    // Dead letters (dead_letter_retry.cpp): one retry at a time.
    Mutex retry_mutex;
    // The document with _id GID of COLLECTION as MongoDB has it now; nullopt when it is gone.
    Result<std::optional<detail::Bson>> find_document(const std::string& collection,
                                                      const Gid& gid);
    Status retry_inbound(const DeadLetter& d);
    Status retry_outbound(const DeadLetter& d);

    // Deployment (connector.cpp).
    Status check_deployment(mongoc_client_t* client);
    // When authenticated, the user's privileges on the database (kMongoDeployment: which lack).
    Status check_privileges(mongoc_client_t* client);
    Status create_collections(mongoc_client_t* client);
};

}  // namespace outpost::mongo
