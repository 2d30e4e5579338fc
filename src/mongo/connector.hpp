#pragma once
// The MongoDB connector of the sync server: keeps one MongoDB database and the server store in
// step, both ways (docs/mongo-mapping.md).
//
// - Outbound (server -> MongoDB): follows the server store's change log (the server history) after
//   the connector's position and writes each history transaction as one MongoDB transaction
//   (consecutive ones batched when behind). Its first statement upserts this server's marker
//   {_id: "server:<server_id>", position} in `__outpost_meta`; then `$set`/`$unset` with upsert per
//   changed object and deletes by _id. Records whose origin is kOrigin came from MongoDB and are
//   skipped. The position is read back from `__outpost_meta` at start, so a crash neither loses nor
//   repeats a write. TransientTransactionError, UnknownTransactionCommitResult and network errors
//   are retried with backoff, in order.
// - Inbound (MongoDB -> server): one database-level change stream. Each batch of events is applied
// in
//   one server write transaction (never splitting a MongoDB transaction) with
//   ChangeLog::apply(..., kOrigin, ApplyMode::kRecord), so the changes become server history; the
//   resume token (also the post-batch token of empty batches) is stored in the same transaction.
//   The events of a transaction that wrote this server's marker are its own writes: skipped and
//   counted.
// - Import: reads every mapped collection, applies the differences (adds, updates, removes), then
//   streams from the point taken before the read. Runs at first start when configured, on demand,
//   and by itself when the change stream's history is lost (286).
//
// Threading: start() runs two threads (outbound, inbound); all public methods may be called from
// any thread. The store must stay open while the connector lives.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.hpp"
#include "outpost/store.hpp"

