#include "outpost/status.hpp"

namespace outpost {

std::string_view error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk:
            return "ok";
        case ErrorCode::kInvalidArgument:
            return "invalid_argument";
        case ErrorCode::kNotFound:
            return "not_found";
        case ErrorCode::kAlreadyExists:
            return "already_exists";
        case ErrorCode::kIllegalState:
            return "illegal_state";
        case ErrorCode::kOutOfRange:
            return "out_of_range";
        case ErrorCode::kIo:
            return "io";
        case ErrorCode::kInternal:
            return "internal";
        case ErrorCode::kStorage:
            return "storage";
        case ErrorCode::kStorageFull:
            return "storage_full";
        case ErrorCode::kStoreInUse:
            return "store_in_use";
        case ErrorCode::kTxnMisuse:
            return "txn_misuse";
        case ErrorCode::kCorrupt:
            return "corrupt";
        case ErrorCode::kReadOnly:
            return "read_only";
        case ErrorCode::kModelInvalid:
            return "model_invalid";
        case ErrorCode::kModelParse:
            return "model_parse";
        case ErrorCode::kSchemaIncompatible:
            return "schema_incompatible";
        case ErrorCode::kUniqueViolation:
            return "unique_violation";
        case ErrorCode::kTypeMismatch:
            return "type_mismatch";
        case ErrorCode::kUnknownEntity:
            return "unknown_entity";
        case ErrorCode::kUnknownProperty:
            return "unknown_property";
        case ErrorCode::kValueOutOfRange:
            return "value_out_of_range";
        case ErrorCode::kRelationTarget:
            return "relation_target";
        case ErrorCode::kPutMode:
            return "put_mode";
        case ErrorCode::kSyncBadVersion:
            return "sync_bad_version";
        case ErrorCode::kSyncUnsupportedModel:
            return "sync_unsupported_model";
        case ErrorCode::kSyncMalformedMessage:
            return "sync_malformed_message";
        case ErrorCode::kSyncMessageTooLarge:
            return "sync_message_too_large";
        case ErrorCode::kSyncTooFarBehind:
            return "sync_too_far_behind";
        case ErrorCode::kSyncServerError:
            return "sync_server_error";
        case ErrorCode::kSyncProtocolViolation:
            return "sync_protocol_violation";
        case ErrorCode::kAuthCredentialsRejected:
            return "auth_credentials_rejected";
        case ErrorCode::kAuthTokenExpired:
            return "auth_token_expired";
        case ErrorCode::kAuthUnknownKey:
            return "auth_unknown_key";
        case ErrorCode::kMongoConnection:
            return "mongo_connection";
        case ErrorCode::kMongoDeployment:
            return "mongo_deployment";
        case ErrorCode::kMongoCommand:
            return "mongo_command";
        case ErrorCode::kMongoMapping:
            return "mongo_mapping";
        case ErrorCode::kMongoHistoryLost:
            return "mongo_history_lost";
        case ErrorCode::kMongoTransaction:
            return "mongo_transaction";
        case ErrorCode::kMongoTooLarge:
            return "mongo_too_large";
    }
    return "unknown";
}

std::string Status::to_string() const {
    if (is_ok()) return "ok";
    return std::string(error_code_name(code_)) + " (" + std::to_string(static_cast<int>(code_)) +
           "): " + message_;
}

}  // namespace outpost
