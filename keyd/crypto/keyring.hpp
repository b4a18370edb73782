// The key hierarchy of docs/security-model.md ("Passwords and keys at rest"):
//   password --PBKDF2-HMAC-SHA256(salt, iterations)--> master key
//   master key --AES-256-GCM(aad: user name)--> 256-bit user secret
//   user secret --HKDF-SHA256--> key-wrapping key --AES-256-GCM(aad: owner, id, type)--> key
// A password change re-wraps only the user secret; every blob is bound to its row.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "keyd/base/secure_memory.hpp"
#include "store/store.hpp"

namespace vhsm::keyd {

inline constexpr uint32_t kDefaultKdfIterations = 600'000;
inline constexpr size_t kUserSecretBytes = 32;
inline constexpr size_t kSaltBytes = 16;
inline constexpr size_t kUserIdBytes = 16;

// A new user's identity: a fresh random id, and salt, iterations and wrapped secret for a fresh
// random secret, which it returns.
SecretBytes createUserSecret(store::User& user, std::span<const uint8_t> password,
                             uint32_t iterations);
// nullopt for a wrong password (or a record that was tampered with).
std::optional<SecretBytes> unwrapUserSecret(const store::User& user,
                                            std::span<const uint8_t> password);
// Re-wraps an already unwrapped secret under a new password, with a new salt.
void rewrapUserSecret(store::User& user, const SecretBytes& secret,
                      std::span<const uint8_t> newPassword);

// Fills key.wrapped; key.owner, id, type and bits must be set, as they are bound to the blob.
void wrapKey(store::Key& key, const SecretBytes& userSecret, std::span<const uint8_t> material);
std::optional<SecretBytes> unwrapKey(const store::Key& key, const SecretBytes& userSecret);

}  // namespace vhsm::keyd
