// Wire protocol framing: message header, OP_MSG (sections, flags, CRC-32C checksum), legacy
// OP_QUERY for the handshake, and the OP_MSG / OP_REPLY replies. Pure functions over bytes, so the
// parser can be fuzzed and unit-tested without a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bson_util.hpp"

namespace standin {

constexpr int32_t kOpReply = 1;
constexpr int32_t kOpQuery = 2004;
constexpr int32_t kOpCompressed = 2012;
constexpr int32_t kOpMsg = 2013;
constexpr size_t kHeaderSize = 16;
constexpr size_t kMaxMessageSize = 48000000;
constexpr size_t kMaxBsonSize = 16 * 1024 * 1024;

constexpr uint32_t kFlagChecksumPresent = 1u << 0;
constexpr uint32_t kFlagMoreToCome = 1u << 1;
constexpr uint32_t kFlagExhaustAllowed = 1u << 16;

struct MsgHeader {
    int32_t length = 0;
    int32_t request_id = 0;
    int32_t response_to = 0;
    int32_t opcode = 0;
};

// Decodes the 16-byte header. Error (connection must close) when the length is below the header
// size or above kMaxMessageSize.
Result<MsgHeader> parse_header(const uint8_t* p);

// A decoded request: the command document (kind-1 sequences merged in as arrays) and its framing.
struct Request {
    int32_t opcode = 0;
    int32_t request_id = 0;
    bool more_to_come = false;
    Doc body;
    std::string query_db;  // OP_QUERY only: the database of "<db>.$cmd"
};

// Parse outcome when it is not a request: reply with `error` (keep the connection) when
// `reply` is set, otherwise close the connection.
struct ParseFailure {
    Error error;
    bool reply = false;
};

// Decodes the message body (the bytes after the header, `len` = header.length - 16).
// Never reads outside [body, body+len).
Result<Request> parse_message(const MsgHeader& h, const uint8_t* body, size_t len,
                              ParseFailure* failure);

// Encodes an OP_MSG reply (flags 0, one kind-0 section, no checksum).
std::string build_op_msg(int32_t request_id, int32_t response_to, const bson_t* doc);
// Encodes an OP_REPLY with one document (for OP_QUERY requests).
std::string build_op_reply(int32_t request_id, int32_t response_to, const bson_t* doc);

// Structural check of a BSON document without recursion: element sizes in bounds, terminators
// in place, nesting at most 200 levels. libbson's bson_validate recurses, so call this first.
bool bson_structure_ok(const uint8_t* data, size_t len);

// CRC-32C (Castagnoli) as used by the OP_MSG checksum.
uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

}  // namespace standin
