// SoftHSM2 — the in-process PKCS#11 software token users compare vhsm with — as a bench
// reference: a fresh token in a temporary directory, its own keys (session objects, as fast as
// SoftHSM2 gets), and the same operations the vhsm cases run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

namespace vhsm::bench {

class SoftHsm {
 public:
  enum class SignAlgorithm { ecdsaP256, ed25519, rsa2048 };

  // Throws std::runtime_error when libsofthsm2 is missing or refuses.
  SoftHsm();
  ~SoftHsm();
  SoftHsm(const SoftHsm&) = delete;
  SoftHsm& operator=(const SoftHsm&) = delete;

  std::vector<uint8_t> hmacSha1(const std::vector<uint8_t>& data);
  std::vector<uint8_t> hmacSha256(const std::vector<uint8_t>& data);
  std::vector<uint8_t> sha256(const std::vector<uint8_t>& data);
  std::vector<uint8_t> aesGcmEncrypt(const std::vector<uint8_t>& data);
  // sealed: ciphertext || 16-byte tag under the same key and IV as aesGcmEncrypt.
  std::vector<uint8_t> aesGcmDecrypt(const std::vector<uint8_t>& sealed);
  // ECDSA signs a SHA-256 digest it is given; Ed25519 and RSA (SHA-256, PKCS#1 v1.5) the message.
  std::vector<uint8_t> sign(SignAlgorithm algorithm, const std::vector<uint8_t>& data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vhsm::bench
