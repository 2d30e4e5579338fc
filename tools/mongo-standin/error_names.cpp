// The server's names of error codes (error_codes.yml), for the codeName of error replies.
#include <algorithm>
#include <iterator>

#include "bson_util.hpp"

namespace standin {

namespace {

struct CodeName {
    int code;
    const char* name;
};

// Sorted by code.
constexpr CodeName kCodeNames[] = {
    {1, "InternalError"},
    {2, "BadValue"},
    {4, "NoSuchKey"},
    {6, "HostUnreachable"},
    {7, "HostNotFound"},
    {8, "UnknownError"},
    {9, "FailedToParse"},
    {11, "UserNotFound"},
    {13, "Unauthorized"},
    {14, "TypeMismatch"},
    {15, "Overflow"},
    {17, "ProtocolError"},
    {20, "IllegalOperation"},
    {22, "InvalidBSON"},
    {24, "LockTimeout"},
    {26, "NamespaceNotFound"},
    {27, "IndexNotFound"},
    {28, "PathNotViable"},
    {29, "NonExistentPath"},
    {30, "InvalidPath"},
    {31, "RoleNotFound"},
    {40, "ConflictingUpdateOperators"},
    {43, "CursorNotFound"},
    {48, "NamespaceExists"},
    {50, "MaxTimeMSExpired"},
    {51, "ManualInterventionRequired"},
    {52, "DollarPrefixedFieldName"},
    {53, "InvalidIdField"},
    {54, "NotSingleValueField"},
    {56, "EmptyFieldName"},
    {57, "DottedFieldName"},
    {59, "CommandNotFound"},
    {63, "StaleShardVersion"},
    {64, "WriteConcernFailed"},
    {66, "ImmutableField"},
    {67, "CannotCreateIndex"},
    {68, "IndexAlreadyExists"},
    {72, "InvalidOptions"},
    {73, "InvalidNamespace"},
    {76, "NoReplicationEnabled"},
    {79, "UnknownReplWriteConcern"},
    {85, "IndexOptionsConflict"},
    {86, "IndexKeySpecsConflict"},
    {89, "NetworkTimeout"},
    {91, "ShutdownInProgress"},
    {96, "OperationFailed"},
    {100, "UnsatisfiableWriteConcern"},
    {112, "WriteConflict"},
    {115, "CommandNotSupported"},
    {117, "ConflictingOperationInProgress"},
    {121, "DocumentValidationFailure"},
    {125, "CommandFailed"},
    {133, "FailedToSatisfyReadPreference"},
    {134, "ReadConcernMajorityNotAvailableYet"},
    {136, "CappedPositionLost"},
    {150, "StaleEpoch"},
    {165, "ViewDepthLimitExceeded"},
    {166, "CommandNotSupportedOnView"},
    {167, "OptionNotSupportedOnView"},
    {168, "InvalidPipelineOperator"},
    {182, "InvalidViewDefinition"},
    {189, "PrimarySteppedDown"},
    {197, "InvalidIndexSpecificationOption"},
    {206, "NoSuchSession"},
    {216, "ElectionInProgress"},
    {223, "IllegalOpMsgFlag"},
    {225, "TransactionTooOld"},
    {234, "RetryChangeStream"},
    {237, "CursorKilled"},
    {238, "NotImplemented"},
    {239, "SnapshotTooOld"},
    {241, "ConversionFailure"},
    {246, "SnapshotUnavailable"},
    {249, "StaleDbVersion"},
    {251, "NoSuchTransaction"},
    {256, "TransactionCommitted"},
    {257, "TransactionTooLarge"},
    {260, "InvalidResumeToken"},
    {262, "ExceededTimeLimit"},
    {263, "OperationNotSupportedInTransaction"},
    {267, "PreparedTransactionInProgress"},
    {280, "ChangeStreamFatalError"},
    {286, "ChangeStreamHistoryLost"},
    {290, "TransactionExceededLifetimeLimitSeconds"},
    {352, "UnsupportedOpQueryCommand"},
    {9001, "SocketException"},
    {10107, "NotWritablePrimary"},
    {10334, "BSONObjectTooLarge"},
    {11000, "DuplicateKey"},
    {11600, "InterruptedAtShutdown"},
    {11601, "Interrupted"},
    {11602, "InterruptedDueToReplStateChange"},
    {13297, "DatabaseDifferCase"},
    {13388, "StaleConfig"},
    {13435, "NotPrimaryNoSecondaryOk"},
    {13436, "NotPrimaryOrSecondary"},
    {46841, "ClientMarkedKilled"},
    {50768, "NotARetryableWriteCommand"},
};

}  // namespace

// A code without a name (an assertion id such as 40324) is "Location<code>", as the server
// reports it.
std::string code_name(int code) {
    auto it = std::lower_bound(std::begin(kCodeNames), std::end(kCodeNames), code,
                               [](const CodeName& c, int v) { return c.code < v; });
    if (it != std::end(kCodeNames) && it->code == code) return it->name;
    return "Location" + std::to_string(code);
}

}  // namespace standin
