#include "pkcs11/objects.hpp"

#include <cstring>

#include "pkcs11/attribute_value.hpp"
#include "pkcs11/certificate.hpp"
#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {

bool isPair(KeyType type) {
  return type != KeyType::HMAC && type != KeyType::AES;
}

// What each kind of key may be used with, as CKA_ALLOWED_MECHANISMS lists it.
Bytes allowedMechanisms(KeyType type) {
  std::vector<CK_MECHANISM_TYPE> list;
  switch (type) {
    case KeyType::HMAC:
      list = {CKM_SHA_1_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC};
      break;
    case KeyType::AES: list = {CKM_AES_GCM}; break;
    case KeyType::EC_P256:
    case KeyType::EC_P384:
      list = {CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512};
      break;
    case KeyType::ED25519: list = {CKM_EDDSA}; break;
    case KeyType::RSA:
      list = {CKM_RSA_PKCS,           CKM_RSA_PKCS_PSS,        CKM_SHA1_RSA_PKCS,
              CKM_SHA256_RSA_PKCS,    CKM_SHA384_RSA_PKCS,     CKM_SHA512_RSA_PKCS,
              CKM_SHA1_RSA_PKCS_PSS,  CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS,
              CKM_SHA512_RSA_PKCS_PSS};
      break;
  }
  Bytes out(list.size() * sizeof(CK_MECHANISM_TYPE));
  if (!list.empty()) std::memcpy(out.data(), list.data(), out.size());
  return out;
}

}  // namespace

CK_KEY_TYPE keyTypeOf(KeyType type) {
  switch (type) {
    case KeyType::HMAC: return CKK_GENERIC_SECRET;
    case KeyType::AES: return CKK_AES;
    case KeyType::EC_P256:
    case KeyType::EC_P384: return CKK_EC;
    case KeyType::ED25519: return CKK_EC_EDWARDS;
    case KeyType::RSA: return CKK_RSA;
  }
  return CKK_VENDOR_DEFINED;
}

std::vector<ObjectRef> objectsOf(const KeyInfo& info) {
  if (!isPair(info.type)) return {{info.id, CKO_SECRET_KEY}};
  std::vector<ObjectRef> objects = {{info.id, CKO_PRIVATE_KEY}, {info.id, CKO_PUBLIC_KEY}};
  if (info.hasCertificate) objects.push_back({info.id, CKO_CERTIFICATE});
  return objects;
}

Object objectFor(Token& token, CK_OBJECT_HANDLE handle, Lookup lookup) {
  auto ref = token.objectOf(handle);
  if (!ref) throw Failure{CKR_OBJECT_HANDLE_INVALID};
  // The id may name another kind of key by now (deleted and made again): the handle is the
  // old object's, and names nothing.
  auto hasObject = [&](const KeyInfo& info) {
    for (const auto& current : objectsOf(info))
      if (current.objectClass == ref->objectClass) return true;
    return false;
  };
  if (lookup == Lookup::known)
    if (auto key = token.known(ref->keyId); key && hasObject(key->info))
      return Object(token, *ref, std::move(*key));
  try {
    auto key = token.learn(token.client().keyInfo(ref->keyId));
    if (hasObject(key.info)) return Object(token, *ref, std::move(key));
    throw Failure{CKR_OBJECT_HANDLE_INVALID};
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::refused && e.code() == ErrorCode::UNKNOWN_KEY)
      throw Failure{CKR_OBJECT_HANDLE_INVALID};
    token.noteRefusal(e);
    throw;
  }
}

Object::Object(Token& token, ObjectRef ref, KnownKey key)
    : token_(token),
      ref_(std::move(ref)),
      info_(std::move(key.info)),
      public_(std::move(key.publicKey)) {}

CK_KEY_TYPE Object::keyType() const {
  return keyTypeOf(info_.type);
}

const PublicKey* Object::publicKey() {
  if (!isPair(info_.type)) return nullptr;
  if (!public_) {
    public_ =
        std::make_shared<const PublicKey>(parsePublicKey(token_.client().keyPublic(info_.id)));
    token_.learnPublic(info_, public_);
  }
  return public_.get();
}

const Bytes& Object::certificate() {
  if (!certificate_) certificate_ = token_.client().keyCertificate(info_.id);
  return *certificate_;
}

