// The building blocks of the key hierarchy, on Crypto++: randomness, PBKDF2, HKDF and an
// AES-256-GCM seal/open for wrapped blobs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "keyd/base/secure_memory.hpp"

namespace vhsm::keyd {

inline constexpr size_t kWrapKeyBytes = 32;

void randomBytes(std::span<uint8_t> out);
SecretBytes randomSecret(size_t bytes);

SecretBytes pbkdf2Sha256(std::span<const uint8_t> password, std::span<const uint8_t> salt,
                         uint32_t iterations);
SecretBytes hkdfSha256(std::span<const uint8_t> secret, std::string_view info);

// Blob = version byte | 12-byte random nonce | ciphertext | 16-byte tag; aad binds context.
std::vector<uint8_t> seal(std::span<const uint8_t> key, std::span<const uint8_t> plaintext,
                          std::span<const uint8_t> aad);
// nullopt when the blob is malformed or fails authentication (wrong key, swapped, edited).
std::optional<SecretBytes> open(std::span<const uint8_t> key, std::span<const uint8_t> blob,
                                std::span<const uint8_t> aad);

}  // namespace vhsm::keyd
