// The public attributes of a key pair (CKA_EC_PARAMS, CKA_EC_POINT, CKA_MODULUS, ...), read
// from the SubjectPublicKeyInfo keyd gives out, and the conversions between OpenSSL's and
// PKCS#11's encodings. Nothing here touches a private key.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

struct PublicKey {
  CK_KEY_TYPE type = CKK_EC;
  Bytes spki;      // CKA_PUBLIC_KEY_INFO
  Bytes ecParams;  // DER of the curve's OID (Ed25519: 1.3.101.112)
  Bytes ecPoint;   // DER OCTET STRING of the point (EC: uncompressed; Ed25519: 32 bytes)
  Bytes modulus, publicExponent;
  CK_ULONG modulusBits = 0;
  size_t signatureBytes = 0;  // what C_Sign produces: r||s, an Ed25519 signature, RSA size
};

// Throws Failure{CKR_DEVICE_ERROR} when keyd's answer is not a key this module knows.
PublicKey parsePublicKey(const Bytes& spki);

// ECDSA: OpenSSL's DER SEQUENCE {r, s} <-> PKCS#11's r||s, each half fieldBytes long.
Bytes ecdsaRaw(const Bytes& der, size_t fieldBytes);
// nullopt for a signature of the wrong length (it cannot verify).
std::optional<Bytes> ecdsaDer(const Bytes& raw);

// The key type keyd should make for CKA_EC_PARAMS (P-256, P-384 or Ed25519's OID or name).
std::optional<KeyType> curveOf(const Bytes& ecParams);

}  // namespace vhsm::pkcs11
