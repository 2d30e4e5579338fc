// Minting with libjwt (it signs; ES signatures come out as r || s); the private key is read here
// first, with OpenSSL and without a passphrase prompt, and handed to libjwt re-encoded as plain
// PKCS #8, so libjwt never meets an encrypted key (its own read would prompt on the terminal).
#include "sync/auth/token_mint.hpp"

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "sync/auth/key_set.hpp"

namespace outpost::sync::auth {

namespace {

using nlohmann::json;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
struct JwtFree {
    void operator()(jwt_t* j) const { jwt_free(j); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

Status invalid(std::string why) { return Status(ErrorCode::kInvalidArgument, std::move(why)); }

// Refuses to ask for a passphrase: an encrypted key does not load.
int no_passphrase(char*, int, int, void*) { return 0; }

struct SigningKey {
    PkeyPtr pkey;
    std::string curve;  // EC: "P-256", "P-384", "P-521"
};

// A private key from PEM (or, when PUBLIC_OK, a public one), RSA or EC.
Result<SigningKey> load_key(const std::string& pem, bool public_ok) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    SigningKey key;
    if (bio) key.pkey.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key.pkey && public_ok) {
        bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        if (bio) key.pkey.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    }
    ERR_clear_error();
    if (!key.pkey) {
        return invalid(
            "not a PEM private key (an encrypted key is not supported: openssl pkey "
            "-in KEY -out PLAIN)");
    }
    if (EVP_PKEY_is_a(key.pkey.get(), "EC")) {
        std::array<char, 64> group{};
        size_t len = 0;
        EVP_PKEY_get_utf8_string_param(key.pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                       group.size(), &len);
        const std::string_view g(group.data(), len);
        key.curve = g == "prime256v1"  ? "P-256"
                    : g == "secp384r1" ? "P-384"
                    : g == "secp521r1" ? "P-521"
                                       : "";
        if (key.curve.empty()) return invalid("an EC key on a curve other than P-256/384/521");
    } else if (!EVP_PKEY_is_a(key.pkey.get(), "RSA")) {
        return invalid("a key that is neither RSA nor EC");
    }
    return key;
}

// KEY as unencrypted PKCS #8 PEM, for libjwt.
std::string private_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return "";
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<size_t>(n)) : "";
}

std::string default_algorithm(const SigningKey* key) {
    if (key == nullptr) return "HS256";
    if (key->curve == "P-256") return "ES256";
    if (key->curve == "P-384") return "ES384";
    if (key->curve == "P-521") return "ES512";
    return "RS256";
}

bool alg_fits(std::string_view alg, const SigningKey* key) {
    if (alg == "none") return true;
    if (alg.substr(0, 2) == "HS") return key == nullptr;
    if (key == nullptr) return false;
    if (alg.substr(0, 2) == "RS") return key->curve.empty();
    return (alg == "ES256" && key->curve == "P-256") || (alg == "ES384" && key->curve == "P-384") ||
           (alg == "ES512" && key->curve == "P-521");
}

// The payload: registered claims from the options, then the extra ones.
Result<json> payload_of(const MintOptions& o) {
    json claims = json::object();
    if (!o.subject.empty()) claims["sub"] = o.subject;
    if (!o.issuer.empty()) claims["iss"] = o.issuer;
    if (o.audiences.size() == 1) claims["aud"] = o.audiences.front();
    if (o.audiences.size() > 1) claims["aud"] = o.audiences;
    const int64_t iat =
        o.issued_at_s != 0 ? o.issued_at_s : static_cast<int64_t>(std::time(nullptr));
    claims["iat"] = iat;
    claims["exp"] = iat + o.ttl_s;
    if (o.not_before_s != 0) claims["nbf"] = o.not_before_s;
    for (const auto& [name, value] : o.claims) {
        if (name.empty()) return invalid("a claim without a name");
        if (claims.contains(name)) return invalid("claim " + name + " is given twice");
        json v = json::parse(value, nullptr, /*allow_exceptions=*/false);
        claims[name] = v.is_discarded() ? json(value) : std::move(v);
    }
    return claims;
}

