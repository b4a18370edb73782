// OpenSSL 3.5's opaque symmetric keys (EVP_SKEY) from vhsm's key management: imported from a
// reference or generated in keyd (`openssl skeyutl -genkey`), never yielding key bytes, and
// computing AES-256-GCM (EVP_CipherInit_SKEY) and HMAC (EVP_MAC_init_SKEY) in keyd with the
// results of 3.5's default provider on the same key. Built only against OpenSSL 3.5 or later.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "tests/provider/provider_env.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

ProviderOptions noPreference() {
  ProviderOptions o;
  o.globalPreference = false;
  return o;
}

// The text of every error on the queue, which it empties.
std::string errors() {
  std::string text;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    text += std::string(buffer) + ((flags & ERR_TXT_STRING) ? std::string(" ") + data : "") + "\n";
  }
  return text;
}

// The reference in a key buffer as today's key buffers hold it: zero-padded to length.
Bytes padded(const std::string& uri, size_t length) {
  Bytes buffer(std::max(length, uri.size()), 0);
  std::memcpy(buffer.data(), uri.data(), uri.size());
  return buffer;
}

EVP_SKEY* importUri(OSSL_LIB_CTX* libctx, const char* skeymgmt, const std::string& uri) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("vhsm-key-uri", const_cast<char*>(uri.c_str()), 0),
      OSSL_PARAM_construct_end()};
  return EVP_SKEY_import(libctx, skeymgmt, "provider=vhsm", OSSL_SKEYMGMT_SELECT_SECRET_KEY,
                         params);
}

// key imported into keyd as alice's id, and an EVP_SKEY of skeymgmt in libctx referring to it.
EVP_SKEY* keydKey(ProviderEnv& env, OSSL_LIB_CTX* libctx, KeyType type, const std::string& id,
                  const Bytes& key, const char* skeymgmt) {
  env.alice().keyImport(id, type, key);
  return importUri(libctx, skeymgmt, "vhsm:" + id);
}

struct Sealed {
  Bytes ciphertext, tag;
  bool ok = false;
};

Sealed gcmSeal(OSSL_LIB_CTX* libctx, EVP_SKEY* skey, const Bytes& iv, const Bytes& aad,
               const Bytes& plaintext) {
  Sealed out;
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength),
                         OSSL_PARAM_construct_end()};
  int length = 0;
  out.ciphertext.resize(plaintext.size());
  out.tag.resize(16);
  out.ok = cipher && ctx &&
           EVP_CipherInit_SKEY(ctx, cipher, skey, iv.data(), iv.size(), 1, params) &&
           EVP_EncryptUpdate(ctx, nullptr, &length, aad.data(), int(aad.size())) &&
           EVP_EncryptUpdate(ctx, out.ciphertext.data(), &length, plaintext.data(),
                             int(plaintext.size())) &&
           EVP_EncryptFinal_ex(ctx, out.ciphertext.data() + length, &length) &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.tag.data());
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

// Plaintext, or nullopt when the tag does not verify.
std::optional<Bytes> gcmOpen(OSSL_LIB_CTX* libctx, EVP_SKEY* skey, const Bytes& iv,
                             const Bytes& aad, const Bytes& ciphertext, Bytes tag) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes plaintext(ciphertext.size());
  int length = 0;
  bool ok = cipher && ctx &&
            EVP_CipherInit_SKEY(ctx, cipher, skey, iv.data(), iv.size(), 0, nullptr) &&
            EVP_DecryptUpdate(ctx, nullptr, &length, aad.data(), int(aad.size())) &&
            EVP_DecryptUpdate(ctx, plaintext.data(), &length, ciphertext.data(),
                              int(ciphertext.size())) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, int(tag.size()), tag.data()) &&
            EVP_DecryptFinal_ex(ctx, plaintext.data() + length, &length);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  if (!ok) return std::nullopt;
  return plaintext;
}

Bytes skeyMac(OSSL_LIB_CTX* libctx, EVP_SKEY* skey, const std::string& digest, const Bytes& data) {
  EVP_MAC* mac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest.c_str()), 0),
      OSSL_PARAM_construct_end()};
  Bytes out(EVP_MAX_MD_SIZE);
  size_t length = 0;
  bool ok = ctx && EVP_MAC_init_SKEY(ctx, skey, params) &&
            EVP_MAC_update(ctx, data.data(), data.size()) &&
            EVP_MAC_final(ctx, out.data(), &length, out.size());
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  if (!ok) return {};
  out.resize(length);
  return out;
}

}  // namespace

