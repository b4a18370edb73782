// The provider through EVP, as applications call it, compared with OpenSSL's default provider:
// HMAC (EVP_MAC, EVP_PKEY + DigestSign), digests, AES-GCM, copied contexts (signatures too),
// pass-through of ordinary keys, errors on the queue, fork, threads, keyd restarts, and key bytes
// never in the application's memory.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/provider/provider_env.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

const char* const kDigests[] = {"SHA1", "SHA256", "SHA384", "SHA512"};

// HMAC through EVP_MAC fetched from vhsm, the key given as key bytes or as vhsm-key-uri.
Bytes vhsmMac(OSSL_LIB_CTX* libctx, const std::string& digest, const std::string& uri,
              const Bytes& data, bool asParam, size_t pieces = 1) {
  EVP_MAC* mac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
  REQUIRE(mac);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  std::vector<OSSL_PARAM> params = {OSSL_PARAM_construct_utf8_string(
      OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest.c_str()), 0)};
  if (asParam)
    params.push_back(
        OSSL_PARAM_construct_utf8_string("vhsm-key-uri", const_cast<char*>(uri.c_str()), 0));
  params.push_back(OSSL_PARAM_construct_end());
  bool ok = asParam ? EVP_MAC_init(ctx, nullptr, 0, params.data())
                    : EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(uri.data()),
                                   uri.size(), params.data());
  size_t step = data.size() / pieces + 1;
  for (size_t at = 0; ok && at < data.size(); at += step)
    ok = EVP_MAC_update(ctx, data.data() + at, std::min(step, data.size() - at));
  Bytes out(EVP_MAX_MD_SIZE);
  size_t length = 0;
  ok = ok && EVP_MAC_final(ctx, out.data(), &length, out.size());
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  if (!ok) return {};
  out.resize(length);
  return out;
}

struct Sealed {
  Bytes ciphertext, tag;
  bool ok = false;
};

// AES-GCM through EVP with the cipher fetched by name from the given library context and
// property query: the key is either raw bytes, a zero-padded "vhsm:<id>", or (empty) given as
// vhsm-key-uri.
Sealed gcmEncrypt(OSSL_LIB_CTX* libctx, const char* properties, size_t keyBytes, const Bytes& key,
                  const std::string& uri, const Bytes& iv, const Bytes& aad, const Bytes& plaintext,
                  size_t tagLength, size_t pieceSize = 0) {
  EVP_CIPHER* cipher =
      EVP_CIPHER_fetch(libctx, keyBytes == 16 ? "AES-128-GCM" : "AES-256-GCM", properties);
  REQUIRE(cipher);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength)};
  if (!uri.empty())
    params.push_back(
        OSSL_PARAM_construct_utf8_string("vhsm-key-uri", const_cast<char*>(uri.c_str()), 0));
  params.push_back(OSSL_PARAM_construct_end());
  Sealed out;
  out.ciphertext.resize(plaintext.size() + 16);
  out.tag.resize(tagLength);
  int n = 0, total = 0;
  bool ok =
      EVP_EncryptInit_ex2(ctx, cipher, nullptr, nullptr, params.data()) &&
      EVP_EncryptInit_ex2(ctx, nullptr, key.empty() ? nullptr : key.data(), iv.data(), nullptr);
  if (ok && !aad.empty()) ok = EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), int(aad.size()));
  size_t step = pieceSize ? pieceSize : std::max<size_t>(plaintext.size(), 1);
  for (size_t at = 0; ok && at < plaintext.size(); at += step) {
    size_t len = std::min(step, plaintext.size() - at);
    ok = EVP_EncryptUpdate(ctx, out.ciphertext.data() + total, &n, plaintext.data() + at, int(len));
    total += n;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx, out.ciphertext.data() + total, &n);
  total += n;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, int(tagLength), out.tag.data());
  out.ciphertext.resize(size_t(total));
  out.ok = ok;
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

// Decrypts; returns false when EVP_DecryptFinal_ex (the tag check) fails.
bool gcmDecrypt(OSSL_LIB_CTX* libctx, size_t keyBytes, const Bytes& key, const std::string& uri,
                const Bytes& iv, const Bytes& aad, const Bytes& ciphertext, Bytes tag,
                Bytes& plaintext) {
  EVP_CIPHER* cipher =
      EVP_CIPHER_fetch(libctx, keyBytes == 16 ? "AES-128-GCM" : "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength)};
  if (!uri.empty())
    params.push_back(
        OSSL_PARAM_construct_utf8_string("vhsm-key-uri", const_cast<char*>(uri.c_str()), 0));
  params.push_back(OSSL_PARAM_construct_end());
  plaintext.assign(ciphertext.size() + 16, 0);
  int n = 0, total = 0;
  bool ok =
      EVP_DecryptInit_ex2(ctx, cipher, nullptr, nullptr, params.data()) &&
      EVP_DecryptInit_ex2(ctx, nullptr, key.empty() ? nullptr : key.data(), iv.data(), nullptr);
  if (ok && !aad.empty()) ok = EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), int(aad.size()));
  ok =
      ok && EVP_DecryptUpdate(ctx, plaintext.data(), &n, ciphertext.data(), int(ciphertext.size()));
  total = n;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, int(tag.size()), tag.data());
  ok = ok && EVP_DecryptFinal_ex(ctx, plaintext.data() + total, &n);
  plaintext.resize(size_t(total));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return ok;
}