Object::Kind Object::value(CK_ATTRIBUTE_TYPE type, Bytes& out) {
  const CK_OBJECT_CLASS cls = ref_.objectClass;
  if (cls == CKO_CERTIFICATE) {
    switch (type) {
      case CKA_CLASS: out = bytesOf<CK_OBJECT_CLASS>(cls); return Kind::value;
      case CKA_TOKEN:
      case CKA_DESTROYABLE: out = boolean(true); return Kind::value;
      case CKA_PRIVATE:
      case CKA_MODIFIABLE:
      case CKA_COPYABLE: out = boolean(false); return Kind::value;
      case CKA_LABEL:
      case CKA_ID: out.assign(info_.id.begin(), info_.id.end()); return Kind::value;
      default: break;
    }
    try {
      auto value = certificateAttribute(type, [this]() -> const Bytes& { return certificate(); });
      if (!value) return Kind::invalid;
      out = std::move(*value);
      return Kind::value;
    } catch (const Error& e) {
      // keyd withholds a stored certificate that is not of the key (an edited store): the
      // object has no such value, and a search goes on past it.
      if (e.kind() != ErrorKind::refused) throw;
      return Kind::invalid;
    }
  }
  const bool secret = cls == CKO_SECRET_KEY, priv = cls == CKO_PRIVATE_KEY,
             pub = cls == CKO_PUBLIC_KEY;
  const bool mac = info_.type == KeyType::HMAC, aes = info_.type == KeyType::AES;
  switch (type) {
    case CKA_CLASS: out = bytesOf<CK_OBJECT_CLASS>(cls); return Kind::value;
    case CKA_TOKEN: out = boolean(true); return Kind::value;
    case CKA_PRIVATE: out = boolean(!pub); return Kind::value;
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DERIVE:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_LOCAL:  // keyd does not record whether it made the key or was given it
      out = boolean(false);
      return Kind::value;
    // A pair is deleted through its private key; its public half alone cannot go.
    case CKA_DESTROYABLE: out = boolean(!pub); return Kind::value;
    case CKA_LABEL: out.assign(info_.id.begin(), info_.id.end()); return Kind::value;
    case CKA_ID: out.assign(info_.id.begin(), info_.id.end()); return Kind::value;
    case CKA_KEY_TYPE: out = bytesOf<CK_KEY_TYPE>(keyType()); return Kind::value;
    case CKA_ENCRYPT:
    case CKA_DECRYPT: out = boolean(aes); return Kind::value;
    case CKA_SIGN: out = boolean(mac || priv); return Kind::value;
    case CKA_VERIFY: out = boolean(mac || pub); return Kind::value;
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER: out = boolean(false); return Kind::value;
    case CKA_START_DATE:
    case CKA_END_DATE:
      out.clear();
      return Kind::value;  // empty: not set
    // keyd records neither how a key was made nor a subject: unknown, and empty.
    case CKA_KEY_GEN_MECHANISM:
      out = bytesOf<CK_MECHANISM_TYPE>(CK_UNAVAILABLE_INFORMATION);
      return Kind::value;
    case CKA_SUBJECT:
      if (secret) return Kind::invalid;
      out.clear();
      return Kind::value;
    case CKA_ALLOWED_MECHANISMS: out = allowedMechanisms(info_.type); return Kind::value;
    default: break;
  }
  if (secret || priv) {
    switch (type) {
      case CKA_SENSITIVE: out = boolean(true); return Kind::value;
      // An imported key was plaintext once; keyd does not record which keys it made.
      case CKA_ALWAYS_SENSITIVE:
      case CKA_NEVER_EXTRACTABLE:
      case CKA_EXTRACTABLE:
      case CKA_ALWAYS_AUTHENTICATE:
      case CKA_WRAP_WITH_TRUSTED: out = boolean(false); return Kind::value;
      default: break;
    }
  }
  if (secret) {
    if (type == CKA_VALUE) return Kind::sensitive;
    if (type == CKA_VALUE_LEN) {
      out = bytesOf<CK_ULONG>(info_.bits / 8);
      return Kind::value;
    }
    return Kind::invalid;
  }
  if (pub && type == CKA_TRUSTED) {
    out = boolean(false);
    return Kind::value;
  }
  const PublicKey* key = publicKey();
  if (!key) return Kind::invalid;
  if (type == CKA_PUBLIC_KEY_INFO) {
    out = key->spki;
    return Kind::value;
  }
  if (key->type == CKK_RSA) {
    switch (type) {
      case CKA_MODULUS: out = key->modulus; return Kind::value;
      case CKA_PUBLIC_EXPONENT: out = key->publicExponent; return Kind::value;
      case CKA_MODULUS_BITS:
        if (!pub) return Kind::invalid;
        out = bytesOf<CK_ULONG>(key->modulusBits);
        return Kind::value;
      case CKA_PRIVATE_EXPONENT:
      case CKA_PRIME_1:
      case CKA_PRIME_2:
      case CKA_EXPONENT_1:
      case CKA_EXPONENT_2:
      case CKA_COEFFICIENT: return priv ? Kind::sensitive : Kind::invalid;
      default: return Kind::invalid;
    }
  }
  switch (type) {
    case CKA_EC_PARAMS: out = key->ecParams; return Kind::value;
    case CKA_EC_POINT:
      if (!pub) return Kind::invalid;
      out = key->ecPoint;
      return Kind::value;
    case CKA_VALUE: return priv ? Kind::sensitive : Kind::invalid;
    default: return Kind::invalid;
  }
}

bool Object::matches(const CK_ATTRIBUTE* attributes, CK_ULONG count) {
  for (CK_ULONG i = 0; i < count; ++i) {
    Bytes mine;
    if (value(attributes[i].type, mine) != Kind::value) return false;
    if (mine.size() != attributes[i].ulValueLen || (!mine.empty() && !attributes[i].pValue) ||
        (!mine.empty() && std::memcmp(mine.data(), attributes[i].pValue, mine.size()) != 0))
      return false;
  }
  return true;
}

CK_RV Object::getAttributes(CK_ATTRIBUTE* attributes, CK_ULONG count) {
  CK_RV rv = CKR_OK;
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_ATTRIBUTE& a = attributes[i];
    Bytes bytes;
    switch (value(a.type, bytes)) {
      case Kind::sensitive:
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        rv = CKR_ATTRIBUTE_SENSITIVE;
        continue;
      case Kind::invalid:
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        rv = CKR_ATTRIBUTE_TYPE_INVALID;
        continue;
      case Kind::value: break;
    }
    if (!a.pValue) {
      a.ulValueLen = bytes.size();
    } else if (a.ulValueLen < bytes.size()) {
      a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_BUFFER_TOO_SMALL;
    } else {
      if (!bytes.empty()) std::memcpy(a.pValue, bytes.data(), bytes.size());
      a.ulValueLen = bytes.size();
    }
  }
  return rv;
}

}  // namespace vhsm::pkcs11
