// The server-wide state of the stand-in: catalog (collections with versioned records, unique
// indexes), the cluster clock, the change-event log, cursors, sessions and transactions, fail
// points and persistence; and the command dispatcher over it.
//
// Threading: all of Engine runs on the single io_context thread. `mutex_` is still taken by
// run_command() and every timer callback so that a move to a thread pool stays safe; it guards
// every member below except the immutable `options_`.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bson_util.hpp"
#include "wire.hpp"

namespace standin {

class Persistence;

struct Options {
    std::string bind = "127.0.0.1";
    uint16_t port = 27017;
    std::string replset = "rs0";  // empty: a standalone server (no change streams, no transactions)
    std::string advertised;       // host:port; default bind:actual port
    std::string dbpath;           // empty: in memory
    size_t oplog_size = 1000000;
    bool test_commands = false;
    int log_level = 1;  // 0 quiet, 1 info, 2 debug
};

using Clock = std::chrono::steady_clock;

// ---- storage ----

struct Version {
    uint64_t ts = 0;
    DocPtr doc;  // null: deleted at ts
};

struct Record {
    std::string key;                // canonical key of _id
    std::vector<Version> versions;  // ascending ts; the last is current
};

struct IndexSpec {
    std::string name;
    Doc key;
    bool unique = false;
    Doc spec;  // as listIndexes returns it
};

struct Collection {
    std::string db, name;
    std::array<uint8_t, 16> uuid{};
    Doc options;
    std::map<uint64_t, Record> records;               // insertion order
    std::unordered_map<std::string, uint64_t> by_id;  // newest record for an _id key
    std::vector<IndexSpec> indexes;                   // [0] is _id_
    std::map<std::string, std::unordered_map<std::string, std::string>>
        unique_keys;  // index -> key -> _id key
    uint64_t next_order = 1;

    // Current (latest) document with this _id key, or null.
    DocPtr current(const std::string& id_key) const;
};

// ---- change events ----

struct Event {
    uint64_t seq = 0;
    uint64_t ts = 0;
    int64_t wall_ms = 0;
    uint32_t txn_index = 0;
    std::string op;  // insert update replace delete drop rename dropDatabase
    std::string db, coll, to_db, to_coll;
    LazyDoc document_key;        // {_id: ...}; unset: taken from full_document or before
    DocPtr full_document;        // insert/replace: the document; update: the post-image
    DocPtr before;               // pre-image (update/replace/delete)
    LazyDoc update_description;  // update only
    LazyDoc lsid;                // transactional events only
    int64_t txn_number = -1;
};

// Resume token fields; encoded as fixed-width upper-case hex so that string order is stream order.
// The event's documentKey ({_id}) as a document.
Doc event_document_key(const Event& ev);

struct ResumeToken {
    enum Kind : uint8_t { kEvent = 1, kInvalidate = 2, kHighWater = 3 };
    uint64_t ts = 0;
    uint64_t seq = 0;
    uint32_t txn_index = 0;
    uint64_t epoch = 0;
    Kind kind = kHighWater;
    std::string encode() const;
    static std::optional<ResumeToken> decode(std::string_view hex);
};

struct StreamSpec {
    enum Scope { kCollection, kDatabase, kCluster } scope = kCollection;
    std::string db, coll;
    Doc stages;  // the stages after $changeStream (BSON array)
    std::string full_document = "default";
    std::string before_change = "off";
    bool show_expanded = false;
};

// ---- cursors ----

struct Cursor {
    int64_t id = 0;
    std::string ns;  // as reported in replies
    bool is_stream = false;
    // query cursors
    std::deque<DocPtr> pending;
    // change stream cursors
    StreamSpec stream;
    uint64_t next_seq = 1;           // first event sequence not yet examined
    std::optional<uint64_t> min_ts;  // startAtOperationTime
    ResumeToken pbrt;
    bool invalidate_pending = false;
    ResumeToken invalidate_token;
    Clock::time_point last_use;
    std::string session_key;  // owning session, if any
};

// ---- sessions and transactions ----

struct OverlayEntry {
    DocPtr doc;  // null: deleted by the transaction
    uint64_t seq = 0;
    bool existed_before = false;
};

struct Txn {
    uint64_t id = 0;
    uint64_t snapshot_ts = 0;
    Clock::time_point started;
    // ns -> _id key -> the transaction's version of the document
    std::map<std::string, std::map<std::string, OverlayEntry>> overlay;
    uint64_t next_seq = 1;
    std::vector<Event> events;  // ts/seq assigned at commit
    // Collections the transaction created (explicitly or by a write), by namespace: visible to
    // the transaction only, added to the catalog at commit.
    std::map<std::string, std::unique_ptr<Collection>> new_collections;
    bool failed = false;
};

enum class TxnState { kNone, kInProgress, kCommitted, kAborted };

struct Session {
    std::string key;
    Doc lsid;
    int64_t txn_number = -1;
    TxnState state = TxnState::kNone;
    std::unique_ptr<Txn> txn;
    std::map<int64_t, Doc> retry_results;  // txnNumber -> reply of a retryable write
    Clock::time_point last_use;
};

// ---- fail points ----

// A fail point as configureFailPoint sets it (failCommand, failGetMoreAfterCursorCheckout,
// onPrimaryTransactionalWrite); the fields each one reads are noted.
struct FailPoint {
    bool active = false;
    int64_t times = -1;              // -1: always
    int64_t skip = 0;                // mode {skip: n}: the first n uses pass, then always
    std::set<std::string> commands;  // failCommand
    int error_code = 0;              // failCommand, failGetMoreAfterCursorCheckout
    bool has_error_code = false;
    std::vector<std::string> error_labels;  // failCommand
    bool has_error_labels = false;  // when absent, the labels a real server adds are computed
    bool close_connection = false;  // failCommand, onPrimaryTransactionalWrite (default true there)
    int64_t block_ms = 0;           // failCommand
    Doc write_concern_error;        // failCommand: added to the reply of the command
    int fail_before_commit_code = 0;  // onPrimaryTransactionalWrite: fail before the write