Bytes paddedRef(const std::string& uri, size_t length) {
  Bytes key(length, 0);
  std::memcpy(key.data(), uri.data(), uri.size());
  return key;
}

// The reason of the newest error on the queue from the vhsm provider, or 0.
int lastVhsmReason() {
  unsigned long e;
  int reason = 0;
  const char* lib = nullptr;
  while ((e = ERR_get_error_all(&lib, nullptr, nullptr, nullptr, nullptr)) != 0)
    if (ERR_GET_REASON(e)) reason = ERR_GET_REASON(e);
  return reason;
}

}  // namespace

TEST_CASE("HMAC by key reference equals the default provider's, key as bytes or parameter") {
  ProviderEnv env;
  auto key = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  auto* libctx = env.libctx();
  for (size_t size : {0, 64, 4096, 300000, 1 << 20})
    for (const char* digest : kDigests) {
      auto data = randomBytes(size);
      auto expected = referenceHmac(digest, key, data);
      INFO(digest << " " << size);
      CHECK(vhsmMac(libctx, digest, "vhsm:k1", data, false) == expected);
      CHECK(vhsmMac(libctx, digest, "vhsm:k1", data, true, 7) == expected);
    }
}

TEST_CASE("RFC 2202 and 4231 vectors through EVP_MAC with keys imported into keyd") {
  ProviderEnv env;
  env.alice().keyImport("rfc-1", KeyType::HMAC, repeat(0x0b, 20));
  env.alice().keyImport("rfc-2", KeyType::HMAC, bytesOf("Jefe"));
  auto* libctx = env.libctx();
  CHECK(toHex(vhsmMac(libctx, "SHA1", "vhsm:rfc-1", bytesOf("Hi There"), false)) ==
        "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(toHex(vhsmMac(libctx, "SHA256", "vhsm:rfc-2", bytesOf("what do ya want for nothing?"),
                      false)) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("EVP_PKEY HMAC with EVP_DigestSign reaches keyd under the global preference") {
  ProviderEnv env;
  auto key = randomBytes(20);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  auto* libctx = env.libctx();
  std::string ref = "vhsm:k1";
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key_ex(
      libctx, "HMAC", nullptr, reinterpret_cast<const unsigned char*>(ref.data()), ref.size());
  REQUIRE(pkey);
  auto data = randomBytes(1000);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  Bytes out(64);
  size_t length = out.size();
  REQUIRE(EVP_DigestSignInit_ex(md, nullptr, "SHA256", libctx, nullptr, pkey, nullptr));
  REQUIRE(EVP_DigestSign(md, out.data(), &length, data.data(), data.size()));
  out.resize(length);
  CHECK(out == referenceHmac("SHA256", key, data));
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
}

TEST_CASE("digests fetched from vhsm are computed in keyd and equal the default provider's") {
  ProviderEnv env;
  auto* libctx = env.libctx();
  for (const char* name : kDigests)
    for (size_t size : {0, 100, 1 << 20}) {
      EVP_MD* md = EVP_MD_fetch(libctx, name, "provider=vhsm");
      REQUIRE(md);
      CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_MD_get0_provider(md))) == "vhsm");
      auto data = randomBytes(size);
      Bytes out(EVP_MAX_MD_SIZE);
      unsigned length = 0;
      REQUIRE(EVP_Digest(data.data(), data.size(), out.data(), &length, md, nullptr));
      out.resize(length);
      CHECK(out == referenceDigest(name, data));
      EVP_MD_free(md);
    }
  // Stopping keyd proves the work was done there: the digest now fails.
  env.keyd().stop();
  EVP_MD* md = EVP_MD_fetch(libctx, "SHA256", "provider=vhsm");
  Bytes out(32);
  unsigned length = 0;
  CHECK_FALSE(EVP_Digest("x", 1, out.data(), &length, md, nullptr));
  EVP_MD_free(md);
  ERR_clear_error();
  env.keyd().start();
}

