#include "pkcs11/local_hash.hpp"

#include <new>

namespace vhsm::pkcs11 {

LocalHash::LocalHash(const char* name)
    : md_(EVP_MD_fetch(nullptr, name, nullptr)), ctx_(EVP_MD_CTX_new()) {
  if (!md_ || !ctx_ || !EVP_DigestInit_ex2(ctx_, md_, nullptr)) {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
    throw std::bad_alloc();
  }
}

LocalHash::~LocalHash() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

size_t LocalHash::size() const {
  return size_t(EVP_MD_get_size(md_));
}

void LocalHash::update(ByteView data) {
  if (!EVP_DigestUpdate(ctx_, data.data(), data.size())) throw std::bad_alloc();
}

Bytes LocalHash::final() {
  Bytes out(size());
  unsigned int length = 0;
  if (!EVP_DigestFinal_ex(ctx_, out.data(), &length)) throw std::bad_alloc();
  return out;
}

}  // namespace vhsm::pkcs11