TEST_CASE("an AES EVP_SKEY from a vhsm reference encrypts in keyd as the default provider does") {
  ProviderEnv env(noPreference());
  auto key = randomBytes(32);
  env.alice().keyImport("aes", KeyType::AES, key);
  auto* libctx = env.libctx();
  auto iv = randomBytes(12), aad = randomBytes(20), plaintext = randomBytes(1000);
  auto expected = referenceGcmEncrypt(key, iv, aad, plaintext);

  // Both import forms: the reference as raw bytes (zero-padded, as in today's key buffers)
  // and the vhsm-key-uri parameter.
  auto buffer = padded("vhsm:aes", 32);
  EVP_SKEY* fromBytes =
      EVP_SKEY_import_raw_key(libctx, "AES", buffer.data(), buffer.size(), "provider=vhsm");
  EVP_SKEY* fromUri = importUri(libctx, "AES", "vhsm:aes");
  INFO(errors());
  REQUIRE(fromBytes);
  REQUIRE(fromUri);
  for (EVP_SKEY* skey : {fromBytes, fromUri}) {
    CHECK(std::string(EVP_SKEY_get0_key_id(skey)) == "vhsm:aes");
    CHECK(std::string(EVP_SKEY_get0_provider_name(skey)) == "vhsm");
    auto sealed = gcmSeal(libctx, skey, iv, aad, plaintext);
    INFO(errors());
    REQUIRE(sealed.ok);
    CHECK(sealed.ciphertext == expected.ciphertext);
    CHECK(sealed.tag == expected.tag);
    CHECK(gcmOpen(libctx, skey, iv, aad, expected.ciphertext, expected.tag) == plaintext);
    auto forged = expected.tag;
    forged[0] ^= 1;
    CHECK_FALSE(gcmOpen(libctx, skey, iv, aad, expected.ciphertext, forged));
    ERR_clear_error();
  }
  EVP_SKEY_free(fromBytes);
  EVP_SKEY_free(fromUri);
}

TEST_CASE("a GENERIC-SECRET EVP_SKEY from a vhsm reference computes HMAC in keyd") {
  ProviderEnv env(noPreference());
  auto key = randomBytes(40);
  auto* libctx = env.libctx();
  EVP_SKEY* skey = keydKey(env, libctx, KeyType::HMAC, "mac", key, "GENERIC-SECRET");
  INFO(errors());
  REQUIRE(skey);
  auto data = randomBytes(3000);
  for (const char* digest : {"SHA1", "SHA256", "SHA384", "SHA512"}) {
    INFO(digest);
    CHECK(skeyMac(libctx, skey, digest, data) == referenceHmac(digest, key, data));
  }
  EVP_SKEY_free(skey);
}

TEST_CASE("a vhsm EVP_SKEY never yields its key bytes") {
  ProviderEnv env(noPreference());
  auto* libctx = env.libctx();
  EVP_SKEY* skey = keydKey(env, libctx, KeyType::AES, "aes", randomBytes(32), "AES");
  REQUIRE(skey);
  const unsigned char* raw = nullptr;
  size_t length = 0;
  CHECK_FALSE(EVP_SKEY_get0_raw_key(skey, &raw, &length));
  CHECK(raw == nullptr);
  CHECK(errors().find("never leave keyd") != std::string::npos);
  // Moving it to the default provider would export it: refused the same way.
  EVP_SKEY* moved = EVP_SKEY_to_provider(skey, libctx, nullptr, "provider=default");
  CHECK(moved == nullptr);
  CHECK(errors().find("never leave keyd") != std::string::npos);
  // Its parameters alone: the reference and the length, no bytes.
  struct Seen {
    bool raw = false, uri = false;
    size_t length = 0;
  } seen;
  auto collect = [](const OSSL_PARAM params[], void* arg) {
    auto* s = static_cast<Seen*>(arg);
    s->raw |= OSSL_PARAM_locate_const(params, OSSL_SKEY_PARAM_RAW_BYTES) != nullptr;
    s->uri |= OSSL_PARAM_locate_const(params, "vhsm-key-uri") != nullptr;
    if (auto* p = OSSL_PARAM_locate_const(params, OSSL_SKEY_PARAM_KEY_LENGTH))
      OSSL_PARAM_get_size_t(p, &s->length);
    return 1;
  };
  CHECK(EVP_SKEY_export(skey, OSSL_SKEYMGMT_SELECT_PARAMETERS, collect, &seen));
  CHECK_FALSE(seen.raw);
  CHECK(seen.uri);
  CHECK(seen.length == 32);
  CHECK_FALSE(EVP_SKEY_export(skey, OSSL_SKEYMGMT_SELECT_ALL, collect, &seen));
  CHECK_FALSE(seen.raw);
  ERR_clear_error();
  // A cipher of another provider cannot take it either (OpenSSL refuses, keyd is not asked).
  EVP_CIPHER* other = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=default");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  auto iv = randomBytes(12);
  CHECK_FALSE(EVP_CipherInit_SKEY(ctx, other, skey, iv.data(), iv.size(), 1, nullptr));
  ERR_clear_error();
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(other);
  EVP_SKEY_free(skey);
}

