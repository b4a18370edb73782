// The PKCS#11 objects of the user's keys and their attributes. A symmetric key is one
// CKO_SECRET_KEY (AES, or CKK_GENERIC_SECRET for HMAC); a key pair is a CKO_PRIVATE_KEY and a
// CKO_PUBLIC_KEY, and a CKO_CERTIFICATE when keyd keeps one beside it, all sharing CKA_ID and
// CKA_LABEL, the key id. Secret values are never attributes here: CKA_VALUE and the private
// parts answer CKR_ATTRIBUTE_SENSITIVE.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <optional>
#include <vector>

#include "pkcs11/public_key.hpp"
#include "pkcs11/token.hpp"

namespace vhsm::pkcs11 {

class Object {
 public:
  Object(Token& token, ObjectRef ref, KnownKey key);

  const ObjectRef& ref() const { return ref_; }
  const KeyInfo& info() const { return info_; }
  Client& client() { return token_.client(); }
  CK_KEY_TYPE keyType() const;
  // The key pair's public half, fetched from keyd once (nullopt for a secret key).
  const PublicKey* publicKey();
  // The certificate keyd keeps beside the key pair (DER), fetched once.
  const Bytes& certificate();

  // Whether every attribute in the template has this object's value.
  bool matches(const CK_ATTRIBUTE* attributes, CK_ULONG count);
  // C_GetAttributeValue's rules for each entry: the value, its length (null pValue),
  // CKR_BUFFER_TOO_SMALL, CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID, the last
  // setting ulValueLen to CK_UNAVAILABLE_INFORMATION; every entry is processed.
  CK_RV getAttributes(CK_ATTRIBUTE* attributes, CK_ULONG count);

 private:
  enum class Kind { value, sensitive, invalid };
  Kind value(CK_ATTRIBUTE_TYPE type, Bytes& out);

  Token& token_;
  ObjectRef ref_;
  KeyInfo info_;
  std::shared_ptr<const PublicKey> public_;
  std::optional<Bytes> certificate_;
};

// The objects a key shows as: one for a symmetric key, two or three for a pair.
std::vector<ObjectRef> objectsOf(const KeyInfo& info);
CK_KEY_TYPE keyTypeOf(KeyType type);
// The object a handle names; Failure CKR_OBJECT_HANDLE_INVALID for an unknown handle or a key
// deleted since. Lookup::fresh asks keyd for the key's current state; Lookup::known takes what
// the token knows when it knows the key (for operations keyd carries out and checks itself).
enum class Lookup { fresh, known };
Object objectFor(Token& token, CK_OBJECT_HANDLE handle, Lookup lookup = Lookup::fresh);

}  // namespace vhsm::pkcs11
