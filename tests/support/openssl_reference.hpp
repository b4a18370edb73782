// The default OpenSSL provider as the reference every vhsm result is compared with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vhsm::test {

using Bytes = std::vector<uint8_t>;

// digest: "SHA1", "SHA256", "SHA384", "SHA512"
Bytes referenceHmac(const std::string& digest, const Bytes& key, const Bytes& data);
Bytes referenceDigest(const std::string& digest, const Bytes& data);
struct ReferenceGcm {
  Bytes ciphertext, tag;
};
ReferenceGcm referenceGcmEncrypt(const Bytes& key, const Bytes& iv, const Bytes& aad,
                                 const Bytes& plaintext, size_t tagLength = 16);
Bytes randomBytes(size_t n);

// A private key made by the default provider, to import into keyd and compare with.
struct ReferenceKey {
  std::string privatePem;  // PKCS#8
  Bytes publicDer;         // SubjectPublicKeyInfo
  Bytes secret;            // the bytes that must never leak: EC scalar, Ed25519 seed, RSA d
};
// kind: "P-256", "P-384", "ED25519", "RSA" (2048 bits)
ReferenceKey referenceKey(const std::string& kind);

// How a signature is made: ECDSA and RSA over a digest of hash, Ed25519 over the message.
struct SignatureParams {
  std::string hash = "SHA256";
  bool pss = false;
  int saltLength = -1;  // OpenSSL's convention
};
bool referenceVerify(const Bytes& publicDer, const SignatureParams& params, const Bytes& data,
                     const Bytes& signature);
Bytes referenceSign(const std::string& privatePem, const SignatureParams& params,
                    const Bytes& data);

// A DER X.509 certificate for the public key publicDer, CN=commonName, issued by a throwaway
// P-256 key of the default provider (CN=vhsm test CA).
Bytes referenceCertificate(const Bytes& publicDer, const std::string& commonName);

}  // namespace vhsm::test
