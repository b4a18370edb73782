// The engines behind SigningKey (signing_key.hpp): one constructor per library.
#pragma once

#include <openssl/types.h>

#include "keyd/crypto/signing_key.hpp"

namespace vhsm::keyd {

// ECDSA or RSA by OpenSSL; takes ownership of pkey.
std::shared_ptr<const SigningKey> newOpensslSigningKey(EVP_PKEY* pkey,
                                                       std::vector<uint8_t> publicKey);
// Ed25519 by Crypto++, from the 32-byte private key (RFC 8032's seed).
std::shared_ptr<const SigningKey> newEd25519SigningKey(std::span<const uint8_t> seed,
                                                       std::vector<uint8_t> publicKey);

}  // namespace vhsm::keyd
