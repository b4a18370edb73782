// Private keys for signing (EC P-256/P-384, Ed25519, RSA), behind one interface whatever
// library computes them. The engine is chosen per algorithm from measurement on these
// machines (bench/README.md): OpenSSL's libcrypto for ECDSA (49 k P-256 signs/s against
// Crypto++'s 2.5 k) and RSA (4.0 k against 1.0 k for 2048 bits), Crypto++ for Ed25519 (63 k
// against OpenSSL 3.0's 25 k). At rest every type is PKCS#8 DER, wrapped like any key.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <vhsm/types.hpp>
#include "keyd/base/secure_memory.hpp"

namespace vhsm::keyd {

struct SignParams {
  HashAlgorithm hash = HashAlgorithm::SHA256;
  bool raw = false;  // data is signed as given, not as a digest of hash
  RsaPadding rsaPadding = RsaPadding::PKCS1;
  int32_t pssSaltLength = -1;
  HashAlgorithm mgf1Hash = HashAlgorithm::SHA256;
};

class SigningKey {
 public:
  virtual ~SigningKey() = default;
  // Throws CryptoError for parameters the key cannot sign with (wrong digest length, PSS salt…).
  virtual std::vector<uint8_t> sign(const SignParams& params,
                                    std::span<const uint8_t> data) const = 0;
  // DER SubjectPublicKeyInfo.
  virtual const std::vector<uint8_t>& publicKey() const = 0;
};

bool isSigningType(KeyType type);

// A new private key of type (bits: RSA modulus size, 0 for the default), as PKCS#8 DER.
SecretBytes generatePrivateKey(KeyType type, uint32_t& bits);
// A private key given as PEM or DER (PKCS#8 or the algorithm's traditional form), checked to
// be of type, re-encoded as PKCS#8 DER; bits receives its size. Throws CryptoError.
SecretBytes importPrivateKey(KeyType type, std::span<const uint8_t> material, uint32_t& bits);
// The key stored as PKCS#8 DER, ready to sign.
std::shared_ptr<const SigningKey> loadSigningKey(KeyType type, std::span<const uint8_t> pkcs8);

}  // namespace vhsm::keyd
