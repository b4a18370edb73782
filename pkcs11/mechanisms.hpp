// The mechanisms the module offers (C_GetMechanismList/Info) and the operations that carry
// them out: digests in-process (no key is involved), HMAC, ECDSA, EdDSA and RSA signatures in
// keyd (verification in-process on the public key), AES-GCM in keyd.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <memory>
#include <vector>

#include "pkcs11/objects.hpp"
#include "pkcs11/operation.hpp"

namespace vhsm::pkcs11 {

struct Mechanism {
  CK_MECHANISM_TYPE type;
  CK_MECHANISM_INFO info;
};
const std::vector<Mechanism>& mechanisms();
const Mechanism* mechanismNamed(CK_MECHANISM_TYPE type);

// Each throws Failure with the spec's code for a mechanism, parameter or key that does not fit.
std::unique_ptr<Operation> digestFor(const CK_MECHANISM& mechanism);
std::unique_ptr<Operation> signerFor(Client& client, Object& key, const CK_MECHANISM& mechanism);
std::unique_ptr<Verifier> verifierFor(Object& key, const CK_MECHANISM& mechanism);
std::unique_ptr<Operation> cipherFor(Client& client, Object& key, const CK_MECHANISM& mechanism,
                                     bool encrypt);

}  // namespace vhsm::pkcs11