TEST_CASE("AES-GCM by key reference equals the default provider's") {
  ProviderEnv env;
  auto* libctx = env.libctx();
  for (size_t keyBytes : {16, 32}) {
    auto key = randomBytes(keyBytes);
    std::string id = "aes" + std::to_string(keyBytes * 8);
    env.alice().keyImport(id, KeyType::AES, key);
    for (size_t ivBytes : {1, 12, 16, 64})
      for (size_t size : {0, 1, 16, 1000, 300000})
        for (size_t tagBytes : {8, 16})
          for (size_t piece : {0, 7, 4096}) {
            auto iv = randomBytes(ivBytes), aad = randomBytes(size % 40), pt = randomBytes(size);
            INFO(id << " iv " << ivBytes << " size " << size << " tag " << tagBytes << " piece "
                    << piece);
            auto ref = referenceGcmEncrypt(key, iv, aad, pt, tagBytes);
            auto padded =
                gcmEncrypt(libctx, "provider=vhsm", keyBytes, paddedRef("vhsm:" + id, keyBytes), "",
                           iv, aad, pt, tagBytes, piece);
            REQUIRE(padded.ok);
            CHECK(padded.ciphertext == ref.ciphertext);
            CHECK(padded.tag == ref.tag);
            if (piece != 0) continue;
            auto byParam = gcmEncrypt(libctx, "provider=vhsm", keyBytes, {}, "vhsm:" + id, iv, aad,
                                      pt, tagBytes);
            REQUIRE(byParam.ok);
            CHECK(byParam.ciphertext == ref.ciphertext);
            CHECK(byParam.tag == ref.tag);
            Bytes back;
            CHECK(gcmDecrypt(libctx, keyBytes, {}, "vhsm:" + id, iv, aad, ref.ciphertext, ref.tag,
                             back));
            CHECK(back == pt);
          }
  }
}

TEST_CASE("AES-GCM decryption with a wrong tag fails at EVP_DecryptFinal_ex") {
  ProviderEnv env;
  env.alice().keyGenerate("a1", KeyType::AES);
  auto* libctx = env.libctx();
  auto iv = randomBytes(12), pt = randomBytes(100);
  auto sealed = gcmEncrypt(libctx, "provider=vhsm", 32, {}, "vhsm:a1", iv, {}, pt, 16);
  REQUIRE(sealed.ok);
  Bytes back;
  REQUIRE(gcmDecrypt(libctx, 32, paddedRef("vhsm:a1", 32), "", iv, {}, sealed.ciphertext,
                     sealed.tag, back));
  CHECK(back == pt);
  auto bad = sealed.tag;
  bad[3] ^= 1;
  ERR_clear_error();
  CHECK_FALSE(gcmDecrypt(libctx, 32, {}, "vhsm:a1", iv, {}, sealed.ciphertext, bad, back));
  CHECK(lastVhsmReason() == 10);  // tag mismatch
}

TEST_CASE("ordinary keys pass through to the default implementation under the global preference") {
  ProviderEnv env;
  auto* libctx = env.libctx();
  // Fetched with no property query: the preference picks vhsm's implementation...
  EVP_MAC* mac = EVP_MAC_fetch(libctx, "HMAC", nullptr);
  REQUIRE(mac);
  CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_MAC_get0_provider(mac))) == "vhsm");
  EVP_MAC_free(mac);
  // ...which computes ordinary keys in-process, even with keyd gone.
  env.keyd().stop();
  auto key = randomBytes(32), data = randomBytes(500);
  EVP_MAC* hmac = EVP_MAC_fetch(libctx, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  Bytes out(32);
  size_t length = 0;
  REQUIRE(EVP_MAC_init(ctx, key.data(), key.size(), params));
  REQUIRE(EVP_MAC_update(ctx, data.data(), data.size()));
  REQUIRE(EVP_MAC_final(ctx, out.data(), &length, out.size()));
  CHECK(out == referenceHmac("SHA256", key, data));
  // Initialised again with another key and no parameters: the digest stays.
  auto key2 = randomBytes(20);
  REQUIRE(EVP_MAC_init(ctx, key2.data(), key2.size(), nullptr));
  REQUIRE(EVP_MAC_update(ctx, data.data(), data.size()));
  REQUIRE(EVP_MAC_final(ctx, out.data(), &length, out.size()));
  CHECK(out == referenceHmac("SHA256", key2, data));
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
  // EVP_Q_mac (HKDF's extract, so every TLS 1.3 handshake) sets the digest apart from init.
  for (const char* digest : {"SHA1", "SHA384"}) {
    Bytes q(48);
    size_t qLength = 0;
    REQUIRE(EVP_Q_mac(libctx, "HMAC", nullptr, digest, nullptr, key.data(), key.size(), data.data(),
                      data.size(), q.data(), q.size(), &qLength));
    q.resize(qLength);
    CHECK(q == referenceHmac(digest, key, data));
  }

  auto iv = randomBytes(12), pt = randomBytes(16384);
  auto sealed = gcmEncrypt(libctx, nullptr, 32, key, "", iv, {}, pt, 16, 1000);
  REQUIRE(sealed.ok);
  auto ref = referenceGcmEncrypt(key, iv, {}, pt, 16);
  CHECK(sealed.ciphertext == ref.ciphertext);
  CHECK(sealed.tag == ref.tag);
  env.keyd().start();
}