TEST_CASE("vhsm's key management refuses what is not a usable reference, precisely") {
  ProviderEnv env(noPreference());
  env.alice().keyImport("mac", KeyType::HMAC, randomBytes(32));
  auto* libctx = env.libctx();
  struct Case {
    const char* skeymgmt;
    Bytes bytes;
    const char* reason;
  };
  auto ordinary = randomBytes(32);
  ordinary[0] = 'x';  // not "vhsm:"
  const Case cases[] = {
      {"AES", ordinary, "key references only"},
      {"AES", padded("vhsm:bad id", 32), "not a valid vhsm:<id>"},
      {"AES", padded("vhsm:nope", 32), "unknown key"},
      {"AES", padded("vhsm:mac", 32), "not an AES key"},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    Bytes bytes = c.bytes;
    EVP_SKEY* skey =
        EVP_SKEY_import_raw_key(libctx, c.skeymgmt, bytes.data(), bytes.size(), "provider=vhsm");
    CHECK(skey == nullptr);
    auto text = errors();
    INFO(text);
    CHECK(text.find(c.reason) != std::string::npos);
    EVP_SKEY_free(skey);
  }
}

TEST_CASE("openssl skeyutl -genkey makes an AES key in keyd that EVP_SKEY then uses") {
  ProviderEnv env(noPreference());
  auto r = openssl(env.config(),
                   {"skeyutl", "-genkey", "-skeymgmt", "AES", "-propquery", "provider=vhsm",
                    "-skeyopt", "vhsm-key-id:made", "-skeyopt", "key-length:32"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("vhsm:made") != std::string::npos);
  auto info = env.alice().keyInfo("made");
  CHECK(info.type == KeyType::AES);
  CHECK(info.bits == 256);

  // The same key through the skey and through the key buffer of the 3.0 route: one result.
  auto* libctx = env.libctx();
  EVP_SKEY* skey = importUri(libctx, "AES", "vhsm:made");
  REQUIRE(skey);
  auto iv = randomBytes(12), aad = randomBytes(5), plaintext = randomBytes(100);
  auto sealed = gcmSeal(libctx, skey, iv, aad, plaintext);
  REQUIRE(sealed.ok);
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  auto buffer = padded("vhsm:made", 32);
  Bytes plain(plaintext.size());
  int length = 0;
  CHECK(EVP_DecryptInit_ex2(ctx, cipher, buffer.data(), iv.data(), nullptr));
  CHECK(EVP_DecryptUpdate(ctx, nullptr, &length, aad.data(), int(aad.size())));
  CHECK(EVP_DecryptUpdate(ctx, plain.data(), &length, sealed.ciphertext.data(),
                          int(sealed.ciphertext.size())));
  CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, sealed.tag.data()));
  CHECK(EVP_DecryptFinal_ex(ctx, plain.data() + length, &length));
  CHECK(plain == plaintext);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  EVP_SKEY_free(skey);

  // Without a name keyd cannot file it: the error says which option gives one.
  auto unnamed = openssl(env.config(),
                         {"skeyutl", "-genkey", "-skeymgmt", "AES", "-propquery", "provider=vhsm"});
  CHECK(unnamed.status != 0);
  CHECK(unnamed.err.find("vhsm-key-id") != std::string::npos);
}

