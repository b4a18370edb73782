#include "provider/hash_names.hpp"

#include <strings.h>

namespace vhsm::provider {

// The names OpenSSL's default provider gives these digests; matched without a fetch, since
// this runs for every HMAC.
std::optional<HashInfo> hashInfo(const char* name) {
  struct Known {
    const char* names[4];
    HashInfo info;
  };
  static const Known known[] = {
      {{"SHA1", "SHA-1", "SSL3-SHA1", "1.3.14.3.2.26"}, {HashAlgorithm::SHA1, 20, 64}},
      {{"SHA2-256", "SHA-256", "SHA256", "2.16.840.1.101.3.4.2.1"},
       {HashAlgorithm::SHA256, 32, 64}},
      {{"SHA2-384", "SHA-384", "SHA384", "2.16.840.1.101.3.4.2.2"},
       {HashAlgorithm::SHA384, 48, 128}},
      {{"SHA2-512", "SHA-512", "SHA512", "2.16.840.1.101.3.4.2.3"},
       {HashAlgorithm::SHA512, 64, 128}}};
  if (!name) return std::nullopt;
  for (const auto& k : known)
    for (const char* alias : k.names)
      if (strcasecmp(alias, name) == 0) return k.info;
  return std::nullopt;
}

const char* hashName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::SHA1: return "SHA1";
    case HashAlgorithm::SHA256: return "SHA2-256";
    case HashAlgorithm::SHA384: return "SHA2-384";
    case HashAlgorithm::SHA512: return "SHA2-512";
  }
  return "";
}

}  // namespace vhsm::provider