TEST_CASE("the HMAC digest parameter in each form OpenSSL allows, for plain keys and keyd's") {
  ProviderEnv env;
  auto remoteKey = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, remoteKey);
  auto* libctx = env.libctx();
  auto plainKey = randomBytes(24), data = randomBytes(300);
  std::string ref = "vhsm:k1";
  auto keyRef = reinterpret_cast<const unsigned char*>(ref.data());
  EVP_MAC* hmac = EVP_MAC_fetch(libctx, "HMAC", nullptr);
  auto macOf = [&](EVP_MAC_CTX* ctx) {
    Bytes out(64);
    size_t length = 0;
    REQUIRE(EVP_MAC_update(ctx, data.data(), data.size()));
    REQUIRE(EVP_MAC_final(ctx, out.data(), &length, out.size()));
    out.resize(length);
    return out;
  };

  // A string whose parameter size is its buffer's, not the name's.
  char inBuffer[64] = "SHA256";
  OSSL_PARAM string[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, inBuffer, sizeof inBuffer),
      OSSL_PARAM_construct_end()};
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
  REQUIRE(EVP_MAC_init(ctx, plainKey.data(), plainKey.size(), string));
  CHECK(macOf(ctx) == referenceHmac("SHA256", plainKey, data));
  // The same context with a key reference and no parameters: keyd uses the digest set before.
  REQUIRE(EVP_MAC_init(ctx, keyRef, ref.size(), nullptr));
  CHECK(macOf(ctx) == referenceHmac("SHA256", remoteKey, data));
  EVP_MAC_CTX_free(ctx);

  // A pointer to the name: keyd's HMAC takes it; a plain key gets the default HMAC's verdict.
  char* name = const_cast<char*>("SHA384");
  OSSL_PARAM pointer[] = {OSSL_PARAM_construct_utf8_ptr(OSSL_MAC_PARAM_DIGEST, &name, 0),
                          OSSL_PARAM_construct_end()};
  ctx = EVP_MAC_CTX_new(hmac);
  REQUIRE(EVP_MAC_init(ctx, keyRef, ref.size(), pointer));
  CHECK(macOf(ctx) == referenceHmac("SHA384", remoteKey, data));
  EVP_MAC_CTX_free(ctx);
  EVP_MAC* defaultHmac = EVP_MAC_fetch(nullptr, "HMAC", "provider=default");
  EVP_MAC_CTX* reference = EVP_MAC_CTX_new(defaultHmac);
  ctx = EVP_MAC_CTX_new(hmac);
  CHECK(EVP_MAC_init(ctx, plainKey.data(), plainKey.size(), pointer) ==
        EVP_MAC_init(reference, plainKey.data(), plainKey.size(), pointer));
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_CTX_free(reference);
  EVP_MAC_free(defaultHmac);

  // A name longer than any digest's is refused with the reason.
  std::string longName(80, 'X');
  OSSL_PARAM tooLong[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, longName.data(), 0),
      OSSL_PARAM_construct_end()};
  ctx = EVP_MAC_CTX_new(hmac);
  ERR_clear_error();
  CHECK_FALSE(EVP_MAC_init(ctx, plainKey.data(), plainKey.size(), tooLong));
  CHECK(lastVhsmReason() == 12);  // invalid parameter
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
}

TEST_CASE("copied contexts give independent, correct results") {
  ProviderEnv env;
  auto key = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  auto* libctx = env.libctx();
  for (size_t prefixSize : {size_t(10), size_t(400000)}) {
    auto prefix = randomBytes(prefixSize), tailA = randomBytes(100), tailB = randomBytes(300000);
    EVP_MAC* mac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
    EVP_MAC_CTX* a = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    std::string ref = "vhsm:k1";
    REQUIRE(
        EVP_MAC_init(a, reinterpret_cast<const unsigned char*>(ref.data()), ref.size(), params));
    REQUIRE(EVP_MAC_update(a, prefix.data(), prefix.size()));
    EVP_MAC_CTX* b = EVP_MAC_CTX_dup(a);
    REQUIRE(b);
    REQUIRE(EVP_MAC_update(a, tailA.data(), tailA.size()));
    REQUIRE(EVP_MAC_update(b, tailB.data(), tailB.size()));
    Bytes outA(32), outB(32);
    size_t n;
    REQUIRE(EVP_MAC_final(a, outA.data(), &n, 32));
    REQUIRE(EVP_MAC_final(b, outB.data(), &n, 32));
    auto whole = [&](const Bytes& tail) {
      Bytes all = prefix;
      all.insert(all.end(), tail.begin(), tail.end());
      return all;
    };
    CHECK(outA == referenceHmac("SHA256", key, whole(tailA)));
    CHECK(outB == referenceHmac("SHA256", key, whole(tailB)));
    EVP_MAC_CTX_free(a);
    EVP_MAC_CTX_free(b);
    EVP_MAC_free(mac);

    EVP_MD* md = EVP_MD_fetch(libctx, "SHA512", "provider=vhsm");
    EVP_MD_CTX* x = EVP_MD_CTX_new();
    EVP_MD_CTX* y = EVP_MD_CTX_new();
    REQUIRE(EVP_DigestInit_ex2(x, md, nullptr));
    REQUIRE(EVP_DigestUpdate(x, prefix.data(), prefix.size()));
    REQUIRE(EVP_MD_CTX_copy_ex(y, x));
    REQUIRE(EVP_DigestUpdate(x, tailA.data(), tailA.size()));
    REQUIRE(EVP_DigestUpdate(y, tailB.data(), tailB.size()));
    Bytes dx(64), dy(64);
    unsigned len;
    REQUIRE(EVP_DigestFinal_ex(x, dx.data(), &len));
    REQUIRE(EVP_DigestFinal_ex(y, dy.data(), &len));
    CHECK(dx == referenceDigest("SHA512", whole(tailA)));
    CHECK(dy == referenceDigest("SHA512", whole(tailB)));
    EVP_MD_CTX_free(x);
    EVP_MD_CTX_free(y);
    EVP_MD_free(md);
  }
}

