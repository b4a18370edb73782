// OpenSSL 3.4's message-oriented signature API (EVP_PKEY_sign_message_init with a composite
// algorithm such as ECDSA-SHA256, or ED25519) with vhsm keys, verified by the default provider.
// Built only against OpenSSL 3.5 or later.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include "tests/provider/provider_env.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

EVP_PKEY* loadKey(OSSL_LIB_CTX* libctx, const std::string& uri) {
  OSSL_STORE_CTX* store =
      OSSL_STORE_open_ex(uri.c_str(), libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  EVP_PKEY* pkey = nullptr;
  while (store && !pkey && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
      pkey = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  return pkey;
}

std::string errors() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    text += std::string(buffer) + "\n";
  }
  return text;
}

// The signature as the default provider checks it, from the public key alone.
bool verifiedByDefault(const Bytes& publicDer, const char* algorithm, const Bytes& message,
                       const Bytes& signature) {
  const unsigned char* p = publicDer.data();
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, long(publicDer.size()));
  EVP_SIGNATURE* s = EVP_SIGNATURE_fetch(nullptr, algorithm, "provider=default");
  EVP_PKEY_CTX* ctx = pub ? EVP_PKEY_CTX_new_from_pkey(nullptr, pub, nullptr) : nullptr;
  bool ok =
      ctx && s && EVP_PKEY_verify_message_init(ctx, s, nullptr) == 1 &&
      EVP_PKEY_verify(ctx, signature.data(), signature.size(), message.data(), message.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_SIGNATURE_free(s);
  EVP_PKEY_free(pub);
  return ok;
}

struct Case {
  KeyType type;
  const char* algorithm;
  bool streams;  // Ed25519 signs in one call only, as in the default provider
};
const Case kCases[] = {
    {KeyType::EC_P256, "ECDSA-SHA256", true}, {KeyType::EC_P384, "ECDSA-SHA384", true},
    {KeyType::EC_P256, "ECDSA-SHA1", true},   {KeyType::RSA, "RSA-SHA256", true},
    {KeyType::RSA, "RSA-SHA512", true},       {KeyType::ED25519, "ED25519", false}};

}  // namespace

TEST_CASE("EVP_PKEY_sign_message_init signs with vhsm keys, verified by the default provider") {
  ProviderOptions o;
  o.globalPreference = false;
  ProviderEnv env(o);
  auto* libctx = env.libctx();
  auto message = randomBytes(2000);
  int n = 0;
  for (const auto& c : kCases) {
    INFO(c.algorithm);
    std::string id = "k" + std::to_string(n++);
    env.alice().keyGenerate(id, c.type);
    auto publicDer = env.alice().keyPublic(id);
    EVP_PKEY* key = loadKey(libctx, "vhsm:" + id);
    REQUIRE(key);
    EVP_SIGNATURE* algorithm = EVP_SIGNATURE_fetch(libctx, c.algorithm, "provider=vhsm");
    REQUIRE(algorithm);

    // One call over the whole message.
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, nullptr);
    Bytes signature(1024);
    size_t length = signature.size();
    bool ok = EVP_PKEY_sign_message_init(ctx, algorithm, nullptr) == 1 &&
              EVP_PKEY_sign(ctx, signature.data(), &length, message.data(), message.size()) == 1;
    INFO(errors());
    REQUIRE(ok);
    signature.resize(length);
    CHECK(verifiedByDefault(publicDer, c.algorithm, message, signature));
    EVP_PKEY_CTX_free(ctx);

    if (c.streams) {
      // In pieces, and checked through vhsm too, with the signature set beforehand.
      ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, nullptr);
      Bytes streamed(1024);
      length = streamed.size();
      ok = EVP_PKEY_sign_message_init(ctx, algorithm, nullptr) == 1 &&
           EVP_PKEY_sign_message_update(ctx, message.data(), 700) == 1 &&
           EVP_PKEY_sign_message_update(ctx, message.data() + 700, message.size() - 700) == 1 &&
           EVP_PKEY_sign_message_final(ctx, streamed.data(), &length) == 1;
      INFO(errors());
      REQUIRE(ok);
      streamed.resize(length);
      CHECK(verifiedByDefault(publicDer, c.algorithm, message, streamed));
      EVP_PKEY_CTX_free(ctx);
      for (bool tamper : {false, true}) {
        auto checked = streamed;
        if (tamper) checked[checked.size() / 2] ^= 1;
        ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, nullptr);
        int verdict = EVP_PKEY_verify_message_init(ctx, algorithm, nullptr) == 1 &&
                      EVP_PKEY_CTX_set_signature(ctx, checked.data(), checked.size()) == 1 &&
                      EVP_PKEY_verify_message_update(ctx, message.data(), message.size()) == 1 &&
                      EVP_PKEY_verify_message_final(ctx) == 1;
        CHECK(verdict == !tamper);
        ERR_clear_error();
        EVP_PKEY_CTX_free(ctx);
      }
    }
    EVP_SIGNATURE_free(algorithm);
    EVP_PKEY_free(key);
  }
}

TEST_CASE("the default provider's message signatures refuse a vhsm key, never signing with less") {
  ProviderOptions o;
  o.globalPreference = false;
  ProviderEnv env(o);
  auto* libctx = env.libctx();
  env.alice().keyGenerate("ec", KeyType::EC_P256);
  EVP_PKEY* key = loadKey(libctx, "vhsm:ec");
  REQUIRE(key);
  EVP_SIGNATURE* algorithm = EVP_SIGNATURE_fetch(libctx, "ECDSA-SHA256", "provider=default");
  REQUIRE(algorithm);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(libctx, key, nullptr);
  auto message = randomBytes(100);
  Bytes signature(256);
  size_t length = signature.size();
  bool ok = EVP_PKEY_sign_message_init(ctx, algorithm, nullptr) == 1 &&
            EVP_PKEY_sign(ctx, signature.data(), &length, message.data(), message.size()) == 1;
  CHECK_FALSE(ok);
  ERR_clear_error();
  EVP_PKEY_CTX_free(ctx);
  EVP_SIGNATURE_free(algorithm);
  EVP_PKEY_free(key);
}
