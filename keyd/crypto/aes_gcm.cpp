#include "keyd/crypto/aes_gcm.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <mutex>

#include "keyd/base/secure_memory.hpp"
#include "keyd/crypto/crypto_error.hpp"
#include "keyd/crypto/openssl_context.hpp"

namespace vhsm::keyd {
namespace {

// Fetched once: a fetch per operation would cost more than the operation.
struct Engine {
  Engine() {
    aes128 = EVP_CIPHER_fetch(opensslContext(), "AES-128-GCM", nullptr);
    aes192 = EVP_CIPHER_fetch(opensslContext(), "AES-192-GCM", nullptr);
    aes256 = EVP_CIPHER_fetch(opensslContext(), "AES-256-GCM", nullptr);
  }
  ~Engine() {
    EVP_CIPHER_free(aes128);
    EVP_CIPHER_free(aes192);
    EVP_CIPHER_free(aes256);
  }
  EVP_CIPHER *aes128, *aes192, *aes256;
};

const Engine& engine() {
  static const Engine instance;
  return instance;
}

[[noreturn]] void failed(const char* what) {
  throw CryptoError(CryptoError::Kind::internal, std::string("AES-GCM ") + what + " failed");
}

}  // namespace

AesGcm::AesGcm(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv) {
  const auto& e = engine();
  EVP_CIPHER* cipher = key.size() == 16   ? e.aes128
                       : key.size() == 24 ? e.aes192
                       : key.size() == 32 ? e.aes256
                                          : nullptr;
  if (!cipher)
    throw CryptoError(CryptoError::Kind::keyTypeMismatch,
                      "AES-GCM needs a 128, 192 or 256-bit key");
  if (iv.empty() || iv.size() > kMaxGcmIvBytes)
    throw CryptoError(CryptoError::Kind::invalidArgument, "AES-GCM IV must be 1 to 1024 bytes");
  ctx_ = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength),
                         OSSL_PARAM_construct_end()};
  if (!ctx_ || !EVP_CipherInit_ex2(ctx_, cipher, nullptr, nullptr, encrypt, params) ||
      !EVP_CipherInit_ex2(ctx_, nullptr, key.data(), iv.data(), encrypt, nullptr)) {
    EVP_CIPHER_CTX_free(ctx_);
    failed("init");
  }
}

AesGcm::AesGcm(const AesGcm& other) : ctx_(EVP_CIPHER_CTX_new()), dataStarted_(other.dataStarted_) {
  if (!ctx_ || !EVP_CIPHER_CTX_copy(ctx_, other.ctx_)) {
    EVP_CIPHER_CTX_free(ctx_);
    failed("copy");
  }
}

AesGcm::~AesGcm() {
  EVP_CIPHER_CTX_free(ctx_);
}  // cleanses the key schedule

void AesGcm::addAad(std::span<const uint8_t> aad) {
  if (aad.empty()) return;
  if (dataStarted_) throw CryptoError(CryptoError::Kind::invalidArgument, "AES-GCM AAD after data");
  int n = 0;
  if (aad.size() > INT_MAX || !EVP_CipherUpdate(ctx_, nullptr, &n, aad.data(), int(aad.size())))
    failed("AAD");
}

void AesGcm::process(std::span<const uint8_t> in, uint8_t* out) {
  if (in.empty()) return;
  dataStarted_ = true;
  int n = 0;
  if (in.size() > INT_MAX || !EVP_CipherUpdate(ctx_, out, &n, in.data(), int(in.size())))
    failed("update");
}

void AesGcm::checkTagLength(size_t bytes) {
  if (bytes < 1 || bytes > kMaxGcmTagBytes)
    throw CryptoError(CryptoError::Kind::invalidArgument, "AES-GCM tag must be 1 to 16 bytes");
}

void AesGcm::tag(std::span<uint8_t> out) {
  checkTagLength(out.size());
  uint8_t none[16];
  int n = 0;
  if (!EVP_CipherFinal_ex(ctx_, none, &n) ||
      !EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, int(out.size()), out.data()))
    failed("final");
}

void AesGcm::finishDecrypt(std::span<const uint8_t> in, uint8_t* out,
                           std::span<const uint8_t> expectedTag) {
  if (expectedTag.empty())
    throw CryptoError(CryptoError::Kind::invalidArgument,
                      "AES-GCM decryption needs the expected tag");
  checkTagLength(expectedTag.size());
  process(in, out);
  uint8_t none[16];
  int n = 0;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, int(expectedTag.size()),
                          const_cast<uint8_t*>(expectedTag.data())) &&
      EVP_CipherFinal_ex(ctx_, none, &n))
    return;
  wipe(out, in.size());
  throw CryptoError(CryptoError::Kind::tagMismatch,
                    "AES-GCM tag does not match: data is not authentic");
}

}  // namespace vhsm::keyd
