// The default OpenSSL provider as the reference every vhsm result is compared with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vhsm::test {

using Bytes = std::vector<uint8_t>;

// digest: "SHA1", "SHA256", "SHA384", "SHA512"
Bytes referenceHmac(const std::string& digest, const Bytes& key, const Bytes& data);
Bytes referenceDigest(const std::string& digest, const Bytes& data);
struct ReferenceGcm {
  Bytes ciphertext, tag;
};
ReferenceGcm referenceGcmEncrypt(const Bytes& key, const Bytes& iv, const Bytes& aad,
                                 const Bytes& plaintext, size_t tagLength = 16);
Bytes randomBytes(size_t n);

}  // namespace vhsm::test