    // Counts one use; true when the fail point fires for it.
    bool fire() {
        if (!active) return false;
        if (skip > 0) {
            --skip;
            return false;
        }
        if (times > 0 && --times == 0) active = false;
        return true;
    }
};

// ---- command plumbing ----

struct ConnInfo {
    int32_t connection_id = 0;
    std::string peer;
};

// What the connection does with a command's result.
struct Outcome {
    Doc reply;
    bool close = false;              // close the connection (after sending nothing)
    bool park = false;               // wait, then run the same command again
    Clock::time_point park_until{};  // when parked: the deadline
    int64_t delay_ms = 0;            // blockConnection: reply after this delay
};

// Generic arguments of one command invocation.
struct CommandCtx {
    std::string db;
    std::string name;
    const bson_t* cmd = nullptr;
    ConnInfo* conn = nullptr;
    Session* session = nullptr;  // when lsid was sent
    std::optional<int64_t> txn_number;
    bool autocommit_false = false;
    bool start_transaction = false;
    bool in_txn = false;  // part of a multi-document transaction
    Txn* txn = nullptr;
    bool rerun_after_deadline = false;  // parked before, and its deadline has passed
    Clock::time_point deadline{};       // for parked commands
    uint64_t after_cluster_time = 0;
    int64_t max_time_ms = -1;
};

class Engine {
  public:
    explicit Engine(Options opts);
    ~Engine();

    // Loads the data directory (when set). Error when it cannot be opened or replayed.
    Status open();
    // Called once the listening port is known.
    void set_advertised(const std::string& host_port);

    // Runs one decoded request; `rerun`/`deadline` are set when it was parked before.
    Outcome run(const Request& req, ConnInfo& conn, bool rerun, Clock::time_point deadline);

    // Housekeeping: expire idle cursors and sessions, abort transactions older than 60 s.
    void tick();

    // Write-ahead log (with --dbpath): true when commands ran whose log records are not yet on
    // disk; flush_log() writes and syncs them. A reply to a write must wait for flush_log().
    bool log_pending();
    Status flush_log();

    // Registers a callback that wakes parked commands; returns its id.
    uint64_t add_waiter(std::function<void()> wake);
    void remove_waiter(uint64_t id);