TEST_CASE("a vhsm signing context copied halfway signs both messages and names its algorithm") {
  ProviderEnv env;
  env.alice().keyGenerate("p256", KeyType::EC_P256);
  auto* libctx = env.libctx();
  OSSL_STORE_CTX* store =
      OSSL_STORE_open_ex("vhsm:p256", libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  REQUIRE(store);
  EVP_PKEY* pkey = nullptr;
  while (!pkey && !OSSL_STORE_eof(store))
    if (OSSL_STORE_INFO* info = OSSL_STORE_load(store)) {
      if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
        pkey = OSSL_STORE_INFO_get1_PKEY(info);
      OSSL_STORE_INFO_free(info);
    }
  OSSL_STORE_close(store);
  REQUIRE(pkey);
  // The public half, as a peer without vhsm holds it (the default provider's key).
  unsigned char* der = nullptr;
  int derLength = i2d_PUBKEY(pkey, &der);
  REQUIRE(derLength > 0);
  const unsigned char* cursor = der;
  EVP_PKEY* peer = d2i_PUBKEY(nullptr, &cursor, derLength);
  OPENSSL_free(der);
  REQUIRE(peer);

  auto prefix = randomBytes(1000), tailA = randomBytes(10), tailB = randomBytes(300);
  EVP_MD_CTX* a = EVP_MD_CTX_new();
  EVP_MD_CTX* b = EVP_MD_CTX_new();
  EVP_PKEY_CTX* signing = nullptr;
  REQUIRE(EVP_DigestSignInit_ex(a, &signing, "SHA384", libctx, nullptr, pkey, nullptr) == 1);
  REQUIRE(EVP_DigestSignUpdate(a, prefix.data(), prefix.size()));
  REQUIRE(EVP_MD_CTX_copy_ex(b, a));
  REQUIRE(EVP_DigestSignUpdate(a, tailA.data(), tailA.size()));
  REQUIRE(EVP_DigestSignUpdate(b, tailB.data(), tailB.size()));
  Bytes sigA(128), sigB(128);
  size_t lengthA = sigA.size(), lengthB = sigB.size();
  REQUIRE(EVP_DigestSignFinal(a, sigA.data(), &lengthA));
  REQUIRE(EVP_DigestSignFinal(b, sigB.data(), &lengthB));
  auto verifies = [&](const Bytes& sig, size_t length, const Bytes& tail) {
    Bytes message = prefix;
    message.insert(message.end(), tail.begin(), tail.end());
    EVP_MD_CTX* v = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit_ex(v, nullptr, "SHA384", nullptr, nullptr, peer, nullptr) == 1 &&
              EVP_DigestVerify(v, sig.data(), length, message.data(), message.size()) == 1;
    EVP_MD_CTX_free(v);
    return ok;
  };
  CHECK(verifies(sigA, lengthA, tailA));
  CHECK(verifies(sigB, lengthB, tailB));
  CHECK_FALSE(verifies(sigA, lengthA, tailB));
  // What a certificate's signatureAlgorithm needs: ecdsa-with-SHA384.
  unsigned char algorithmId[64];
  OSSL_PARAM query[] = {OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID,
                                                          algorithmId, sizeof algorithmId),
                        OSSL_PARAM_construct_end()};
  REQUIRE(EVP_PKEY_CTX_get_params(signing, query));
  CHECK(toHex(Bytes(algorithmId, algorithmId + query[0].return_size)) ==
        "300a06082a8648ce3d040303");
  EVP_MD_CTX_free(a);
  EVP_MD_CTX_free(b);
  EVP_PKEY_free(peer);
  EVP_PKEY_free(pkey);
}

