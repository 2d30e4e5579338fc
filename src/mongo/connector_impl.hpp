#pragma once
// Connector internals shared by connector.cpp, outbound.cpp, inbound.cpp and import.cpp.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "mongo/connector.hpp"
#include "mongo/handles.hpp"
#include "mongo/mapping.hpp"
#include "outpost/changelog.hpp"

namespace outpost::mongo {

// Keys of the connector's state in the server store's meta.
inline constexpr const char* kMetaServerId = "mongo:server_id";
inline constexpr const char* kMetaResumeToken = "mongo:resume_token";    // raw BSON of the token
inline constexpr const char* kMetaImportPending = "mongo:import_pending";  // raw BSON of the start token
// The newest outbound position whose MongoDB transaction the stream has passed (decimal): server
// records after it reach MongoDB after the events being read, so they win over those events.
inline constexpr const char* kMetaOwnSeen = "mongo:own_seen";
// The outbound session's lsid (raw BSON {id: UUID}): after a crash, its open transaction is ended with
// killSessions at the next start instead of holding its locks until the server's lifetime limit.
inline constexpr const char* kMetaOutboundLsid = "mongo:outbound_lsid";

// Every libmongoc call of the pool waits at most this long for a server (serverSelectionTimeoutMS
// of the pool), because a call waiting for one cannot be ended from another thread: stop() would
// wait for it. wait_for_primary repeats selections up to the URL's serverSelectionTimeoutMS.
inline constexpr int kSelectionSliceMs = 1000;

struct Connector::Impl {
    Impl(std::shared_ptr<Store> s, ConnectorOptions o, Mapping m)
        : store(std::move(s)), options(std::move(o)), mapping(std::move(m)) {}

    std::shared_ptr<Store> store;
    ConnectorOptions options;
    Mapping mapping;
    std::string server_id;
    std::string marker_id;  // "server:<server_id>"

    std::mutex pool_mutex;
    detail::ClientPoolPtr pool;
    int selection_timeout_ms = 30000;  // the URL's serverSelectionTimeoutMS (set by ensure_pool)
    Status ensure_pool();
    Result<detail::PooledClient> client();
    // Waits until C can select a server that takes writes: up to the URL's serverSelectionTimeoutMS
    // (default 30 s), in kSelectionSliceMs steps that end when stopping. Errors: kMongoConnection
    // (the last selection error), kIllegalState when stopping.
    Status wait_for_primary(mongoc_client_t* c);
    Status stopping_status() const;

    // Threads. stopping is set by stop() and cleared by start(); lifecycle_mutex orders the starting
    // and the joining of the threads when start() and stop() (or two stop()s) run at once.
    std::atomic<bool> stopping{false};
    std::atomic<bool> running{false};
    std::mutex lifecycle_mutex;
    std::thread outbound_thread;
    std::thread inbound_thread;
    std::function<void()> on_inbound_commit;
    uint64_t observer = 0;
    bool observing = false;
    std::mutex wake_mutex;
    std::condition_variable wake;  // outbound: new history; inbound: an import was requested
    uint64_t wake_seq = 0;
    // Sleeps up to MS or until stop()/a wake. True when stopping.
    bool sleep_for(int ms);
    // The number of wakes so far; wait_for_wake(SEEN, MS) sleeps up to MS unless a wake came after
    // SEEN was taken (so a commit between the look and the sleep is not missed). True when stopping.
    uint64_t wakes();
    bool wait_for_wake(uint64_t seen, int ms);

    // Import requests while running (served by the inbound thread).
    std::mutex import_mutex;
    std::condition_variable import_done;
    bool import_requested = false;
    std::function<void(const ImportProgress&)> import_progress;
    std::optional<Result<ImportStats>> import_result;
    std::mutex import_run_mutex;  // one import at a time

    // Status.
    mutable std::mutex status_mutex;
    ConnectorStatus st;  // counters and lists; guarded by status_mutex
    std::atomic<uint64_t> outbound_position{0};
    void count(uint64_t ConnectorStatus::*field, uint64_t n = 1);
    void set_error(const Status& s);
    void report(const std::string& text) const;  // options.log (warn), or stderr
    void note(const std::string& text) const;    // options.log (info), or stderr
    void add_dead_letter(DeadLetter d);
    void set_resume_token(const bson_t* token);

    // Outbound (outbound.cpp).
    void outbound_loop();
    Result<uint64_t> read_marker(mongoc_client_t* client);
    struct Op {
        const CollectionMap* coll = nullptr;
        bool remove = false;
        bool upsert = false;  // the object is new on the server (outbound_rules.hpp)
        Gid gid;
        detail::Bson update;  // {$set, $unset}
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
        std::vector<CollectionWrites> writes;  // the ops' bulk writes for the first attempt, or empty
        uint64_t last = 0;      // the marker's position: the newest history record the batch covers
        uint64_t nrecords = 0;  // records it covers that did not come from MongoDB
    };
    // Reads the history after POS, maps it to batches and hands them to PUSH in history order until
    // stopping or PUSH returns false. Runs on its own thread beside the writing outbound thread.
    void prepare_outbound(uint64_t pos, const std::function<bool(Batch&&)>& push);
    // SESSION is the outbound thread's session, made when empty. One session (one lsid) for every
    // transaction, also after network errors: the next transaction number ends any transaction that a
    // failed statement or commit left open on the server, with its locks.
    // WRITES (may be empty) are the ops' bulk writes made ahead; they are used by the first attempt.
    Status write_batch(mongoc_client_t* client, detail::SessionPtr& session, std::vector<Op>& ops,
                       std::vector<CollectionWrites>& writes, uint64_t position);
    Status run_transaction(mongoc_client_t* client, detail::SessionPtr& session, std::vector<Op>& ops,
                           std::vector<CollectionWrites>& writes, uint64_t position, bool& transient);

    // Inbound (inbound.cpp).
    void inbound_loop();
    Status stream_once(mongoc_client_t* client);  // runs one change stream until an error or stop

    // Import (import.cpp). Runs on the calling thread; the caller holds import_run_mutex. REASON
    // says why it runs (for its log lines and ImportRun); AUTOMATIC when the connector started it.
    Result<ImportStats> import_now(mongoc_client_t* client, bool automatic, const std::string& reason,
                                   const std::function<void(const ImportProgress&)>& progress);
    void serve_import_request(mongoc_client_t* client);

    // The change stream's current point (a post-batch token), taken with a stream opened and closed.
    Result<detail::Bson> current_point(mongoc_client_t* client);
    // Stores the current point as the resume token when none is stored and no import will run, so
    // that every change after start() returns is streamed.
    Status ensure_start_point(mongoc_client_t* client);

    // Deployment (connector.cpp).
    Status check_deployment(mongoc_client_t* client);
    Status create_collections(mongoc_client_t* client);
};

int64_t now_ms();

}  // namespace outpost::mongo
