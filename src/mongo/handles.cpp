#include "mongo/handles.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "mongo/connector.hpp"

namespace outpost::mongo::detail {

Result<Bson> Bson::from_json(std::string_view json) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                                   static_cast<ssize_t>(json.size()), &err);
    if (!b)
        return Status(ErrorCode::kInvalidArgument,
                      std::string("invalid extended JSON: ") + err.message);
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

namespace {

std::mutex& sink_mutex() {
    static std::mutex m;
    return m;
}

// GUARDED_BY(sink_mutex()); shared so that a line being written keeps its sink alive.
std::shared_ptr<const DriverLogSink>& sink_slot() {
    static std::shared_ptr<const DriverLogSink> sink;
    return sink;
}

void on_driver_log(mongoc_log_level_t level, const char* domain, const char* message, void*) {
    std::shared_ptr<const DriverLogSink> sink;
    {
        std::lock_guard<std::mutex> lock(sink_mutex());
        sink = sink_slot();
    }
    DriverLogLevel l = driver_log_level(level);
    std::string_view d = domain ? domain : "";
    std::string_view m = message ? message : "";
    if (sink && *sink) {
        (*sink)(l, d, m);
    } else if (l == DriverLogLevel::kWarn || l == DriverLogLevel::kError) {
        std::fprintf(stderr, "libmongoc %.*s: %.*s\n", static_cast<int>(d.size()), d.data(),
                     static_cast<int>(m.size()), m.data());
    }
}

void install_log_handler() {
    static std::once_flag once;
    std::call_once(once, [] { mongoc_log_set_handler(on_driver_log, nullptr); });
}

}  // namespace

DriverLogLevel driver_log_level(mongoc_log_level_t level) {
    switch (level) {
        case MONGOC_LOG_LEVEL_ERROR:
        case MONGOC_LOG_LEVEL_CRITICAL:
            return DriverLogLevel::kError;
        case MONGOC_LOG_LEVEL_WARNING:
            return DriverLogLevel::kWarn;
        case MONGOC_LOG_LEVEL_MESSAGE:
        case MONGOC_LOG_LEVEL_INFO:
            return DriverLogLevel::kInfo;
        case MONGOC_LOG_LEVEL_DEBUG:
            return DriverLogLevel::kDebug;
        case MONGOC_LOG_LEVEL_TRACE:
            return DriverLogLevel::kTrace;
    }
    return DriverLogLevel::kDebug;
}

void ensure_mongoc_init() {
    install_log_handler();
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
    ErrorCode code =
        is_network_error(error) ? ErrorCode::kMongoConnection : ErrorCode::kMongoCommand;
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

namespace outpost::mongo {

void set_driver_log(DriverLogSink sink) {
    auto shared = sink ? std::make_shared<const DriverLogSink>(std::move(sink)) : nullptr;
    {
        std::lock_guard<std::mutex> lock(detail::sink_mutex());
        detail::sink_slot() = std::move(shared);
    }
    detail::install_log_handler();
}

}  // namespace outpost::mongo