TEST_CASE("errors reach the OpenSSL error queue with specific reasons") {
  ProviderEnv env;
  env.alice().keyGenerate("a1", KeyType::AES);
  auto* libctx = env.libctx();
  ERR_clear_error();
  CHECK(vhsmMac(libctx, "SHA1", "vhsm:missing", bytesOf("x"), false).empty());
  CHECK(lastVhsmReason() == 4);  // unknown key
  CHECK(vhsmMac(libctx, "SHA1", "vhsm:a1", bytesOf("x"), false).empty());
  CHECK(lastVhsmReason() == 17);  // key usage not permitted
  CHECK(vhsmMac(libctx, "SHA1", "vhsm:bad id!", bytesOf("x"), false).empty());
  CHECK(lastVhsmReason() == 11);  // invalid key reference

  ProviderOptions noPassword;
  noPassword.withPassword = false;
  ProviderEnv locked(noPassword);
  CHECK(vhsmMac(locked.libctx(), "SHA1", "vhsm:k", bytesOf("x"), false).empty());
  CHECK(lastVhsmReason() == 8);  // not unlocked

  // keyd unreachable: a prompt failure, not a hang.
  env.keyd().stop();
  OSSL_LIB_CTX* fresh = OSSL_LIB_CTX_new();
  auto cnf = env.writeConfig({}, "/nonexistent/keyd.sock");
  REQUIRE(OSSL_LIB_CTX_load_config(fresh, cnf.c_str()));
  auto start = std::chrono::steady_clock::now();
  CHECK(vhsmMac(fresh, "SHA1", "vhsm:a1", bytesOf("x"), false).empty());
  CHECK(lastVhsmReason() == 1);  // unreachable
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  OSSL_LIB_CTX_free(fresh);
  env.keyd().start();
}

TEST_CASE("with an unlock, no password is configured in the client at all") {
  ProviderOptions noPassword;
  noPassword.withPassword = false;
  ProviderEnv env(noPassword);
  auto key = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  env.keyd().root()->unlock("alice", ProviderEnv::kPassword, "host", 60);
  auto data = bytesOf("no password here");
  CHECK(vhsmMac(env.libctx(), "SHA256", "vhsm:k1", data, false) ==
        referenceHmac("SHA256", key, data));
}

TEST_CASE("the provider works after fork in parent and child, from threads, across restarts") {
  ProviderEnv env;
  auto key = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  auto* libctx = env.libctx();
  auto data = bytesOf("shared");
  auto expected = referenceHmac("SHA1", key, data);
  REQUIRE(vhsmMac(libctx, "SHA1", "vhsm:k1", data, false) == expected);
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = true;
    for (int i = 0; i < 20; ++i) ok &= vhsmMac(libctx, "SHA1", "vhsm:k1", data, false) == expected;
    _exit(ok ? 0 : 1);
  }
  for (int i = 0; i < 20; ++i) CHECK(vhsmMac(libctx, "SHA1", "vhsm:k1", data, false) == expected);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto d = randomBytes(64);
        if (vhsmMac(libctx, "SHA256", "vhsm:k1", d, false) != referenceHmac("SHA256", key, d))
          ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);

  env.keyd().stop();
  env.keyd().start();
  CHECK(vhsmMac(libctx, "SHA1", "vhsm:k1", data, false) == expected);
}

TEST_CASE("the key's bytes never appear in the memory of a process using it") {
  ProviderEnv env;
  Bytes hmacKey, aesKey;
  for (int i = 0; i < 32; ++i) {
    hmacKey.push_back(uint8_t(0x31 + i * 5));
    aesKey.push_back(uint8_t(0xe1 ^ (i * 11)));
  }
  env.alice().keyImport("h", KeyType::HMAC, hmacKey);
  env.alice().keyImport("a", KeyType::AES, aesKey);
  // A freshly exec'd program (nothing inherited from this test) uses both keys through the
  // provider, then waits while its memory is searched.
  int toChild[2], fromChild[2];
  REQUIRE(pipe(toChild) == 0);
  REQUIRE(pipe(fromChild) == 0);
  std::string config = "OPENSSL_CONF=" + env.config();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(toChild[0], 0);
    dup2(fromChild[1], 1);
    putenv(config.data());
    execl(EVP_USER_BINARY, EVP_USER_BINARY, "vhsm:h", "vhsm:a", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(toChild[0]);
  close(fromChild[1]);
  char c = 0;
  REQUIRE(read(fromChild[0], &c, 1) == 1);
  CHECK(c == 'y');
  auto scan = scanProcessMemory(pid, {Bytes(hmacKey.begin(), hmacKey.begin() + 16),
                                      Bytes(aesKey.begin(), aesKey.begin() + 16)});
  [[maybe_unused]] auto w = write(toChild[1], "x", 1);
  close(toChild[1]);
  close(fromChild[0]);
  waitpid(pid, nullptr, 0);
  CHECK(scan.scannedBytes > 1000000);
  CHECK_FALSE(scan.found[0]);
  CHECK_FALSE(scan.found[1]);
}

TEST_CASE("a cipher context copied mid-message gives an independent, correct result") {
  ProviderEnv env;
  auto key = randomBytes(32);
  env.alice().keyImport("a1", KeyType::AES, key);
  auto* libctx = env.libctx();
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* a = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* b = EVP_CIPHER_CTX_new();
  auto iv = randomBytes(12), aad = randomBytes(20), ptA = randomBytes(100), ptB = randomBytes(3000);
  auto ref = paddedRef("vhsm:a1", 32);
  REQUIRE(EVP_EncryptInit_ex2(a, cipher, ref.data(), iv.data(), nullptr));
  int n = 0;
  REQUIRE(EVP_EncryptUpdate(a, nullptr, &n, aad.data(), int(aad.size())));
  // Some data first, so the copy is of a cipher already running in keyd.
  auto head = randomBytes(500);
  Bytes headOut(head.size());
  REQUIRE(EVP_EncryptUpdate(a, headOut.data(), &n, head.data(), int(head.size())));
  REQUIRE(EVP_CIPHER_CTX_copy(b, a));
  auto run = [&](EVP_CIPHER_CTX* ctx, const Bytes& pt) {
    Sealed out;
    out.ciphertext.resize(pt.size());
    out.tag.resize(16);
    int len = 0;
    REQUIRE(EVP_EncryptUpdate(ctx, out.ciphertext.data(), &len, pt.data(), int(pt.size())));
    REQUIRE(EVP_EncryptFinal_ex(ctx, out.ciphertext.data() + len, &len));
    REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.tag.data()));
    return out;
  };
  auto outA = run(a, ptA), outB = run(b, ptB);
  auto joined = [&](const Bytes& first, const Bytes& second) {
    Bytes all = first;
    all.insert(all.end(), second.begin(), second.end());
    return all;
  };
  auto refA = referenceGcmEncrypt(key, iv, aad, joined(head, ptA));
  auto refB = referenceGcmEncrypt(key, iv, aad, joined(head, ptB));
  CHECK(joined(headOut, outA.ciphertext) == refA.ciphertext);
  CHECK(outA.tag == refA.tag);
  CHECK(joined(headOut, outB.ciphertext) == refB.ciphertext);
  CHECK(outB.tag == refB.tag);
  EVP_CIPHER_CTX_free(a);
  EVP_CIPHER_CTX_free(b);
  EVP_CIPHER_free(cipher);
}

