// Allocation failures injected into the provider. This executable replaces operator new, and
// vhsm.so, loaded into it, resolves its own operator new here: the n-th allocation of a call
// throws std::bad_alloc. Every call must then fail cleanly (0 with an error on OpenSSL's queue)
// or succeed with the right answer, nothing may escape into libcrypto or the application, and
// the provider must work again once memory is back. The calls below allocate nothing of their
// own in C++ (libcrypto allocates with malloc), so every failure lands inside vhsm.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>

#include "tests/provider/provider_env.hpp"
#include "tests/support/openssl_reference.hpp"

namespace {
thread_local long failAt = -1;  // the allocation to fail, counted from arming; -1: none
thread_local long allocations = 0;
}  // namespace

// The replacement pair: GCC sees free() paired with operator new and warns, as it should
// anywhere but in the definition of the pair itself.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  if (failAt >= 0 && allocations++ == failAt) throw std::bad_alloc();
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace vhsm;
using namespace vhsm::test;

namespace {

constexpr size_t kOut = 128;  // room for the largest result: 64 B sealed plus its tag
using Call = std::function<bool(unsigned char* out, size_t* length)>;

bool hmacByReference(OSSL_LIB_CTX* libctx, const Bytes& data, unsigned char* out, size_t* length) {
  EVP_MAC* mac = EVP_MAC_fetch(libctx, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  static const char kKey[] = "vhsm:k1";
  bool ok =
      ctx &&
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(kKey), sizeof kKey - 1, params) &&
      EVP_MAC_update(ctx, data.data(), data.size()) && EVP_MAC_final(ctx, out, length, kOut);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok;
}

bool digestInKeyd(OSSL_LIB_CTX* libctx, const Bytes& data, unsigned char* out, size_t* length) {
  EVP_MD* md = EVP_MD_fetch(libctx, "SHA256", "provider=vhsm");
  unsigned int n = 0;
  bool ok = md && EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  *length = n;
  EVP_MD_free(md);
  return ok;
}

bool gcmByReference(OSSL_LIB_CTX* libctx, const Bytes& data, unsigned char* out, size_t* length) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(libctx, "AES-256-GCM", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char key[32] = "vhsm:a1";
  static const unsigned char kIv[12] = {1, 2, 3};
  int n = 0, m = 0;
  bool ok = cipher && ctx && EVP_EncryptInit_ex2(ctx, cipher, key, kIv, nullptr) &&
            EVP_EncryptUpdate(ctx, out, &n, data.data(), int(data.size())) &&
            EVP_EncryptFinal_ex(ctx, out + n, &m) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + n + m);
  *length = size_t(n + m) + 16;
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return ok;
}

// Ed25519 signs deterministically, so every successful call must give the same bytes.
bool signByReference(OSSL_LIB_CTX* libctx, const Bytes& data, unsigned char* out, size_t* length) {
  OSSL_STORE_CTX* store =
      OSSL_STORE_open_ex("vhsm:ed1", libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  EVP_PKEY* pkey = nullptr;
  while (store && !pkey && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (!info) break;
    if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
      pkey = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  *length = kOut;
  bool ok = pkey && ctx &&
            EVP_DigestSignInit_ex(ctx, nullptr, nullptr, libctx, nullptr, pkey, nullptr) &&
            EVP_DigestSign(ctx, out, length, data.data(), data.size());
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

// Fails each allocation of the call in turn, until a run of the call allocates no more than
// the ones already tried. Returns how many failures were injected.
long injectEach(const Call& call, const Bytes& expected) {
  long injected = 0;
  for (long n = 0;; ++n) {
    unsigned char out[kOut];
    size_t length = 0;
    ERR_clear_error();
    allocations = 0;
    failAt = n;
    bool ok = false, escaped = false;
    try {
      ok = call(out, &length);
    } catch (...) {
      escaped = true;
    }
    bool reached = allocations > n;
    failAt = -1;
    INFO("allocation " << n << " failed: " << reached);
    REQUIRE_FALSE(escaped);
    if (ok) CHECK(Bytes(out, out + length) == expected);
    if (!reached) {
      CHECK(ok);  // nothing failed: the call must work
      return injected;
    }
    ++injected;
    if (!ok) CHECK(ERR_peek_error() != 0);
  }
}

}  // namespace

TEST_CASE("an allocation failure anywhere inside the provider fails that call cleanly") {
  ProviderEnv env;
  auto hmacKey = randomBytes(32), aesKey = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, hmacKey);
  env.alice().keyImport("a1", KeyType::AES, aesKey);
  auto ed = referenceKey("ED25519");
  env.alice().keyImport("ed1", KeyType::ED25519, Bytes(ed.privatePem.begin(), ed.privatePem.end()));
  auto* libctx = env.libctx();
  auto data = randomBytes(64);
  static const unsigned char kIv[12] = {1, 2, 3};
  auto gcm = referenceGcmEncrypt(aesKey, Bytes(kIv, kIv + 12), {}, data);
  Bytes sealed = gcm.ciphertext;
  sealed.insert(sealed.end(), gcm.tag.begin(), gcm.tag.end());
  unsigned char signature[kOut];
  size_t signatureLength = 0;
  REQUIRE(signByReference(libctx, data, signature, &signatureLength));
  REQUIRE(referenceVerify(ed.publicDer, {}, data, Bytes(signature, signature + signatureLength)));

  struct Case {
    const char* name;
    Call call;
    Bytes expected;
  };
  using namespace std::placeholders;
  Case cases[] = {
      {"HMAC-SHA256 by reference", std::bind(hmacByReference, libctx, data, _1, _2),
       referenceHmac("SHA256", hmacKey, data)},
      {"SHA-256 in keyd", std::bind(digestInKeyd, libctx, data, _1, _2),
       referenceDigest("SHA256", data)},
      {"AES-256-GCM by reference", std::bind(gcmByReference, libctx, data, _1, _2), sealed},
      {"Ed25519 from the key store", std::bind(signByReference, libctx, data, _1, _2),
       Bytes(signature, signature + signatureLength)},
  };
  for (auto& c : cases) {
    INFO(c.name);
    CHECK(injectEach(c.call, c.expected) > 0);
    // Memory is back: the provider works as before.
    unsigned char out[kOut];
    size_t length = 0;
    REQUIRE(c.call(out, &length));
    CHECK(Bytes(out, out + length) == c.expected);
  }
}
