#include "sync/auth/key_set.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <nlohmann/json.hpp>

#include "model/json_nesting.hpp"

namespace outpost::sync::auth {

void EvpPkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

namespace {

constexpr size_t kMaxBase64Text = size_t{1} << 20;
constexpr size_t kMaxJwksBytes = size_t{1} << 20;
constexpr size_t kMaxJwksKeys = 100;
constexpr int kMaxJwksNesting = 8;
constexpr int kMinRsaBits = 2048;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldFree {
    void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
    void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

const unsigned char* uc(const char* p) { return reinterpret_cast<const unsigned char*>(p); }

// The text of OpenSSL's last error (and clears its queue), for messages.
std::string openssl_error() {
    unsigned long e = ERR_get_error();
    std::string text = "unknown OpenSSL error";
    if (e != 0) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        text = buf.data();
    }
    ERR_clear_error();
    return text;
}

Status invalid(std::string why) { return Status(ErrorCode::kInvalidArgument, std::move(why)); }

// "P-256" for OpenSSL's "prime256v1", and so on; "" for any other group.
std::string jose_curve(std::string_view group) {
    if (group == "prime256v1" || group == "P-256") return "P-256";
    if (group == "secp384r1" || group == "P-384") return "P-384";
    if (group == "secp521r1" || group == "P-521") return "P-521";
    return "";
}

const char* openssl_group(std::string_view jose) {
    if (jose == "P-256") return "prime256v1";
    if (jose == "P-384") return "secp384r1";
    if (jose == "P-521") return "secp521r1";
    return nullptr;
}

size_t curve_field_bytes(std::string_view jose) {
    if (jose == "P-256") return 32;
    if (jose == "P-384") return 48;
    if (jose == "P-521") return 66;
    return 0;
}

bool public_check(EVP_PKEY* pkey) {
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    const bool ok = ctx && EVP_PKEY_public_check(ctx.get()) == 1;
    ERR_clear_error();
    return ok;
}

// A VerifyKey from a parsed public key, or why it cannot verify tokens.
Result<VerifyKey> key_of(PkeyPtr pkey) {
    VerifyKey key;
    if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
        key.kind = VerifyKey::Kind::kRsa;
        key.bits = EVP_PKEY_get_bits(pkey.get());
        if (key.bits < kMinRsaBits) {
            return invalid("an RSA key of " + std::to_string(key.bits) +
                           " bits (at least 2048 are needed)");
        }
    } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
        key.kind = VerifyKey::Kind::kEc;
        std::array<char, 64> group{};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                           group.size(), &len) != 1) {
            return invalid("an EC key without a named curve");
        }
        key.curve = jose_curve(std::string_view(group.data(), len));
        if (key.curve.empty()) {
            return invalid("an EC key on curve " + std::string(group.data(), len) +
                           " (P-256, P-384 and P-521 are supported)");
        }
        key.bits = EVP_PKEY_get_bits(pkey.get());
    } else {
        return invalid("a key that is neither RSA nor EC");
    }
    if (!public_check(pkey.get())) return invalid("a public key that fails OpenSSL's check");
    key.pkey = std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free);
    return key;
}

// n and e, or the curve and x and y, of a JWK as an EVP_PKEY.
Result<PkeyPtr> jwk_public_key(const nlohmann::json& jwk, const std::string& kty) {
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
    if (!bld) return Status(ErrorCode::kInternal, "OSSL_PARAM_BLD_new failed");
    auto member = [&](const char* name) -> std::optional<std::string> {
        auto it = jwk.find(name);
        if (it == jwk.end() || !it->is_string()) return std::nullopt;
        auto bytes = detail::base64url_decode(it->get_ref<const std::string&>());
        if (!bytes || bytes->empty()) return std::nullopt;
        return bytes;
    };
    BnPtr n, e;
    std::string point;  // outlives the builder's params
    std::string group;
    if (kty == "RSA") {
        auto n_bytes = member("n");
        auto e_bytes = member("e");
        if (!n_bytes || !e_bytes) return invalid("n or e missing or not base64url");
        n.reset(BN_bin2bn(uc(n_bytes->data()), static_cast<int>(n_bytes->size()), nullptr));
        e.reset(BN_bin2bn(uc(e_bytes->data()), static_cast<int>(e_bytes->size()), nullptr));
        if (!n || !e || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
            return invalid("n or e: " + openssl_error());
        }
    } else {
        auto crv_it = jwk.find("crv");
        const std::string crv =
            crv_it != jwk.end() && crv_it->is_string() ? crv_it->get<std::string>() : "";
        const size_t field = curve_field_bytes(crv);
        auto x = member("x");
        auto y = member("y");
        if (field == 0) return invalid("curve '" + crv + "' is not P-256, P-384 or P-521");
        if (!x || !y || x->size() != field || y->size() != field) {
            return invalid("x or y missing, not base64url or not " + std::to_string(field) +
                           " bytes");
        }
        point = std::string(1, '\x04') + *x + *y;  // an uncompressed point (SEC 1)
        group = openssl_group(crv);
        if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(),
                                            0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                             point.size()) != 1) {
            return invalid("curve point: " + openssl_error());
        }
    }
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, kty.c_str(), nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        EVP_PKEY_free(raw);
        return invalid("not a valid " + kty + " public key: " + openssl_error());
    }
    return PkeyPtr(raw);
}