TEST_CASE("a process logs in once, however many operations it makes") {
  ProviderEnv env;
  env.alice().keyGenerate("k1", KeyType::HMAC);
  auto countLogins = [&] {
    size_t logins = 0;
    for (const auto& r : env.keyd().root()->auditList())
      logins += r.action == "login" && r.target == "alice" && r.result == ErrorCode::OK;
    return logins;
  };
  size_t before = countLogins();
  auto* libctx = env.libctx();
  for (int i = 0; i < 30; ++i)
    REQUIRE_FALSE(vhsmMac(libctx, "SHA256", "vhsm:k1", randomBytes(10), false).empty());
  CHECK(countLogins() == before + 1);
}

TEST_CASE("the provider is refused from a container the user is not bound to") {
  ProviderEnv env;  // alice is bound to the host only
  env.alice().keyGenerate("k1", KeyType::HMAC);
  std::string config = env.config();
  int reason = inNewNetns([&] {
    OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
    OSSL_LIB_CTX_load_config(ctx, config.c_str());
    bool computed = !vhsmMac(ctx, "SHA256", "vhsm:k1", bytesOf("x"), false).empty();
    int r = computed ? 0 : lastVhsmReason();
    OSSL_LIB_CTX_free(ctx);
    return r;
  });
  CHECK(reason == 6);  // container not allowed
}

TEST_CASE("GCM specification test cases hold through the provider with keys imported into keyd") {
  ProviderEnv env;
  auto* libctx = env.libctx();
  struct Case {
    const char *key, *iv, *aad, *plaintext, *ciphertext, *tag;
  };
  const char* p60 =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39";
  const Case cases[] = {
      // Test case 4 (AES-128), 16 (AES-256): 60-byte plaintext with AAD
      {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
       "feedfacedeadbeeffeedfacedeadbeefabaddad2", p60,
       "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
       "ac84aa051ba30b396a0aac973d58e091",
       "5bc94fbc3221a5db94fae95ae7121a47"},
      {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
       "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", p60,
       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
       "56828838c5f61e6393ba7a0abcc9f662",
       "76fc6ece0f4e1768cddf8853bb2d551b"},
      // Test case 5: an 8-byte IV
      {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbad",
       "feedfacedeadbeeffeedfacedeadbeefabaddad2", p60,
       "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544"
       "d4896b424989b5e1ebac0f07c23f4598",
       "3612d2e79e3b0785561be14aaca2fccb"},
  };
  int n = 0;
  for (const auto& c : cases) {
    auto key = fromHex(c.key);
    std::string id = "nist" + std::to_string(++n);
    env.alice().keyImport(id, KeyType::AES, key);
    auto sealed = gcmEncrypt(libctx, "provider=vhsm", key.size(), {}, "vhsm:" + id, fromHex(c.iv),
                             fromHex(c.aad), fromHex(c.plaintext), 16);
    REQUIRE(sealed.ok);
    CHECK(toHex(sealed.ciphertext) == c.ciphertext);
    CHECK(toHex(sealed.tag) == c.tag);
    Bytes back;
    CHECK(gcmDecrypt(libctx, key.size(), {}, "vhsm:" + id, fromHex(c.iv), fromHex(c.aad),
                     fromHex(c.ciphertext), fromHex(c.tag), back));
    CHECK(toHex(back) == c.plaintext);
  }
}

