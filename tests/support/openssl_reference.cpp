#include "openssl_reference.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace vhsm::test {

Bytes referenceHmac(const std::string& digest, const Bytes& key, const Bytes& data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", "provider=default");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest.c_str()), 0),
      OSSL_PARAM_construct_end()};
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  if (!EVP_MAC_init(ctx, key.data(), key.size(), params) ||
      !EVP_MAC_update(ctx, data.data(), data.size()) ||
      !EVP_MAC_final(ctx, out.data(), &len, out.size()))
    throw std::runtime_error("reference HMAC failed");
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  out.resize(len);
  return out;
}

Bytes referenceDigest(const std::string& digest, const Bytes& data) {
  EVP_MD* md = EVP_MD_fetch(nullptr, digest.c_str(), "provider=default");
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  if (!EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr))
    throw std::runtime_error("reference digest failed");
  EVP_MD_free(md);
  out.resize(len);
  return out;
}

ReferenceGcm referenceGcmEncrypt(const Bytes& key, const Bytes& iv, const Bytes& aad,
                                 const Bytes& plaintext, size_t tagLength) {
  const char* name = key.size() == 16   ? "AES-128-GCM"
                     : key.size() == 24 ? "AES-192-GCM"
                                        : "AES-256-GCM";
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, "provider=default");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength),
                         OSSL_PARAM_construct_end()};
  ReferenceGcm out;
  out.ciphertext.resize(plaintext.size() + 16);
  out.tag.resize(tagLength);
  int len = 0, total = 0;
  if (!EVP_EncryptInit_ex2(ctx, cipher, nullptr, nullptr, params) ||
      !EVP_EncryptInit_ex2(ctx, nullptr, key.data(), iv.data(), nullptr) ||
      (!aad.empty() && !EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), int(aad.size()))) ||
      !EVP_EncryptUpdate(ctx, out.ciphertext.data(), &len, plaintext.data(), int(plaintext.size())))
    throw std::runtime_error("reference GCM failed");
  total = len;
  if (!EVP_EncryptFinal_ex(ctx, out.ciphertext.data() + total, &len) ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, int(tagLength), out.tag.data()))
    throw std::runtime_error("reference GCM final failed");
  out.ciphertext.resize(size_t(total + len));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

Bytes randomBytes(size_t n) {
  Bytes out(n);
  RAND_bytes(out.data(), int(n));
  return out;
}

}  // namespace vhsm::test