// Why a JWK is skipped, or the key it gives.
Result<VerifyKey> jwk_key(const nlohmann::json& jwk) {
    if (!jwk.is_object()) return invalid("not an object");
    auto kty_it = jwk.find("kty");
    if (kty_it == jwk.end() || !kty_it->is_string()) return invalid("no kty");
    const std::string kty = kty_it->get<std::string>();
    if (kty == "oct") return invalid("kty oct (symmetric keys are never taken from a JWKS)");
    if (kty != "RSA" && kty != "EC") return invalid("kty " + kty + " is not supported");
    if (auto use = jwk.find("use"); use != jwk.end() && *use != "sig") {
        return invalid("use is not \"sig\"");
    }
    if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
        bool verify = false;
        if (ops->is_array()) {
            for (const auto& op : *ops) verify = verify || op == "verify";
        }
        if (!verify) return invalid("key_ops lacks \"verify\"");
    }
    std::string alg;
    if (auto a = jwk.find("alg"); a != jwk.end()) {
        if (!a->is_string()) return invalid("alg is not a string");
        alg = a->get<std::string>();
    }
    OUTPOST_ASSIGN_OR_RETURN(PkeyPtr pkey, jwk_public_key(jwk, kty));
    OUTPOST_ASSIGN_OR_RETURN(VerifyKey key, key_of(std::move(pkey)));
    key.jwk_alg = alg;
    if (!alg.empty() && !key.fits(alg)) return invalid("alg " + alg + " does not fit the key");
    return key;
}

std::string_view digest_of(std::string_view alg) {
    const std::string_view bits = alg.size() == 5 ? alg.substr(2) : std::string_view();
    if (bits == "256") return "SHA256";
    if (bits == "384") return "SHA384";
    if (bits == "512") return "SHA512";
    return "";
}

bool verify_hmac(const VerifyKey& key, std::string_view digest, std::string_view input,
                 std::string_view signature) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    size_t len = 0;
    const std::string md(digest);
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, md.c_str(), nullptr, key.secret.data(),
                  key.secret.size(), uc(input.data()), input.size(), mac.data(), mac.size(),
                  &len) == nullptr) {
        ERR_clear_error();
        return false;
    }
    return len == signature.size() && CRYPTO_memcmp(mac.data(), signature.data(), len) == 0;
}

// The DER encoding of the ECDSA signature r || s; "" when SIGNATURE is not 2 * FIELD bytes.
std::string ecdsa_der(std::string_view signature, size_t field) {
    if (field == 0 || signature.size() != 2 * field) return "";
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
    BnPtr r(BN_bin2bn(uc(signature.data()), static_cast<int>(field), nullptr));
    BnPtr s(BN_bin2bn(uc(signature.data() + field), static_cast<int>(field), nullptr));
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return "";
    r.release();  // owned by sig now
    s.release();
    const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (len <= 0) return "";
    std::string der(static_cast<size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != len) return "";
    return der;
}

}  // namespace

namespace detail {

bool is_base64url(std::string_view text) {
    for (char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1 || text.size() > kMaxBase64Text || !is_base64url(text)) {
        return std::nullopt;
    }
    // EVP_DecodeBlock takes standard, padded base64 and returns 3 bytes per 4 characters, the
    // zero bytes that padding stands for included.
    std::string b64(text);
    for (char& c : b64) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    const size_t pad = (4 - b64.size() % 4) % 4;
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), uc(b64.data()),
                                  static_cast<int>(b64.size()));
    if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), uc(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

}  // namespace detail

