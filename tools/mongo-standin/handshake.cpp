// hello/isMaster and the server-level commands (ping, buildInfo, stubs, configureFailPoint).
#include <algorithm>
#include <cstring>

#include "commands.hpp"

namespace standin {

namespace {

// What a replica-set member adds to hello: its set, hosts, election id and last write.
void append_replica_set_fields(Engine& e, bson_t* b) {
    append_str(b, "setName", e.options().replset);
    BSON_APPEND_INT32(b, "setVersion", 1);
    bson_t hosts;
    BSON_APPEND_ARRAY_BEGIN(b, "hosts", &hosts);
    append_str(&hosts, "0", e.advertised_);
    bson_append_array_end(b, &hosts);
    append_str(b, "primary", e.advertised_);
    append_str(b, "me", e.advertised_);
    uint8_t oid_bytes[12] = {0x7f, 0xff, 0xff, 0xff};
    for (int i = 0; i < 8; ++i) oid_bytes[4 + i] = static_cast<uint8_t>(e.term_ >> (56 - 8 * i));
    bson_oid_t oid;
    bson_oid_init_from_data(&oid, oid_bytes);
    BSON_APPEND_OID(b, "electionId", &oid);
    uint64_t ts = e.cluster_ts_ ? e.cluster_ts_ : (static_cast<uint64_t>(e.now_ms() / 1000) << 32);
    int64_t wall = static_cast<int64_t>(ts_secs(ts)) * 1000;
    bson_t lw, ot, mot;
    BSON_APPEND_DOCUMENT_BEGIN(b, "lastWrite", &lw);
    BSON_APPEND_DOCUMENT_BEGIN(&lw, "opTime", &ot);
    append_ts(&ot, "ts", ts);
    BSON_APPEND_INT64(&ot, "t", static_cast<int64_t>(e.term_));
    bson_append_document_end(&lw, &ot);
    BSON_APPEND_DATE_TIME(&lw, "lastWriteDate", wall);
    BSON_APPEND_DOCUMENT_BEGIN(&lw, "majorityOpTime", &mot);
    append_ts(&mot, "ts", ts);
    BSON_APPEND_INT64(&mot, "t", static_cast<int64_t>(e.term_));
    bson_append_document_end(&lw, &mot);
    BSON_APPEND_DATE_TIME(&lw, "majorityWriteDate", wall);
    bson_append_document_end(b, &lw);
}

}  // namespace

Outcome Commands::hello(Engine& e, CommandCtx& c) {
    Doc d;
    bson_t* b = d.get();
    BSON_APPEND_BOOL(b, "ismaster", true);
    BSON_APPEND_BOOL(b, "isWritablePrimary", true);
    if (auto ok = get_bool(c.cmd, "helloOk"); ok && *ok) BSON_APPEND_BOOL(b, "helloOk", true);
    BSON_APPEND_BOOL(b, "secondary", false);
    if (!e.options().replset.empty()) append_replica_set_fields(e, b);
    BSON_APPEND_INT32(b, "maxBsonObjectSize", 16777216);
    BSON_APPEND_INT32(b, "maxMessageSizeBytes", 48000000);
    BSON_APPEND_INT32(b, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(b, "localTime", e.now_ms());
    BSON_APPEND_INT32(b, "logicalSessionTimeoutMinutes", 30);
    BSON_APPEND_INT32(b, "connectionId", c.conn ? c.conn->connection_id : 0);
    BSON_APPEND_INT32(b, "minWireVersion", 0);
    BSON_APPEND_INT32(b, "maxWireVersion", 17);
    BSON_APPEND_BOOL(b, "readOnly", false);
    return reply_ok(std::move(d));
}

Outcome Commands::ping(Engine&, CommandCtx&) { return reply_ok(Doc()); }

Outcome Commands::build_info(Engine&, CommandCtx&) {
    Doc d;
    bson_t* b = d.get();
    BSON_APPEND_UTF8(b, "version", "6.0.0");
    BSON_APPEND_UTF8(b, "gitVersion", "mongo-standin");
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(b, "versionArray", &arr);
    BSON_APPEND_INT32(&arr, "0", 6);
    BSON_APPEND_INT32(&arr, "1", 0);
    BSON_APPEND_INT32(&arr, "2", 0);
    BSON_APPEND_INT32(&arr, "3", 0);
    bson_append_array_end(b, &arr);
    BSON_APPEND_INT32(b, "bits", 64);
    BSON_APPEND_BOOL(b, "debug", false);
    BSON_APPEND_INT32(b, "maxBsonObjectSize", 16777216);
    bson_t modules;
    BSON_APPEND_ARRAY_BEGIN(b, "modules", &modules);
    bson_append_array_end(b, &modules);
    bson_t se;
    BSON_APPEND_ARRAY_BEGIN(b, "storageEngines", &se);
    BSON_APPEND_UTF8(&se, "0", "standin");
    bson_append_array_end(b, &se);
    return reply_ok(std::move(d));
}

Outcome Commands::misc(Engine& e, CommandCtx& c) {
    Doc d;
    bson_t* b = d.get();
    if (c.name == "replSetGetStatus") {
        if (e.options().replset.empty())
            return reply_error(Error{76, "not running with --replSet", {}});
        append_str(b, "set", e.options().replset);
        BSON_APPEND_DATE_TIME(b, "date", e.now_ms());
        BSON_APPEND_INT32(b, "myState", 1);
        BSON_APPEND_INT64(b, "term", static_cast<int64_t>(e.term_));
        bson_t members, m;
        BSON_APPEND_ARRAY_BEGIN(b, "members", &members);
        BSON_APPEND_DOCUMENT_BEGIN(&members, "0", &m);
        BSON_APPEND_INT32(&m, "_id", 0);
        append_str(&m, "name", e.advertised_);
        BSON_APPEND_DOUBLE(&m, "health", 1.0);
        BSON_APPEND_INT32(&m, "state", 1);
        BSON_APPEND_UTF8(&m, "stateStr", "PRIMARY");
        BSON_APPEND_BOOL(&m, "self", true);
        bson_append_document_end(&members, &m);
        bson_append_array_end(b, &members);
    } else if (c.name == "serverStatus") {
        BSON_APPEND_UTF8(b, "host", e.advertised_.c_str());
        BSON_APPEND_UTF8(b, "version", "6.0.0");
        BSON_APPEND_UTF8(b, "process", "mongo-standin");
        BSON_APPEND_INT64(b, "uptime", 0);
        bson_t conns;
        BSON_APPEND_DOCUMENT_BEGIN(b, "connections", &conns);
        BSON_APPEND_INT32(&conns, "current", 0);
        bson_append_document_end(b, &conns);
        // Commands waiting (awaitData getMores, writes blocked by a transaction); tests poll this.
        bson_t standin;
        BSON_APPEND_DOCUMENT_BEGIN(b, "standin", &standin);
        BSON_APPEND_INT64(&standin, "parkedCommands", static_cast<int64_t>(e.waiters_.size()));
        BSON_APPEND_INT64(&standin, "openCursors", static_cast<int64_t>(e.cursors_.size()));
        BSON_APPEND_INT64(&standin, "retainedEvents", static_cast<int64_t>(e.events_.size()));
        bson_append_document_end(b, &standin);
    } else if (c.name == "getParameter") {
        bson_iter_t it;
        if (bson_iter_init_find(&it, c.cmd, "featureCompatibilityVersion")) {
            bson_t f;
            BSON_APPEND_DOCUMENT_BEGIN(b, "featureCompatibilityVersion", &f);
            BSON_APPEND_UTF8(&f, "version", "6.0");
            bson_append_document_end(b, &f);
        }
    } else if (c.name == "whatsmyuri") {
        append_str(b, "you", c.conn ? c.conn->peer : "");
    } else if (c.name == "connectionStatus") {
        bson_t info, arr1, arr2;
        BSON_APPEND_DOCUMENT_BEGIN(b, "authInfo", &info);
        BSON_APPEND_ARRAY_BEGIN(&info, "authenticatedUsers", &arr1);
        bson_append_array_end(&info, &arr1);
        BSON_APPEND_ARRAY_BEGIN(&info, "authenticatedUserRoles", &arr2);
        bson_append_array_end(&info, &arr2);
        bson_append_document_end(b, &info);
    } else if (c.name == "dbStats") {
        append_str(b, "db", c.db);
        auto dbit = e.dbs_.find(c.db);
        BSON_APPEND_INT64(b, "collections",
                          dbit == e.dbs_.end() ? 0 : static_cast<int64_t>(dbit->second.size()));
    }
    return reply_ok(std::move(d));
}

Outcome Commands::configure_fail_point(Engine& e, CommandCtx& c) {
    if (!e.options().test_commands)
        return reply_error(Error{59, "no such command: 'configureFailPoint'", {}});
    if (c.db != "admin")
        return reply_error(
            Error{13, "configureFailPoint may only be run against the admin database.", {}});
    auto name = get_string(c.cmd, "configureFailPoint");
    FailPoint* target = nullptr;
    if (name == "failCommand")
        target = &e.fail_command_;
    else if (name == "failGetMoreAfterCursorCheckout")
        target = &e.fail_get_more_;
    else if (name == "onPrimaryTransactionalWrite")
        target = &e.on_primary_txn_write_;
    else
        return reply_error(Error{2, "Cannot find failpoint " + name.value_or(""), {}});
    FailPoint fp;
    fp.close_connection = target == &e.on_primary_txn_write_;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.cmd, "mode")) return reply_error(Error{2, "missing mode", {}});
    if (BSON_ITER_HOLDS_UTF8(&it)) {
        std::string mode = bson_iter_utf8(&it, nullptr);
        if (mode == "alwaysOn") {
            fp.active = true;
        } else if (mode == "off") {
            fp.active = false;
        } else {
            return reply_error(Error{2, "unknown mode " + mode, {}});
        }
    } else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
        Doc m = iter_subdoc(&it);
        auto times = get_int(m.get(), "times");
        auto skip = get_int(m.get(), "skip");
        if (times) {
            fp.times = *times;
            fp.active = *times > 0;
        } else if (skip) {
            fp.skip = std::max<int64_t>(0, *skip);
            fp.active = true;
        } else {
            return reply_error(Error{2, "mode needs times or skip", {}});
        }
    } else {
        return reply_error(Error{2, "bad mode", {}});
    }
    if (bson_iter_init_find(&it, c.cmd, "data") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        Doc data = iter_subdoc(&it);
        bson_iter_t f;
        if (bson_iter_init_find(&f, data.get(), "failCommands") && BSON_ITER_HOLDS_ARRAY(&f)) {
            bson_iter_t a;
            bson_iter_recurse(&f, &a);
            while (bson_iter_next(&a))
                if (BSON_ITER_HOLDS_UTF8(&a)) fp.commands.insert(bson_iter_utf8(&a, nullptr));
        }
        if (auto code = get_int(data.get(), "errorCode")) {
            fp.error_code = static_cast<int>(*code);
            fp.has_error_code = true;
        }
        if (bson_iter_init_find(&f, data.get(), "errorLabels") && BSON_ITER_HOLDS_ARRAY(&f)) {
            fp.has_error_labels = true;
            bson_iter_t a;
            bson_iter_recurse(&f, &a);
            while (bson_iter_next(&a))
                if (BSON_ITER_HOLDS_UTF8(&a))
                    fp.error_labels.emplace_back(bson_iter_utf8(&a, nullptr));
        }
        fp.close_connection = get_bool(data.get(), "closeConnection").value_or(fp.close_connection);
        if (get_bool(data.get(), "blockConnection").value_or(false))
            fp.block_ms = get_int(data.get(), "blockTimeMS").value_or(0);
        if (bson_iter_init_find(&f, data.get(), "writeConcernError") &&
            BSON_ITER_HOLDS_DOCUMENT(&f))
            fp.write_concern_error = iter_subdoc(&f);
        if (auto code = get_int(data.get(), "failBeforeCommitExceptionCode"))
            fp.fail_before_commit_code = static_cast<int>(*code);
    }
    if (target == &e.fail_get_more_ && fp.active && !fp.has_error_code)
        return reply_error(Error{2, "failGetMoreAfterCursorCheckout needs data.errorCode", {}});
    *target = std::move(fp);
    return reply_ok(Doc());
}

}  // namespace standin
