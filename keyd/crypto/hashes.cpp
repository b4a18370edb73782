#include "keyd/crypto/hashes.hpp"

#include <cryptopp/hmac.h>
#include <cryptopp/sha.h>

#include <type_traits>

#include "keyd/crypto/crypto_error.hpp"

namespace vhsm::keyd {
namespace {

template <typename Make>
Hasher byAlgorithm(HashAlgorithm algorithm, Make make) {
  switch (algorithm) {
    case HashAlgorithm::SHA1: return make(std::type_identity<CryptoPP::SHA1>{});
    case HashAlgorithm::SHA256: return make(std::type_identity<CryptoPP::SHA256>{});
    case HashAlgorithm::SHA384: return make(std::type_identity<CryptoPP::SHA384>{});
    case HashAlgorithm::SHA512: return make(std::type_identity<CryptoPP::SHA512>{});
  }
  throw CryptoError(CryptoError::Kind::unsupportedAlgorithm, "unsupported hash algorithm");
}

}  // namespace

Hasher newDigest(HashAlgorithm algorithm) {
  return byAlgorithm(
      algorithm, []<typename H>(std::type_identity<H>) -> Hasher { return std::make_unique<H>(); });
}

Hasher newHmac(HashAlgorithm algorithm, std::span<const uint8_t> key) {
  return byAlgorithm(algorithm, [key]<typename H>(std::type_identity<H>) -> Hasher {
    return std::make_unique<CryptoPP::HMAC<H>>(key.data(), key.size());
  });
}

namespace {

template <typename T>
bool copyIf(const CryptoPP::HashTransformation& hasher, Hasher& out) {
  auto* typed = dynamic_cast<const T*>(&hasher);
  if (typed) out = std::make_unique<T>(*typed);
  return typed;
}

template <typename... Types>
Hasher copyAs(const CryptoPP::HashTransformation& hasher) {
  Hasher out;
  if (!(copyIf<Types>(hasher, out) || ...))
    throw CryptoError(CryptoError::Kind::internal, "cannot copy this hash state");
  return out;
}

}  // namespace

Hasher cloneHasher(const CryptoPP::HashTransformation& hasher) {
  using namespace CryptoPP;
  return copyAs<SHA1, SHA256, SHA384, SHA512, HMAC<SHA1>, HMAC<SHA256>, HMAC<SHA384>, HMAC<SHA512>>(
      hasher);
}

}  // namespace vhsm::keyd
