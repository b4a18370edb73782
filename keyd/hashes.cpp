#include "hashes.hpp"

#include <cryptopp/hmac.h>
#include <cryptopp/sha.h>

#include <type_traits>

#include "refusal.hpp"

namespace vhsm::keyd {
namespace {

template <typename Make>
Hasher byAlgorithm(proto::HashAlgorithm algorithm, Make make) {
  switch (algorithm) {
    case proto::HashAlgorithm::SHA1: return make(std::type_identity<CryptoPP::SHA1>{});
    case proto::HashAlgorithm::SHA256: return make(std::type_identity<CryptoPP::SHA256>{});
    case proto::HashAlgorithm::SHA384: return make(std::type_identity<CryptoPP::SHA384>{});
    case proto::HashAlgorithm::SHA512: return make(std::type_identity<CryptoPP::SHA512>{});
  }
  throw Refusal(proto::ErrorCode::UNSUPPORTED_ALGORITHM, "unsupported hash algorithm");
}

}  // namespace

Hasher newDigest(proto::HashAlgorithm algorithm) {
  return byAlgorithm(
      algorithm, []<typename H>(std::type_identity<H>) -> Hasher { return std::make_unique<H>(); });
}

Hasher newHmac(proto::HashAlgorithm algorithm, std::span<const uint8_t> key) {
  return byAlgorithm(algorithm, [key]<typename H>(std::type_identity<H>) -> Hasher {
    return std::make_unique<CryptoPP::HMAC<H>>(key.data(), key.size());
  });
}

}  // namespace vhsm::keyd
