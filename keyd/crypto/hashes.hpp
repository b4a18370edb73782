// Digests and HMACs (SHA-1, SHA-256, SHA-384, SHA-512) on Crypto++. Both are a
// CryptoPP::HashTransformation: Update(...) then TruncatedFinal(...).
#pragma once

#include <cryptopp/cryptlib.h>

#include <memory>
#include <span>

#include <vhsm/types.hpp>

namespace vhsm::keyd {

using Hasher = std::unique_ptr<CryptoPP::HashTransformation>;

Hasher newDigest(HashAlgorithm algorithm);
// HMAC keys of any length, as RFC 2104 allows (long keys are hashed first).
Hasher newHmac(HashAlgorithm algorithm, std::span<const uint8_t> key);
// A copy in the same state, for a hasher made by newDigest or newHmac.
Hasher cloneHasher(const CryptoPP::HashTransformation& hasher);

}  // namespace vhsm::keyd
