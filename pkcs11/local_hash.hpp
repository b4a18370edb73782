// A digest computed in this process with OpenSSL: for C_Digest, and for the messages of the
// hash-and-sign mechanisms (CKM_ECDSA_SHA256, ...), whose digest alone goes to keyd to be
// signed. The data is the caller's; no key is involved.
#pragma once

#include <openssl/evp.h>

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

class LocalHash {
 public:
  explicit LocalHash(const char* name);  // "SHA224", "SHA256", ...
  ~LocalHash();
  LocalHash(const LocalHash&) = delete;
  LocalHash& operator=(const LocalHash&) = delete;
  size_t size() const;
  void update(ByteView data);
  Bytes final();

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

}  // namespace vhsm::pkcs11
