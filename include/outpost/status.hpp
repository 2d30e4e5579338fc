#pragma once
// Errors as values. Every fallible library call returns Status or Result<T>; nothing throws across
// the public API. Codes come from one registry, numbered in bands by domain.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace outpost {

// The error registry. Numbers are stable: tools and the sync protocol report them.
enum class ErrorCode : int {
    kOk = 0,
    // 1xx general
    kInvalidArgument = 100,
    kNotFound = 101,
    kAlreadyExists = 102,
    kIllegalState = 103,
    kOutOfRange = 104,
    kIo = 105,
    kInternal = 106,
    // 2xx storage
    kStorage = 200,
    kStorageFull = 201,
    kStoreInUse = 202,
    kTxnMisuse = 203,
    kCorrupt = 204,
    kReadOnly = 205,
    // 3xx schema and model
    kModelInvalid = 300,
    kModelParse = 301,
    kSchemaIncompatible = 302,
    kUniqueViolation = 303,
    kTypeMismatch = 304,
    kUnknownEntity = 305,
    kUnknownProperty = 306,
    kValueOutOfRange = 307,
    kRelationTarget = 308,
    kPutMode = 309,
    // 4xx sync protocol (docs/sync-protocol.md; also the wire codes of LoginResult and Error)
    kSyncBadVersion = 400,         // a protocol version this side does not speak
    kSyncUnsupportedModel = 401,   // an entity or property the server lacks, or of another type
    kSyncMalformedMessage = 402,   // a frame the verifier rejects, or an undecodable change set
    kSyncMessageTooLarge = 403,    // a frame above the maximum message size
    kSyncTooFarBehind = 404,       // a client whose send queue outgrew its bound
    kSyncServerError = 405,        // the server failed on a valid message (storage, internal)
    kSyncProtocolViolation = 406,  // a message out of order (before login, a second login, ...)
    // 5xx auth
    kAuthCredentialsRejected = 500,  // wrong secret, or a token that fails a check (docs/auth.md)
    kAuthTokenExpired = 501,         // a token past its exp (plus leeway), at login or in a session
    kAuthUnknownKey = 502,           // a token signed with a key (kid) the server does not know
    // 6xx MongoDB connector (docs/mongo-mapping.md); cause() holds the server's or libmongoc's code
    kMongoConnection = 600,   // no server reachable, network error, server selection timeout
    kMongoDeployment = 601,   // not a replica set, wire version too old, privileges missing
    kMongoCommand = 602,      // a command failed on the server
    kMongoMapping = 603,      // a value or _id that does not fit the model (dead letter)
    kMongoHistoryLost = 604,  // the change stream's resume point left the oplog (286)
    kMongoTransaction = 605,  // a transaction did not commit after its retries
    kMongoTooLarge = 606,     // a document over 16 MiB or a value over maxPropertySizeToMongoDb
};

// Short stable name of a code, e.g. "unique_violation".
std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(ErrorCode code, std::string message, int cause = 0)
        : code_(code), message_(std::move(message)), cause_(cause) {}

    static Status ok() { return {}; }

    bool is_ok() const { return code_ == ErrorCode::kOk; }
    explicit operator bool() const { return is_ok(); }
    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // The underlying library's code (LMDB, errno, ...), 0 when there is none.
    int cause() const { return cause_; }
    // "unique_violation (303): Task.text: value "x" is already used by object 3"
    std::string to_string() const;

  private:
    ErrorCode code_ = ErrorCode::kOk;
    std::string message_;
    int cause_ = 0;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
    Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

    bool is_ok() const { return v_.index() == 0; }
    explicit operator bool() const { return is_ok(); }
    // REQUIRES: is_ok()
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T value() && { return std::get<0>(std::move(v_)); }  // by value: safe on temporaries
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    // Ok when there is a value.
    Status status() const { return is_ok() ? Status() : std::get<1>(v_); }

  private:
    std::variant<T, Status> v_;
};

}  // namespace outpost

// Returns the Status of EXPR from the enclosing function when it is an error.
#define OUTPOST_RETURN_IF_ERROR(expr)                         \
    do {                                                      \
        ::outpost::Status outpost_status_ = (expr);           \
        if (!outpost_status_.is_ok()) return outpost_status_; \
    } while (0)

#define OUTPOST_CONCAT_INNER(a, b) a##b
#define OUTPOST_CONCAT(a, b) OUTPOST_CONCAT_INNER(a, b)
// Declares LHS from the value of the Result EXPR, or returns its Status.
#define OUTPOST_ASSIGN_OR_RETURN(lhs, expr) \
    OUTPOST_ASSIGN_OR_RETURN_IMPL(OUTPOST_CONCAT(outpost_result_, __LINE__), lhs, expr)
#define OUTPOST_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                                \
    if (!tmp.is_ok()) return tmp.status();            \
    lhs = std::move(tmp).value()
