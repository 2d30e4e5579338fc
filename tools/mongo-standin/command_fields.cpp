#include "command_fields.hpp"

#include <cstring>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>

namespace standin {

namespace {

// Arguments every command takes (the server's generic_argument.idl).
const std::set<std::string_view>& generic_arguments() {
    static const std::set<std::string_view> k = {"$db",
                                                 "$readPreference",
                                                 "$clusterTime",
                                                 "$audit",
                                                 "$client",
                                                 "$configServerState",
                                                 "$oplogQueryData",
                                                 "$queryOptions",
                                                 "$replData",
                                                 "$configTime",
                                                 "$topologyTime",
                                                 "apiVersion",
                                                 "apiStrict",
                                                 "apiDeprecationErrors",
                                                 "maxTimeMS",
                                                 "readConcern",
                                                 "writeConcern",
                                                 "lsid",
                                                 "clientOperationKey",
                                                 "txnNumber",
                                                 "autocommit",
                                                 "startTransaction",
                                                 "stmtId",
                                                 "comment",
                                                 "allowImplicitCollectionCreation",
                                                 "databaseVersion",
                                                 "shardVersion",
                                                 "tracking_info",
                                                 "coordinator",
                                                 "maxTimeMSOpOnly",
                                                 "txnRetryCounter",
                                                 "mayBypassWriteBlocking",
                                                 "help"};
    return k;
}

struct Fields {
    std::set<std::string_view> known;
    // Known options the stand-in does not implement: refused with 115 instead of ignored.
    std::set<std::string_view> unsupported;
};

const std::map<std::string_view, Fields>& command_fields() {
    static const std::map<std::string_view, Fields> k = {
        {"find",
         {{"filter",
           "projection",
           "sort",
           "hint",
           "skip",
           "limit",
           "batchSize",
           "singleBatch",
           "max",
           "min",
           "returnKey",
           "showRecordId",
           "tailable",
           "oplogReplay",
           "noCursorTimeout",
           "awaitData",
           "allowPartialResults",
           "collation",
           "allowDiskUse",
           "let",
           "readOnce",
           "allowSpeculativeMajorityRead",
           "term",
           "$_requestResumeToken",
           "$_resumeAfter"},
          {"max", "min", "returnKey", "showRecordId", "$_requestResumeToken", "$_resumeAfter"}}},
        {"getMore", {{"collection", "batchSize", "term", "lastKnownCommittedOpTime"}, {}}},
        {"killCursors", {{"cursors"}, {}}},
        {"insert", {{"documents", "ordered", "bypassDocumentValidation", "stmtIds"}, {}}},
        {"update", {{"updates", "ordered", "bypassDocumentValidation", "let", "stmtIds"}, {}}},
        {"delete", {{"deletes", "ordered", "let", "stmtIds"}, {}}},
        {"findAndModify",
         {{"query", "fields", "sort", "update", "remove", "new", "upsert",
           "bypassDocumentValidation", "arrayFilters", "hint", "collation", "let"},
          {}}},
        {"count", {{"query", "limit", "skip", "hint", "collation", "fields"}, {}}},
        {"distinct", {{"key", "query", "collation", "hint"}, {}}},
        {"aggregate",
         {{"pipeline", "explain", "allowDiskUse", "cursor", "bypassDocumentValidation", "collation",
           "hint", "let", "needsMerge", "fromMongos", "collectionUUID", "isMapReduceCommand",
           "exchange", "$_requestReshardingResumeToken"},
          {"explain", "exchange", "needsMerge", "fromMongos", "$_requestReshardingResumeToken"}}},
        {"listCollections", {{"filter", "nameOnly", "authorizedCollections", "cursor"}, {}}},
        {"listIndexes", {{"cursor", "includeBuildUUIDs", "includeIndexBuildInfo"}, {}}},
        {"listDatabases", {{"filter", "nameOnly", "authorizedDatabases"}, {}}},
        {"create",
         {{"capped",
           "autoIndexId",
           "idIndex",
           "size",
           "max",
           "storageEngine",
           "validator",
           "validationLevel",
           "validationAction",
           "indexOptionDefaults",
           "viewOn",
           "pipeline",
           "collation",
           "timeseries",
           "clusteredIndex",
           "changeStreamPreAndPostImages",
           "expireAfterSeconds",
           "encryptedFields",
           "temp",
           "flags"},
          {"capped", "size", "max", "timeseries", "clusteredIndex", "expireAfterSeconds",
           "encryptedFields", "storageEngine", "indexOptionDefaults"}}},
        {"drop", {{}, {}}},
        {"dropDatabase", {{}, {}}},
        {"renameCollection", {{"to", "dropTarget", "stayTemp"}, {}}},
        {"createIndexes", {{"indexes", "commitQuorum", "ignoreUnknownIndexOptions"}, {}}},
        {"dropIndexes", {{"index"}, {}}},
        {"collMod",
         {{"validator", "validationLevel", "validationAction", "viewOn", "pipeline", "index",
           "changeStreamPreAndPostImages", "expireAfterSeconds", "timeseries", "recordPreImages",
           "dryRun", "cappedSize", "cappedMax", "clusteredIndex"},
          {"index", "expireAfterSeconds", "timeseries", "recordPreImages", "dryRun", "cappedSize",
           "cappedMax", "clusteredIndex"}}},
        {"commitTransaction", {{"recoveryToken", "commitTimestamp"}, {}}},
        {"abortTransaction", {{"recoveryToken"}, {}}},
    };
    return k;
}

Error unknown_field(std::string_view where, std::string_view field) {
    return Error{
        40415,
        "BSON field '" + std::string(where) + "." + std::string(field) + "' is an unknown field.",
        {}};
}

Error unsupported(std::string_view where, std::string_view field) {
    return Error{
        115,
        "mongo-standin does not implement '" + std::string(where) + "." + std::string(field) + "'",
        {}};
}

bool truthy_option(const bson_iter_t* it) { return iter_truthy(it); }

}  // namespace

Status check_collation(const bson_iter_t* collation) {
    if (!BSON_ITER_HOLDS_DOCUMENT(collation)) return Error{14, "collation must be an object", {}};
    bson_t c;
    iter_view(collation, &c);
    auto locale = get_string(&c, "locale");
    if (!locale) return Error{40414, "BSON field 'locale' is missing but a required field", {}};
    if (*locale == "simple") return ok_status();
    return Error{115,
                 "mongo-standin does not implement collation (locale '" + *locale +
                     "'): only the simple binary comparison, {locale: \"simple\"}",
                 {}};
}

Status check_command_fields(const std::string& name, const bson_t* cmd) {
    std::string_view canonical = name;
    if (name == "findandmodify") canonical = "findAndModify";
    auto table = command_fields().find(canonical);
    if (table == command_fields().end()) return ok_status();
    const Fields& f = table->second;
    bson_iter_t it;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it)) return ok_status();  // the name
    while (bson_iter_next(&it)) {
        std::string_view k(bson_iter_key(&it), bson_iter_key_len(&it));
        if (generic_arguments().count(k)) continue;
        if (!f.known.count(k)) return unknown_field(canonical, k);
        if (f.unsupported.count(k)) {
            // Options that are off by default are fine when off.
            if (bson_iter_type(&it) == BSON_TYPE_BOOL && !truthy_option(&it)) continue;
            if (canonical == "create" && (k == "storageEngine" || k == "indexOptionDefaults") &&
                BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;  // engine tuning: no effect on answers
            return unsupported(canonical, k);
        }
        if (k == "collation") {
            auto st = check_collation(&it);
            if (!st.ok()) return st;
        }
        if (canonical == "find" && (k == "tailable" || k == "awaitData") && truthy_option(&it))
            return Error{2,
                         "error processing query: tailable cursor requested on non capped "
                         "collection",
                         {}};
    }
    return ok_status();
}

