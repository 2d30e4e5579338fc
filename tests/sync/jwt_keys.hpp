#pragma once
// Keys and tokens for the auth tests, made at test time with OpenSSL (never checked in): key pairs
// as PEM, and sign_compact() for tokens whose header or claims the minting code would not write
// (crit, "rs256", no exp, an ES384 signature over a P-256 key).

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "sync/auth/key_set.hpp"

namespace outpost::test {

struct KeyPair {
    std::string private_pem;
    std::string public_pem;
    std::shared_ptr<EVP_PKEY> pkey;
};

inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

inline KeyPair key_pair_of(EVP_PKEY* raw) {
    KeyPair k;
    k.pkey = std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free);
    BIO* priv = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(priv, raw, nullptr, nullptr, 0, nullptr, nullptr);
    k.private_pem = bio_text(priv);
    BIO* pub = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(pub, raw);
    k.public_pem = bio_text(pub);
    return k;
}

inline KeyPair rsa_key(unsigned bits = 2048) { return key_pair_of(EVP_RSA_gen(bits)); }
// CURVE: "P-256", "P-384", "P-521".
inline KeyPair ec_key(const char* curve = "P-256") { return key_pair_of(EVP_EC_gen(curve)); }

// A self-signed X.509 certificate for KEY, as PEM.
inline std::string certificate_pem(EVP_PKEY* key) {
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("outpost test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    X509_free(cert);
    return bio_text(bio);
}

// A compact JWS of HEADER and PAYLOAD (JSON text, taken as they are) signed with DIGEST ("SHA256",
// ...): with KEY (RSA: PKCS #1 v1.5; EC: r || s), or HMAC with SECRET when KEY is null.
inline std::string sign_compact(std::string_view header, std::string_view payload,
                                const char* digest, EVP_PKEY* key, std::string_view secret = {}) {
    using sync::auth::detail::base64url_encode;
    const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    std::string sig;
    if (key == nullptr) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        size_t len = 0;
        EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(), secret.size(), in,
                  input.size(), mac, sizeof mac, &len);
        sig.assign(reinterpret_cast<char*>(mac), len);
    } else {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        size_t len = 0;
        EVP_DigestSignInit_ex(ctx, nullptr, digest, nullptr, nullptr, key, nullptr);
        EVP_DigestSign(ctx, nullptr, &len, in, input.size());
        sig.resize(len);
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
        sig.resize(len);
        EVP_MD_CTX_free(ctx);
        if (EVP_PKEY_is_a(key, "EC")) {
            // DER -> r || s, each as long as the field.
            const int field = (EVP_PKEY_get_bits(key) + 7) / 8;
            const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
            ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
            std::string raw(static_cast<size_t>(2 * field), '\0');
            auto* out = reinterpret_cast<unsigned char*>(raw.data());
            BN_bn2binpad(ECDSA_SIG_get0_r(es), out, field);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), out + field, field);
            ECDSA_SIG_free(es);
            sig = raw;
        }
    }
    return input + "." + base64url_encode(sig);
}

}  // namespace outpost::test
