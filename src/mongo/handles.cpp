#include "mongo/handles.hpp"

#include <cstdlib>
#include <mutex>

namespace outpost::mongo::detail {

Result<Bson> Bson::from_json(std::string_view json) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()), static_cast<ssize_t>(json.size()), &err);
    if (!b) return Status(ErrorCode::kInvalidArgument, std::string("invalid extended JSON: ") + err.message);
    return adopt(b);
}

std::string to_json(const bson_t* doc) {
    size_t len = 0;
    char* s = bson_as_relaxed_extended_json(doc, &len);
    if (!s) return "{}";
    std::string out(s, len);
    bson_free(s);
    return out;
}

std::string Bson::json() const { return to_json(&b_); }

void ensure_mongoc_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        mongoc_init();
        std::atexit(mongoc_cleanup);
    });
}

bool is_network_error(const bson_error_t& error) {
    return error.domain == MONGOC_ERROR_STREAM || error.domain == MONGOC_ERROR_SERVER_SELECTION ||
           (error.domain == MONGOC_ERROR_CLIENT && error.code == MONGOC_ERROR_CLIENT_NOT_READY);
}

bool has_label(const bson_t* reply, const char* label) {
    return reply && mongoc_error_has_label(reply, label);
}

Status status_from(const bson_error_t& error, std::string_view context, const bson_t* reply) {
    std::string msg = std::string(context) + ": " + error.message;
    if (reply) {
        bson_iter_t it, child;
        if (bson_iter_init_find(&it, reply, "errorLabels") && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &child)) {
            std::string labels;
            while (bson_iter_next(&child)) {
                if (!BSON_ITER_HOLDS_UTF8(&child)) continue;
                if (!labels.empty()) labels += ", ";
                labels += bson_iter_utf8(&child, nullptr);
            }
            if (!labels.empty()) msg += " [" + labels + "]";
        }
    }
    ErrorCode code = is_network_error(error) ? ErrorCode::kMongoConnection : ErrorCode::kMongoCommand;
    return {code, std::move(msg), static_cast<int>(error.code)};
}

void kill_aggregate_cursor(mongoc_database_t* db, int64_t id, const bson_t* opts) {
    Bson kill, reply;
    BSON_APPEND_UTF8(kill.get(), "killCursors", "$cmd.aggregate");
    bson_t ids;
    BSON_APPEND_ARRAY_BEGIN(kill.get(), "cursors", &ids);
    BSON_APPEND_INT64(&ids, "0", id);
    bson_append_array_end(kill.get(), &ids);
    bson_destroy(reply.get());
    bson_error_t err;
    (void)mongoc_database_command_with_opts(db, kill.get(), nullptr, opts, reply.get(), &err);
}

}  // namespace outpost::mongo::detail