namespace {

// One scripted use of an AES-256-GCM context, the same for the default provider with the key
// bytes and for vhsm with the reference: what each step returned, and the ciphertexts.
struct GcmScript {
  std::vector<int> results;
  std::vector<Bytes> outputs;
};

GcmScript runGcmScript(OSSL_LIB_CTX* libctx, const char* properties, const Bytes& key) {
  GcmScript s;
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", properties);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  Bytes iv1(12, 1), iv2(12, 2), data = bytesOf("one message under one IV"), out(64);
  int n = 0;
  auto encrypt = [&] {
    bool ok = EVP_EncryptUpdate(c, out.data(), &n, data.data(), int(data.size())) == 1;
    ok = ok && EVP_EncryptFinal_ex(c, out.data() + n, &n) == 1;
    s.results.push_back(ok);
    if (ok) s.outputs.emplace_back(out.begin(), out.begin() + long(data.size()));
    ERR_clear_error();
  };
  s.results.push_back(EVP_EncryptInit_ex2(c, cipher, key.data(), iv1.data(), nullptr));
  encrypt();
  // Re-initialised without an IV: the old IV must not encrypt a second message.
  s.results.push_back(EVP_EncryptInit_ex2(c, nullptr, nullptr, nullptr, nullptr));
  encrypt();
  // ... nor with the key alone.
  s.results.push_back(EVP_EncryptInit_ex2(c, nullptr, key.data(), nullptr, nullptr));
  encrypt();
  // A new IV makes it usable again.
  s.results.push_back(EVP_EncryptInit_ex2(c, nullptr, nullptr, iv2.data(), nullptr));
  encrypt();
  // A changed IV length voids the IV until a new one is given.
  s.results.push_back(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 16, nullptr));
  s.results.push_back(EVP_EncryptInit_ex2(c, nullptr, nullptr, nullptr, nullptr));
  encrypt();
  EVP_CIPHER_CTX_free(c);
  EVP_CIPHER_free(cipher);
  return s;
}

}  // namespace

TEST_CASE("AES-GCM IV rules equal the default provider's: one IV, one message") {
  ProviderEnv env;
  auto key = randomBytes(32);
  env.alice().keyImport("g1", KeyType::AES, key);
  auto* libctx = env.libctx();
  auto reference = runGcmScript(libctx, "provider=default", key);
  auto vhsm = runGcmScript(libctx, "provider=vhsm", paddedRef("vhsm:g1", 32));
  CHECK(vhsm.results == reference.results);
  CHECK(vhsm.outputs == reference.outputs);
  // The script's expectations, so that a change in both cannot pass unnoticed.
  CHECK(reference.results == std::vector<int>{1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0});
  REQUIRE(reference.outputs.size() == 2);

  // TLS 1.2's record-layer IV handling is refused for a key in keyd, not ignored.
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  auto ref = paddedRef("vhsm:g1", 32);
  REQUIRE(EVP_EncryptInit_ex2(c, cipher, ref.data(), nullptr, nullptr) == 1);
  unsigned char fixed[4] = {1, 2, 3, 4};
  CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IV_FIXED, 4, fixed) <= 0);
  unsigned char generated[12];
  CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_IV_GEN, 12, generated) <= 0);
  ERR_clear_error();
  EVP_CIPHER_CTX_free(c);
  EVP_CIPHER_free(cipher);
}

TEST_CASE("a vhsm key's public half exports to another provider's key management") {
  // Through its key management: EVP_PKEY_todata and a match against the default provider's
  // copy of the public key. The store's export_object declines (asymmetric_key.hpp), so that a
  // program asking for a private key never gets a public one.
  ProviderEnv env;
  auto reference = referenceKey("P-256");
  env.alice().keyImport("ec1", KeyType::EC_P256,
                        Bytes(reference.privatePem.begin(), reference.privatePem.end()));
  auto* libctx = env.libctx();
  OSSL_STORE_CTX* store =
      OSSL_STORE_open_ex("vhsm:ec1", libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  REQUIRE(store);
  EVP_PKEY* pkey = nullptr;
  while (!pkey && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
      pkey = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  REQUIRE(pkey);
  CHECK(std::string(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey))) == "vhsm");
  OSSL_PARAM* params = nullptr;
  REQUIRE(EVP_PKEY_todata(pkey, EVP_PKEY_PUBLIC_KEY, &params) == 1);
  CHECK(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY) != nullptr);
  OSSL_PARAM_free(params);
  params = nullptr;
  CHECK(EVP_PKEY_todata(pkey, EVP_PKEY_KEYPAIR, &params) != 1);  // no private part leaves
  OSSL_PARAM_free(params);
  ERR_clear_error();
  const unsigned char* der = reference.publicDer.data();
  EVP_PKEY* expected = d2i_PUBKEY(nullptr, &der, long(reference.publicDer.size()));
  REQUIRE(expected);
  CHECK(EVP_PKEY_eq(pkey, expected) == 1);  // the same public key, across providers
  EVP_PKEY_free(expected);
  EVP_PKEY_free(pkey);
}
