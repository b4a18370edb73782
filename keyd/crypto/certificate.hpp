// Certificates kept beside key pairs: keyd stores them for PKCS#11 programs (ssh, NSS, Java
// look for a certificate next to a private key) but never trusts one — it only checks that a
// certificate is one well-formed DER X.509 of the key's public key.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vhsm::keyd {

// Ample for one certificate with many names; a key list page carries each of its keys' own.
inline constexpr size_t kMaxCertificateBytes = 16 * 1024;

// The DER SubjectPublicKeyInfo of a certificate; CryptoError(invalidArgument) unless der is
// exactly one DER-encoded X.509 certificate of at most kMaxCertificateBytes.
std::vector<uint8_t> certificatePublicKey(std::span<const uint8_t> der);

}  // namespace vhsm::keyd
