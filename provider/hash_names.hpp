// OpenSSL digest names (any alias: "SHA1", "SHA-256", "SHA2-512", OIDs) to keyd's algorithms.
#pragma once

#include <optional>

#include <vhsm/client.hpp>

namespace vhsm::provider {

struct HashInfo {
  HashAlgorithm algorithm;
  size_t size;
  size_t blockSize;
};

// nullopt for a digest keyd does not compute.
std::optional<HashInfo> hashInfo(const char* name);
// The default provider's name for algorithm ("SHA2-256").
const char* hashName(HashAlgorithm algorithm);

}  // namespace vhsm::provider