std::string bn_bytes(EVP_PKEY* key, const char* param, int pad_to) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return "";
    std::unique_ptr<BIGNUM, BnFree> bn(raw);
    const int len = pad_to > 0 ? pad_to : BN_num_bytes(bn.get());
    std::string out(static_cast<size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    const int n = pad_to > 0 ? BN_bn2binpad(bn.get(), p, pad_to) : BN_bn2bin(bn.get(), p);
    return n == len ? out : "";
}

}  // namespace

Result<std::string> mint_token(const MintOptions& o) {
    std::optional<SigningKey> key;
    if (!o.private_key_pem.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(key, load_key(o.private_key_pem, /*public_ok=*/false));
    } else if (o.shared_key.empty() && o.algorithm != "none") {
        return invalid("no signing key: a private key or a shared key");
    }
    const SigningKey* k = key ? &*key : nullptr;
    const std::string alg = o.algorithm.empty() ? default_algorithm(k) : o.algorithm;
    const jwt_alg_t jalg = jwt_str_alg(alg.c_str());
    if (jalg == JWT_ALG_INVAL || alg != jwt_alg_str(jalg))
        return invalid("unknown algorithm " + alg);
    if (!alg_fits(alg, k)) return invalid("algorithm " + alg + " does not fit the key");
    OUTPOST_ASSIGN_OR_RETURN(json claims, payload_of(o));

    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) return Status(ErrorCode::kInternal, "jwt_new failed");
    std::unique_ptr<jwt_t, JwtFree> jwt(raw);
    const std::string key_bytes = k ? private_pem(k->pkey.get()) : o.shared_key;
    const auto* key_data = reinterpret_cast<const unsigned char*>(key_bytes.data());
    int rc = jwt_add_grants_json(jwt.get(), claims.dump().c_str());
    if (rc == 0 && !o.kid.empty()) rc = jwt_add_header(jwt.get(), "kid", o.kid.c_str());
    if (rc == 0) {
        rc = jalg == JWT_ALG_NONE
                 ? jwt_set_alg(jwt.get(), JWT_ALG_NONE, nullptr, 0)
                 : jwt_set_alg(jwt.get(), jalg, key_data, static_cast<int>(key_bytes.size()));
    }
    if (rc != 0) return invalid(std::string("libjwt: ") + std::strerror(rc));
    std::unique_ptr<char, decltype(&std::free)> token(jwt_encode_str(jwt.get()), std::free);
    if (!token) return invalid(std::string("libjwt could not sign: ") + std::strerror(errno));
    return std::string(token.get());
}

Result<std::string> public_jwks(const std::string& private_key_pem, const std::string& kid) {
    OUTPOST_ASSIGN_OR_RETURN(SigningKey key, load_key(private_key_pem, /*public_ok=*/true));
    json jwk = json::object();
    if (key.curve.empty()) {
        jwk["kty"] = "RSA";
        jwk["n"] = detail::base64url_encode(bn_bytes(key.pkey.get(), OSSL_PKEY_PARAM_RSA_N, 0));
        jwk["e"] = detail::base64url_encode(bn_bytes(key.pkey.get(), OSSL_PKEY_PARAM_RSA_E, 0));
    } else {
        const int field = key.curve == "P-256" ? 32 : key.curve == "P-384" ? 48 : 66;
        jwk["kty"] = "EC";
        jwk["crv"] = key.curve;
        jwk["alg"] = key.curve == "P-256" ? "ES256" : key.curve == "P-384" ? "ES384" : "ES512";
        jwk["x"] =
            detail::base64url_encode(bn_bytes(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, field));
        jwk["y"] =
            detail::base64url_encode(bn_bytes(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, field));
    }
    jwk["use"] = "sig";
    if (!kid.empty()) jwk["kid"] = kid;
    return json{{"keys", json::array({jwk})}}.dump();
}

}  // namespace outpost::sync::auth
