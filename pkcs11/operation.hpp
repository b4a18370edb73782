// An operation in progress in a session, from its C_*Init to its last call. Every output
// length is known before the work is done, so a size query or a short buffer never costs a
// request to keyd, and the work is done once. Every mechanism takes data in parts: those
// whose request needs all of it (raw ECDSA and RSA, EdDSA, GCM decryption) hold it here.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <memory>

#include <vhsm/client.hpp>

namespace vhsm::pkcs11 {

// Digest, sign, encrypt and decrypt.
class Operation {
 public:
  virtual ~Operation() = default;
  // Multi-part: what update writes for in bytes, and what final writes.
  virtual size_t updateLength(size_t in) const = 0;
  virtual size_t finalLength() const = 0;
  // Single-part (C_Digest, C_Sign, C_Encrypt, C_Decrypt) on in bytes.
  virtual size_t oneShotLength(size_t in) const { return updateLength(in) + finalLength(); }
  virtual void update(ByteView in, uint8_t* out) = 0;
  virtual void final(uint8_t* out) = 0;
  virtual void oneShot(ByteView in, uint8_t* out) {
    update(in, out);
    final(out + updateLength(in.size()));
  }
};

// Verify: the answer is whether the signature holds.
class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual void update(ByteView in) = 0;
  // Failure{CKR_SIGNATURE_LEN_RANGE} for a signature of the wrong length.
  virtual bool final(ByteView signature) = 0;
};

}  // namespace vhsm::pkcs11
