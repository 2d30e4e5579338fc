#pragma once
// The TLS context of a listening server (internal to outpost_net: Asio types), shared by WsServer
// (wss://) and HttpServer (https://).

#include <boost/asio/ssl/context.hpp>
#include <optional>
#include <string>

#include "outpost/status.hpp"

namespace outpost::net::detail {

// Makes TLS a TLS 1.2+ server context from CERT_DIR's cert.pem (certificate chain) and key.pem.
// Errors: kInvalidArgument (no CERT_DIR), kIo naming the file that cannot be used.
Status make_server_tls(const std::string& cert_dir, std::optional<boost::asio::ssl::context>& tls);

}  // namespace outpost::net::detail
