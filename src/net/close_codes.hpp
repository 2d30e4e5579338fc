#pragma once

#include <cstdint>

// WebSocket close codes that outpost_net sends or reports (RFC 6455, section 7.4).
namespace outpost::net {

inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;  // server stopping
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseUnsupportedData = 1003;  // a text frame
inline constexpr std::uint16_t kCloseNoStatus = 1005;         // a close frame without a code
inline constexpr std::uint16_t kCloseAbnormal = 1006;         // no close frame (never sent)
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseTooBig = 1009;  // message above the limit
inline constexpr std::uint16_t kCloseInternalError = 1011;
inline constexpr std::uint16_t kCloseSendQueueFull = 1013;  // "try again later": reconnect

}  // namespace outpost::net