bool VerifyKey::fits(std::string_view alg) const {
    if (!jwk_alg.empty() && jwk_alg != alg) return false;
    if (alg == "HS256" || alg == "HS384" || alg == "HS512") return kind == Kind::kHmac;
    if (alg == "RS256" || alg == "RS384" || alg == "RS512") {
        return kind == Kind::kRsa && bits >= kMinRsaBits;
    }
    if (kind != Kind::kEc) return false;
    return (alg == "ES256" && curve == "P-256") || (alg == "ES384" && curve == "P-384") ||
           (alg == "ES512" && curve == "P-521");
}

Result<VerifyKey> load_public_key_pem(std::string_view pem) {
    if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
        return invalid("a private key: give the public key (openssl pkey -in KEY -pubout)");
    }
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return Status(ErrorCode::kInternal, "BIO_new_mem_buf failed");
    PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!pkey && pem.find("BEGIN CERTIFICATE") != std::string_view::npos) {
        ERR_clear_error();
        bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        std::unique_ptr<X509, X509Free> cert(
            bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
        if (cert) pkey.reset(X509_get_pubkey(cert.get()));
    }
    if (!pkey) {
        return invalid("not a PEM public key (BEGIN PUBLIC KEY) or certificate: " +
                       openssl_error());
    }
    return key_of(std::move(pkey));
}

Result<std::vector<VerifyKey>> parse_jwks(std::string_view text,
                                          std::vector<std::string>* warnings) {
    if (text.size() > kMaxJwksBytes) return invalid("JWKS: larger than 1 MiB");
    if (!outpost::detail::json_nesting_within(text, kMaxJwksNesting)) {
        return invalid("JWKS: nested deeper than 8 levels");
    }
    auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return invalid("JWKS: not JSON");
    auto keys = doc.is_object() ? doc.find("keys") : doc.end();
    if (!doc.is_object() || keys == doc.end() || !keys->is_array()) {
        return invalid("JWKS: not an object with a \"keys\" array");
    }
    if (keys->size() > kMaxJwksKeys) return invalid("JWKS: more than 100 keys");
    std::vector<VerifyKey> out;
    for (const auto& jwk : *keys) {
        std::string kid;
        if (jwk.is_object()) {
            if (auto k = jwk.find("kid"); k != jwk.end() && k->is_string()) kid = *k;
        }
        auto key = jwk_key(jwk);
        if (key && jwk.contains("kid") && !jwk["kid"].is_string()) {
            key = invalid("kid is not a string");
        }
        if (!key) {
            if (warnings) {
                warnings->push_back("JWKS key '" + kid + "' skipped: " + key.status().message());
            }
            continue;
        }
        key->kid = kid;
        out.push_back(std::move(key).value());
    }
    return out;
}

const VerifyKey* KeySet::select(std::string_view alg, std::string_view kid) const {
    if (alg.substr(0, 2) == "HS") return shared ? &*shared : nullptr;
    if (!has_jwks) return pem ? &*pem : nullptr;
    if (!kid.empty()) {
        for (const auto& key : jwks) {
            if (key.kid == kid) return &key;
        }
        return nullptr;
    }
    if (pem) return &*pem;
    const VerifyKey* only = nullptr;
    for (const auto& key : jwks) {
        if (!key.fits(alg)) continue;
        if (only != nullptr) return nullptr;  // several fit: the token must name one
        only = &key;
    }
    return only;
}

bool verify_signature(const VerifyKey& key, std::string_view alg, std::string_view signing_input,
                      std::string_view signature) {
    const std::string_view digest = digest_of(alg);
    if (digest.empty() || !key.fits(alg)) return false;
    if (key.kind == VerifyKey::Kind::kHmac) {
        return verify_hmac(key, digest, signing_input, signature);
    }
    std::string der;
    if (key.kind == VerifyKey::Kind::kEc) {
        der = ecdsa_der(signature, curve_field_bytes(key.curve));
        if (der.empty()) return false;
        signature = der;
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    const std::string md(digest);
    const bool ok = ctx &&
                    EVP_DigestVerifyInit_ex(ctx.get(), nullptr, md.c_str(), nullptr, nullptr,
                                            key.pkey.get(), nullptr) == 1 &&
                    EVP_DigestVerify(ctx.get(), uc(signature.data()), signature.size(),
                                     uc(signing_input.data()), signing_input.size()) == 1;
    if (!ok) ERR_clear_error();
    return ok;
}

}  // namespace outpost::sync::auth