TEST_CASE("a vhsm EVP_SKEY is used only as what it is, with its own key") {
  ProviderEnv env(noPreference());
  auto* libctx = env.libctx();
  auto macKey = randomBytes(32);
  EVP_SKEY* mac = keydKey(env, libctx, KeyType::HMAC, "mac", macKey, "GENERIC-SECRET");
  EVP_SKEY* aes128 = keydKey(env, libctx, KeyType::AES, "aes128", randomBytes(16), "AES");
  EVP_SKEY* aes = keydKey(env, libctx, KeyType::AES, "aes", randomBytes(32), "AES");
  REQUIRE((mac && aes128 && aes));
  auto iv = randomBytes(12), data = randomBytes(64);

  // A key among EVP_MAC_init_SKEY's parameters would replace the skey's: refused.
  EVP_MAC* hmac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
  EVP_MAC_CTX* mctx = EVP_MAC_CTX_new(hmac);
  auto other = randomBytes(32);
  OSSL_PARAM withKey[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, other.data(), other.size()),
      OSSL_PARAM_construct_end()};
  CHECK_FALSE(EVP_MAC_init_SKEY(mctx, mac, withKey));
  CHECK(errors().find("takes its key from the EVP_SKEY") != std::string::npos);
  OSSL_PARAM withUri[] = {
      OSSL_PARAM_construct_utf8_string("vhsm-key-uri", const_cast<char*>("vhsm:aes"), 0),
      OSSL_PARAM_construct_end()};
  CHECK_FALSE(EVP_MAC_init_SKEY(mctx, mac, withUri));
  ERR_clear_error();
  // An AES key as an HMAC key: keyd refuses it for that use.
  CHECK(skeyMac(libctx, aes, "SHA256", data).empty());
  CHECK(errors().find("key usage not permitted") != std::string::npos);
  CHECK(skeyMac(libctx, mac, "SHA256", data) == referenceHmac("SHA256", macKey, data));
  EVP_MAC_CTX_free(mctx);
  EVP_MAC_free(hmac);

  // An HMAC key as an AES key, a 128-bit key under AES-256-GCM, an empty IV: refused.
  CHECK_FALSE(gcmSeal(libctx, mac, iv, {}, data).ok);
  CHECK(errors().find("key usage not permitted") != std::string::npos);
  CHECK_FALSE(gcmSeal(libctx, aes128, iv, {}, data).ok);
  CHECK(errors().find("vhsm:aes128 is a 128-bit key, not 256") != std::string::npos);
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  CHECK_FALSE(EVP_CipherInit_SKEY(ctx, gcm, aes, iv.data(), 0, 1, nullptr));
  CHECK(errors().find("IV length") != std::string::npos);

  // Key first, IV later (EVP's multi-step init), then the IV rules of the default provider.
  Bytes out(data.size() + 16);
  int length = 0;
  CHECK(EVP_CipherInit_SKEY(ctx, gcm, aes, nullptr, 0, 1, nullptr));
  CHECK(EVP_CipherInit_SKEY(ctx, nullptr, nullptr, iv.data(), iv.size(), 1, nullptr));
  CHECK(EVP_EncryptUpdate(ctx, out.data(), &length, data.data(), int(data.size())));
  CHECK(EVP_EncryptFinal_ex(ctx, out.data() + length, &length));
  // A second message under the same IV is refused.
  CHECK_FALSE(EVP_EncryptUpdate(ctx, out.data(), &length, data.data(), int(data.size())));
  CHECK(errors().find("needs a new IV") != std::string::npos);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(gcm);
  EVP_SKEY_free(mac);
  EVP_SKEY_free(aes128);
  EVP_SKEY_free(aes);
}

TEST_CASE("ordinary EVP_SKEYs keep working with vhsm loaded, under either preference") {
  for (bool global : {false, true}) {
    INFO((global ? "default_properties = ?provider=vhsm" : "vhsm's own preference"));
    ProviderOptions o;
    o.globalPreference = global;
    ProviderEnv env(o);
    auto* libctx = env.libctx();
    auto key = randomBytes(32);
    // Unqualified: the default provider's under vhsm's preference; under the global one vhsm's,
    // which refuses an ordinary key and says what to ask for instead.
    EVP_SKEY* unqualified = EVP_SKEY_import_raw_key(libctx, "AES", key.data(), key.size(), nullptr);
    if (global) {
      CHECK(unqualified == nullptr);
      CHECK(errors().find("provider=default") != std::string::npos);
    } else {
      REQUIRE(unqualified);
      CHECK(std::string(EVP_SKEY_get0_provider_name(unqualified)) == "default");
    }
    EVP_SKEY_free(unqualified);
    EVP_SKEY* ordinary =
        EVP_SKEY_import_raw_key(libctx, "AES", key.data(), key.size(), "provider=default");
    REQUIRE(ordinary);
    EVP_CIPHER* cbc = EVP_CIPHER_fetch(libctx, "AES-256-CBC", "provider=default");
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    auto iv = randomBytes(16);
    CHECK(EVP_CipherInit_SKEY(ctx, cbc, ordinary, iv.data(), iv.size(), 1, nullptr));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cbc);
    EVP_SKEY_free(ordinary);
    ERR_clear_error();
  }
}
