// Command handlers, grouped by concept across handshake.cpp, crud_read.cpp, crud_write.cpp,
// catalog.cpp, change_stream.cpp and txn.cpp. All run with Engine::mutex_ held.
#pragma once

#include "engine.hpp"

namespace standin {

// Reply helpers: handlers return the body fields; the dispatcher adds ok, $clusterTime and
// operationTime. An error outcome carries the error document (ok:0 ...).
Outcome reply_ok(Doc body);
Outcome reply_error(const Error& e);
Doc error_doc(const Error& e);
bool is_error_reply(const bson_t* reply);

// Special error code returned by Commands::write when a transaction holds the document and the
// command should wait for it (never sent to clients).
constexpr int kBlockedByTransaction = -1;

struct Commands {
    // handshake.cpp: hello family and server-level commands
    static Outcome hello(Engine& e, CommandCtx& c);
    static Outcome ping(Engine& e, CommandCtx& c);
    static Outcome build_info(Engine& e, CommandCtx& c);
    static Outcome misc(Engine& e,
                        CommandCtx& c);  // getParameter, serverStatus, replSetGetStatus...
    static Outcome configure_fail_point(Engine& e, CommandCtx& c);

    // crud.cpp
    static Outcome insert(Engine& e, CommandCtx& c);
    static Outcome update(Engine& e, CommandCtx& c);
    static Outcome remove(Engine& e, CommandCtx& c);
    static Outcome find(Engine& e, CommandCtx& c);
    static Outcome find_and_modify(Engine& e, CommandCtx& c);
    static Outcome count(Engine& e, CommandCtx& c);
    static Outcome distinct(Engine& e, CommandCtx& c);
    static Outcome aggregate(Engine& e, CommandCtx& c);
    static Outcome get_more(Engine& e, CommandCtx& c);
    static Outcome kill_cursors(Engine& e, CommandCtx& c);

    // catalog.cpp
    static Outcome list_databases(Engine& e, CommandCtx& c);
    static Outcome list_collections(Engine& e, CommandCtx& c);
    static Outcome list_indexes(Engine& e, CommandCtx& c);
    static Outcome create(Engine& e, CommandCtx& c);
    static Outcome drop(Engine& e, CommandCtx& c);
    static Outcome drop_database(Engine& e, CommandCtx& c);
    static Outcome rename_collection(Engine& e, CommandCtx& c);
    static Outcome create_indexes(Engine& e, CommandCtx& c);
    static Outcome drop_indexes(Engine& e, CommandCtx& c);
    static Outcome coll_mod(Engine& e, CommandCtx& c);

    // change_stream.cpp
    static Outcome open_change_stream(Engine& e, CommandCtx& c, const bson_t* pipeline);
    static Outcome stream_get_more(Engine& e, CommandCtx& c, Cursor& cur, int64_t batch_size);
    static void append_event(Engine& e, Event ev);  // assigns seq, trims the ring, wakes waiters

    // txn.cpp: sessions, transactions, retryable writes
    static Status begin_command(Engine& e,
                                CommandCtx& c);  // validates lsid/txnNumber/startTransaction
    static Outcome commit_transaction(Engine& e, CommandCtx& c);
    static Outcome abort_transaction(Engine& e, CommandCtx& c);
    static Outcome end_sessions(Engine& e, CommandCtx& c);
    static void abort_txn(Engine& e, Session& s);
    // Writes `after` (null: delete) for `id_key` in `coll`: directly when outside a transaction
    // (new clusterTime, write-ahead log, change event), or into the transaction's overlay with
    // conflict detection (112). `ev` is the change event to emit (its ts/seq are filled in).
    static Status write(Engine& e, CommandCtx& c, Collection& coll, const std::string& id_key,
                        const DocPtr& before, const DocPtr& after, Event ev);
    // Collection for a write, created on first use (in a transaction: at commit).
    static Result<Collection*> collection_for_write(Engine& e, CommandCtx& c,
                                                    const std::string& coll);

    // Shared cursor helpers (crud.cpp)
    static Doc cursor_reply(const std::string& ns, int64_t id, const char* batch_name,
                            const std::vector<DocPtr>& docs, const ResumeToken* pbrt);
    static int64_t new_cursor_id(Engine& e);
    static Outcome first_batch(Engine& e, CommandCtx& c, const std::string& ns,
                               std::vector<DocPtr> docs, int64_t batch_size, bool single_batch);
};

}  // namespace standin