namespace outpost::mongo {

// The origin of server history records that the connector wrote (WriteTxn origin).
inline constexpr const char* kOrigin = "mongo";
// The metadata collection that holds each server's outbound marker.
inline constexpr const char* kMetaCollection = "__outpost_meta";

struct ConnectorOptions {
    std::string url;       // --mongo-url / mongoDb.url: a MongoDB connection string
    std::string database;  // --mongo-db / mongoDb.database
    // Stable id of this server: keys its marker in __outpost_meta. Empty: one is made once and kept
    // in the store's meta ("mongo:server_id"). Two servers on one database need different ids.
    std::string server_id;
    bool automatic_initial_import =
        false;                           // mongoDb.automaticInitialImport / --mongo-initial-import
    size_t max_property_size = 0;        // mongoDb.maxPropertySizeToMongoDb; 0: no limit
    bool strict_from_mongo = false;      // mongoDb.strictConversionsFromMongoDb
    bool strict_to_mongo = false;        // mongoDb.strictConversionsToMongoDb
    bool omit_null_to_mongo = false;     // mongoDb.omitNullValuesToMongoDb
    bool empty_list_for_absent = false;  // mongoDb.emptyListForAbsentValuesFromMongoDb
    bool remove_objects_of_dropped_collections = false;
    // Tuning (tests use small values).
    int max_await_ms = 500;             // change-stream getMore wait
    size_t outbound_max_records = 500;  // history records per MongoDB transaction at most
    size_t outbound_max_ops = 2000;     // document writes per MongoDB transaction at most
    size_t import_batch = 1000;         // documents per server transaction during an import
    // Where errors and dead letters (warn = true) and imports (warn = false, see run_import) are
    // reported as they happen; unset: stderr. Called on the connector's threads and on
    // run_import's caller.
    std::function<void(bool warn, const std::string&)> log;
};

struct DeadLetter {
    std::string direction;  // "inbound" or "outbound"
    std::string collection;
    std::string document_key;  // the _id as relaxed extended JSON
    std::string reason;
    std::string raw;      // the change event (inbound) or the update (outbound), as JSON
    int64_t time_ms = 0;  // wall clock
    uint64_t id = 0;      // its id among the kept letters (0 until kept)
};

// A page of the kept dead letters, newest first.
struct DeadLetterPage {
    uint64_t total = 0;  // kept now
    std::vector<DeadLetter> items;
};

// What an import did to one collection's objects.
struct CollectionImportStats {
    std::string collection;
    uint64_t docs_read = 0;
    uint64_t added = 0;    // objects the server did not have
    uint64_t updated = 0;  // objects whose properties differed
    uint64_t removed = 0;  // objects no longer in MongoDB
    uint64_t dead_letters = 0;
};

struct ImportStats {
    uint64_t collections = 0;  // collections read
    uint64_t docs_read = 0;
    uint64_t added = 0;    // objects the server did not have
    uint64_t updated = 0;  // objects whose properties differed
    uint64_t removed = 0;  // objects no longer in MongoDB
    uint64_t dead_letters = 0;
    double seconds = 0;
    double docs_per_s = 0;
    std::vector<CollectionImportStats> by_collection;  // in reading order
};

struct ImportProgress {
    std::string collection;              // the collection being read
    uint64_t collection_index = 0;       // its place, 1-based, among `collections`
    uint64_t collections = 0;            // mapped collections
    uint64_t collection_docs_done = 0;   // read from this collection so far
    uint64_t collection_docs_total = 0;  // its estimate (estimatedDocumentCount at the start)
    bool collection_finished = false;    // this collection is read and its differences applied
    uint64_t docs_done = 0;              // over every collection so far
    uint64_t docs_total = 0;             // estimate (estimatedDocumentCount of each at the start)
    double docs_per_s = 0;
    double eta_seconds = 0;
    bool finished = false;  // the whole import
};

struct ImportRun {
    int64_t started_ms = 0;
    int64_t finished_ms = 0;
    bool automatic =
        false;           // started by history loss, an unfinished import or automaticInitialImport
    std::string reason;  // why it ran, as its log lines say
    ImportStats stats;
    std::string error;  // empty when it succeeded
};

// The import that runs now.
struct RunningImport {
    int64_t started_ms = 0;
    bool automatic = false;
    std::string reason;
    ImportProgress progress;  // as of its last batch (zero until the first collection is read)
};

struct ConnectorStatus {
    // What the connector does now: stopped (not started), connecting (no change stream open yet,
    // or reconnecting), importing (an import runs), streaming, failing (an error since the last
    // success, or the inbound stream stopped for good: see last_error and inbound_stopped).
    enum class State { kConnecting, kImporting, kStreaming, kFailing, kStopped };
    State state = State::kStopped;
    bool running = false;
    std::string server_id;
    // Outbound: the last server history position written to MongoDB (or skipped as MongoDB's own),
    // the server's newest position, and the difference.
    uint64_t outbound_position = 0;
    uint64_t server_head = 0;
    uint64_t outbound_lag = 0;
    uint64_t outbound_txns = 0;     // MongoDB transactions committed
    uint64_t outbound_records = 0;  // server history records written
    uint64_t outbound_docs = 0;     // document writes (upserts and deletes)
    // Inbound.
    uint64_t inbound_txns = 0;    // server transactions committed
    uint64_t inbound_events = 0;  // change events applied
    uint64_t echoes_skipped = 0;  // events of this server's own transactions
    uint64_t lookups = 0;         // documents read for updates that could not be mapped alone
    uint64_t retries = 0;         // retried transactions, commits and stream restarts
    std::string resume_token;     // relaxed extended JSON of the stored token
    std::string last_error;       // the newest error (empty when none)
    std::string inbound_stopped;  // why the inbound stream stopped (strict conversions), else empty
    // Inbound lag. last_event_ms: MongoDB's time of the newest change event committed (its
    // wallTime, else its clusterTime's seconds), last_applied_ms: when it was committed (wall
    // clock), 0 when none yet. pending_events: events read from the stream and not committed yet.
    // lag_s: while events are pending, now - last_event_ms; when none are, last_applied_ms -
    // last_event_ms (how late the newest event was applied); 0 before the first event.
    int64_t last_event_ms = 0;
    int64_t last_applied_ms = 0;
    uint64_t pending_events = 0;
    double lag_s = 0;
    uint64_t import_docs = 0;            // documents read by imports since start
    uint64_t dead_letters_total = 0;     // made since start (kept or not)
    uint64_t dead_letters_kept = 0;      // kept in the store now (dead_letters())
    std::vector<ImportRun> import_runs;  // the newest 20, oldest first
    std::optional<RunningImport> running_import;
};

// "connecting", "importing", "streaming", "failing", "stopped".
const char* state_name(ConnectorStatus::State state);

// URL with the password of its user info replaced by "***" (mongodb://user:***@host/...); URL as
// it is when it has none.
std::string url_without_password(const std::string& url);

class Connector {
  public:
    // STORE is the sync server's store; its change log is the server history. Checks the options
    // and the model's mapping (kInvalidArgument, kModelInvalid); does not connect yet.
    static Result<std::unique_ptr<Connector>> create(std::shared_ptr<Store> store,
                                                     ConnectorOptions options);
    ~Connector();  // stops
    Connector(const Connector&) = delete;
    Connector& operator=(const Connector&) = delete;

    // Connects and checks the deployment: a replica set (or sharded cluster), wire version >= 8
    // (MongoDB 4.2), and when authenticated the privileges find, insert, update, remove,
    // changeStream and createCollection on the database. The error says what is missing
    // (kMongoConnection, kMongoDeployment). Waits for a primary up to the URL's
    // serverSelectionTimeoutMS (30 s by default) unless stopped (kIllegalState).
    Status check_deployment();

