#include "net/server_tls.hpp"

#include <boost/beast/core/error.hpp>

namespace outpost::net::detail {

namespace ssl = boost::asio::ssl;

Status make_server_tls(const std::string& cert_dir, std::optional<ssl::context>& tls) {
    if (cert_dir.empty()) {
        return Status(ErrorCode::kInvalidArgument, "TLS needs a certificate directory");
    }
    tls.emplace(ssl::context::tls_server);
    boost::beast::error_code ec;
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    const std::string cert = cert_dir + "/cert.pem";
    const std::string key = cert_dir + "/key.pem";
    if (!ec) tls->use_certificate_chain_file(cert, ec);
    if (ec) {
        return Status(ErrorCode::kIo, "cannot use certificate " + cert + ": " + ec.message(),
                      ec.value());
    }
    tls->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
        return Status(ErrorCode::kIo, "cannot use private key " + key + ": " + ec.message(),
                      ec.value());
    }
    return Status::ok();
}

}  // namespace outpost::net::detail