Status check_statement_fields(const std::string& name, const bson_t* cmd) {
    bool is_update = name == "update";
    const char* array = is_update ? "updates" : "deletes";
    static const std::set<std::string_view> update_fields = {
        "q", "u", "multi", "upsert", "arrayFilters", "hint", "collation", "c"};
    static const std::set<std::string_view> delete_fields = {"q", "limit", "hint", "collation"};
    const auto& known = is_update ? update_fields : delete_fields;
    std::string where = name + "." + array;
    bson_iter_t it, stmt;
    if (!bson_iter_init_find(&it, cmd, array) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &stmt))
        return ok_status();  // the handler reports the missing or mistyped array
    while (bson_iter_next(&stmt)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&stmt))
            return Error{14,
                         "BSON field '" + where + "' is the wrong type '" +
                             (BSON_ITER_HOLDS_ARRAY(&stmt) ? "array" : "other") +
                             "', expected type 'object'",
                         {}};
        bson_iter_t f;
        if (!bson_iter_recurse(&stmt, &f)) continue;
        while (bson_iter_next(&f)) {
            std::string_view k(bson_iter_key(&f), bson_iter_key_len(&f));
            if (!known.count(k)) return unknown_field(where, k);
            if (k == "collation") {
                auto st = check_collation(&f);
                if (!st.ok()) return st;
            }
            if (k == "c") return unsupported(where, k);  // constants for the pipeline: see let
        }
    }
    return ok_status();
}

}  // namespace standin