    // Checks the deployment, creates missing collections, then starts the outbound and inbound
    // threads. Runs the initial import first (on the inbound thread, before streaming) when
    // automatic_initial_import is set and no change-stream position is stored yet.
    // ON_INBOUND_COMMIT (may be empty) is called after each server transaction the connector
    // committed (change-stream batches and import batches), on the connector's inbound thread or,
    // for an import run while stopped, on run_import's caller: post the fan-out (ServerCore::poll)
    // to the thread that owns the server core; do not block in it. Errors: the deployment check's;
    // kIllegalState when already started.
    //
    // The server must not trim history records the outbound writer has not passed yet
    // (status().outbound_position): trimmed records never reach MongoDB (reported in last_error).
    Status start(std::function<void()> on_inbound_commit);
    // Stops both threads (an outbound transaction in flight finishes or is aborted; either way the
    // position stays consistent). Idempotent; may run beside start() or another stop().
    // No wait for a server lasts longer than about a second once stopping (selections are short),
    // but a call waiting for the reply of a MongoDB that stopped answering ends only by the URL's
    // socketTimeoutMS (300 s by default): libmongoc cannot cancel it.
    void stop();
    // Tells the threads, and a check_deployment, start or run_import in progress on another thread,
    // to end, without waiting for them (for a signal handler's thread); stop() waits. Until the
    // next start(), those calls fail with kIllegalState.
    void request_stop();

    // Reads every mapped collection and applies the differences to the server store, then makes the
    // change stream continue from the point taken before reading. PROGRESS (may be empty) is called
    // about twice a second, at the end of each collection and at the end. While started, the import
    // runs on the inbound thread and this call waits for it. Used by `outpost-server mongo-import`.
    // Every import (this one, and those the connector starts by itself) also reports through
    // options.log (warn = false): a start line with its reason, progress (at most every 5 s), a
    // line per collection with its counts, and an end line with the counts and the duration (warn =
    // true when it failed).
    Result<ImportStats> run_import(std::function<void(const ImportProgress&)> progress);

    // The options it was made with.
    const ConnectorOptions& options() const;
    // The status, from memory and one short read transaction of the store (no MongoDB round trip).
    ConnectorStatus status() const;

    // ---- Dead letters (kept in the store; see dead_letters.hpp). Any thread.
    // The kept letters, newest first.
    Result<DeadLetterPage> dead_letters(size_t offset, size_t limit) const;
    // Tries letter ID again. Inbound: reads the document by its key from MongoDB now and applies
    // it through the inbound mapping (a document that is gone removes the object), as a server
    // history record of origin kOrigin. Outbound: writes the object's current server state to
    // MongoDB again ($set of every mapped field with upsert; a delete when the object is gone).
    // Either way the letter is removed when it succeeds and kept when not. Errors: kNotFound (no
    // such letter), kMongoMapping (still cannot be mapped or written), kMongoConnection or
    // kMongoCommand (MongoDB refused or cannot be reached: a server is waited for about a second,
    // kSelectionSliceMs, its reply up to the URL's socketTimeoutMS), storage errors. Retries run
    // one at a time, on the caller's thread, beside the connector's threads (started or not).
    Status retry_dead_letter(uint64_t id);
    // Removes letter ID. kNotFound when it is not kept.
    Status discard_dead_letter(uint64_t id);

    // Asks the started connector for an import and returns at once; its progress is
    // status().running_import, its result the newest of status().import_runs. kIllegalState when
    // not started, kAlreadyExists when an import runs or is asked for already.
    Status request_import();
    // The newest server history position written to MongoDB (or skipped as MongoDB's own): the
    // server may trim history up to here, not beyond. Cheap; any thread.
    uint64_t outbound_position() const;

    struct Impl;

  private:
    explicit Connector(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// "import items (1/2): docs 41000/100000 (41%); all collections 41000/150000 (27%), 52000 docs/s,
// 2.1 s left" for logs: the collection's own counts, then those of the whole import.
std::string format_progress(const ImportProgress& p);

// libmongoc's own log lines, by level.
enum class DriverLogLevel { kTrace, kDebug, kInfo, kWarn, kError };
using DriverLogSink =
    std::function<void(DriverLogLevel, std::string_view domain, std::string_view message)>;

// Routes libmongoc's own log lines (process-wide, every client) to SINK, from any thread. libmongoc
// reports server monitoring and connection attempts at debug level (every 0.5 s while a call waits
// for an unreachable server): they arrive as kDebug or kTrace, so a log at info level leaves them
// out. Without a sink (the default, or an empty SINK) warnings and errors go to stderr and the rest
// is dropped; libmongoc's own handler would print every level, debug lines on stdout.
void set_driver_log(DriverLogSink sink);

}  // namespace outpost::mongo