    const Options& options() const { return options_; }
    std::mutex& mutex() { return mutex_; }

    // -- used by the command modules --
    uint64_t next_ts();
    uint64_t last_ts() const { return cluster_ts_; }
    int64_t now_ms() const;
    void append_cluster_time(bson_t* reply, uint64_t op_ts) const;
    Collection* find_collection(const std::string& db, const std::string& coll);
    // As the transaction TXN (may be null) sees the catalog: with the collections it created.
    Collection* find_collection(const std::string& db, const std::string& coll, const Txn* txn);
    Result<Collection*> create_collection(const std::string& db, const std::string& coll,
                                          const bson_t* options, bool log_event);
    // A new collection that is not in the catalog yet (error 73 for an invalid name).
    static Result<std::unique_ptr<Collection>> new_collection(const std::string& db,
                                                              const std::string& coll,
                                                              const bson_t* options);
    // Adds a collection made by new_collection() to the catalog (REQUIRES: none of its name).
    Collection* add_collection(std::unique_ptr<Collection> c, bool log_event);
    std::vector<Event> drop_collection_events(const std::string& db, const std::string& coll);

    void wake_waiters();  // REQUIRES: mutex_ held

  private:
    Outcome dispatch(CommandCtx& ctx);
    std::optional<Outcome> resolve_db(const Request& req, CommandCtx& ctx) const;
    void gossip_cluster_time(const bson_t* cmd);
    Outcome run_failed_command(CommandCtx& ctx);
    // An error reply with the cluster time.
    Outcome error_reply(const Error& e) const;
    std::optional<Outcome> fire_on_primary_txn_write(CommandCtx& ctx, bool* close_after_write);
    static void set_park_deadline(const CommandCtx& ctx, Outcome& out);
    void finish_reply(CommandCtx& ctx, Outcome& out, std::optional<uint64_t> snapshot,
                      uint64_t ts_before, bool retryable);
    void add_write_concern_error(const CommandCtx& ctx, Outcome& out, const bson_t* wce,
                                 bool explicit_labels, const std::vector<std::string>& labels);
    Outcome error_outcome(const Error& e, CommandCtx* ctx);
    Result<std::optional<uint64_t>> snapshot_read(const CommandCtx& ctx) const;
    static void add_at_cluster_time(Doc& reply, uint64_t ts);
    Doc write_concern_error(const CommandCtx& ctx) const;

  public:
    // The error labels the server adds to an error with CODE (0: none) and a write concern error
    // with WC_CODE (0: none); IN_STREAM_GET_MORE for an error raised inside a change stream's
    // getMore.
    std::vector<std::string> automatic_labels(const CommandCtx& ctx, int code, int wc_code,
                                              bool in_stream_get_more) const;

  private:
    const Options options_;
    std::mutex mutex_;

  public:
    // Server-wide state, shared by the command modules (commands.hpp) and persistence.
    // All below guarded by mutex_.
    std::string advertised_;
    uint64_t cluster_ts_ = 0;
    uint64_t last_write_ts_ = 0;  // the clusterTime of the last write (gossip does not move it)
    uint64_t epoch_ = 0;
    uint64_t term_ = 1;
    std::map<std::string, std::map<std::string, std::unique_ptr<Collection>>> dbs_;
    std::deque<Event> events_;
    uint64_t next_event_seq_ = 1;
    uint64_t first_retained_seq_ = 1;
    std::map<int64_t, Cursor> cursors_;
    std::unordered_map<std::string, Session> sessions_;
    std::map<std::string, uint64_t> locks_;  // ns + '\0' + _id key -> transaction id holding it
    std::map<uint64_t, Txn*> active_txns_;
    uint64_t next_txn_id_ = 1;
    FailPoint fail_command_;
    FailPoint fail_get_more_;         // failGetMoreAfterCursorCheckout
    FailPoint on_primary_txn_write_;  // onPrimaryTransactionalWrite
    std::map<uint64_t, std::function<void()>> waiters_;
    uint64_t next_waiter_ = 1;
    std::unique_ptr<Persistence> persistence_;
    std::vector<std::pair<std::string, uint64_t>>
        gc_candidates_;  // (ns, order) touched while txns ran
};

}  // namespace standin
