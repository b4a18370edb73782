#include "hash_names.hpp"

#include <openssl/evp.h>

namespace vhsm::provider {

std::optional<HashInfo> hashInfo(OSSL_LIB_CTX* libctx, const char* name) {
  EVP_MD* md = EVP_MD_fetch(libctx, name, nullptr);
  if (!md) return std::nullopt;
  std::optional<HashInfo> info;
  const std::pair<const char*, HashAlgorithm> known[] = {{"SHA1", HashAlgorithm::SHA1},
                                                         {"SHA2-256", HashAlgorithm::SHA256},
                                                         {"SHA2-384", HashAlgorithm::SHA384},
                                                         {"SHA2-512", HashAlgorithm::SHA512}};
  for (auto [canonical, algorithm] : known)
    if (EVP_MD_is_a(md, canonical))
      info = HashInfo{algorithm, size_t(EVP_MD_get_size(md)), size_t(EVP_MD_get_block_size(md))};
  EVP_MD_free(md);
  return info;
}

}  // namespace vhsm::provider
