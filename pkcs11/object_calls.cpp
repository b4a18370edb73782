// Objects: finding them, reading their attributes, making keys in keyd (generation and import)
// and destroying them. Objects are the token user's keyd keys (objects.hpp); nothing lives in
// the module but their handles.
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <cstring>

#include "pkcs11/calls.hpp"
#include "pkcs11/certificate.hpp"
#include "pkcs11/errors.hpp"
#include "pkcs11/objects.hpp"
#include "pkcs11/state.hpp"
#include "pkcs11/templates.hpp"

namespace vhsm::pkcs11::calls {

namespace {

// The session for a change of the token's objects: read-write, logged in.
std::shared_ptr<Session> writableSession(CK_SESSION_HANDLE handle) {
  auto s = state().session(handle);
  if (!s->readWrite()) throw Failure{CKR_SESSION_READ_ONLY};
  if (!s->token.loggedIn()) throw Failure{CKR_USER_NOT_LOGGED_IN};
  return s;
}

CK_OBJECT_HANDLE handleFor(Token& token, const std::string& id, CK_OBJECT_CLASS objectClass) {
  return token.handleOf(ObjectRef{id, objectClass});
}

// A class or key type the template names must be the one the mechanism makes.
void expect(const Template& t, CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  if (auto given = t.ulong(type); given && *given != value)
    throw Failure{CKR_TEMPLATE_INCONSISTENT};
}

// Key material on its way to keyd, wiped however the call ends.
struct Wiped {
  Bytes bytes;
  ~Wiped() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

// OpenSSL's private key as PKCS#8 DER, what keyd imports.
using Pkcs8 = Wiped;

// A secret part from the template, zero-length refused.
Wiped secretPart(const Template& t, CK_ATTRIBUTE_TYPE type) {
  Wiped part{t.bytes(type).value_or(Bytes{})};
  if (part.bytes.empty()) throw Failure{CKR_TEMPLATE_INCOMPLETE};
  return part;
}

// A BIGNUM in OpenSSL's secure heap, cleared when freed, so the parameters built from it are
// too.
struct SecretNumber {
  explicit SecretNumber(const Bytes& bytes) : bn(BN_secure_new()) {
    if (!bn || !BN_bin2bn(bytes.data(), int(bytes.size()), bn)) {
      BN_clear_free(bn);
      throw std::bad_alloc();
    }
  }
  ~SecretNumber() { BN_clear_free(bn); }
  SecretNumber(const SecretNumber&) = delete;
  SecretNumber& operator=(const SecretNumber&) = delete;
  BIGNUM* bn;
};

struct ParamBuilder {
  ParamBuilder() : build(OSSL_PARAM_BLD_new()) {
    if (!build) throw std::bad_alloc();
  }
  ~ParamBuilder() { OSSL_PARAM_BLD_free(build); }
  ParamBuilder(const ParamBuilder&) = delete;
  ParamBuilder& operator=(const ParamBuilder&) = delete;
  OSSL_PARAM_BLD* build;
};

Pkcs8 pkcs8Of(EVP_PKEY* pkey) {
  Pkcs8 out;
  PKCS8_PRIV_KEY_INFO* info = pkey ? EVP_PKEY2PKCS8(pkey) : nullptr;
  unsigned char* der = nullptr;
  int length = info ? i2d_PKCS8_PRIV_KEY_INFO(info, &der) : -1;
  PKCS8_PRIV_KEY_INFO_free(info);
  EVP_PKEY_free(pkey);
  if (length <= 0) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  out.bytes.assign(der, der + length);
  OPENSSL_clear_free(der, size_t(length));
  return out;
}

EVP_PKEY* fromData(const char* type, ParamBuilder& builder) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder.build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
    pkey = nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);  // secure numbers were built into a block it clears
  return pkey;
}

// An EC key from its scalar: OpenSSL does not derive the public point when it makes a key
// from data, and PKCS#8 carries it, so it is computed here (Q = d·G).
EVP_PKEY* ecKeyOf(KeyType type, const Bytes& scalar) {
  const char* group = type == KeyType::EC_P256 ? "P-256" : "P-384";
  SecretNumber d(scalar);
  EC_GROUP* g =
      EC_GROUP_new_by_curve_name(type == KeyType::EC_P256 ? NID_X9_62_prime256v1 : NID_secp384r1);
  EC_POINT* q = g ? EC_POINT_new(g) : nullptr;
  uint8_t point[133];
  size_t length =
      q && EC_POINT_mul(g, q, d.bn, nullptr, nullptr, nullptr)
          ? EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, nullptr)
          : 0;
  EC_POINT_free(q);
  EC_GROUP_free(g);
  if (!length) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  ParamBuilder b;
  if (!OSSL_PARAM_BLD_push_utf8_string(b.build, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_BN(b.build, OSSL_PKEY_PARAM_PRIV_KEY, d.bn) ||
      !OSSL_PARAM_BLD_push_octet_string(b.build, OSSL_PKEY_PARAM_PUB_KEY, point, length))
    throw std::bad_alloc();
  return fromData("EC", b);
}

// A private key given by its parts, as PKCS#8 for keyd.
Pkcs8 privateKeyOf(const Template& t, KeyType& type) {
  auto keyType = t.ulong(CKA_KEY_TYPE);
  if (!keyType) throw Failure{CKR_TEMPLATE_INCOMPLETE};
  if (*keyType == CKK_EC || *keyType == CKK_EC_EDWARDS) {
    auto curve = curveOf(t.bytes(CKA_EC_PARAMS).value_or(Bytes{}));
    if (!curve || (*curve == KeyType::ED25519) != (*keyType == CKK_EC_EDWARDS))
      throw Failure{CKR_CURVE_NOT_SUPPORTED};
    type = *curve;
    Wiped secret = secretPart(t, CKA_VALUE);
    if (type == KeyType::ED25519)
      return pkcs8Of(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr,
                                                     secret.bytes.data(), secret.bytes.size()));
    return pkcs8Of(ecKeyOf(type, secret.bytes));
  }
  if (*keyType != CKK_RSA) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  type = KeyType::RSA;
  const std::pair<CK_ATTRIBUTE_TYPE, const char*> parts[] = {
      {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
      {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
      {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
      {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
      {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
      {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
      {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1}};
  ParamBuilder b;
  std::vector<std::unique_ptr<SecretNumber>> numbers;
  for (const auto& [attribute, name] : parts) {
    numbers.push_back(std::make_unique<SecretNumber>(secretPart(t, attribute).bytes));
    if (!OSSL_PARAM_BLD_push_BN(b.build, name, numbers.back()->bn)) throw std::bad_alloc();
  }
  return pkcs8Of(fromData("RSA", b));
}

// An X.509 certificate kept beside the key pair its CKA_ID names; keyd checks that it is one
// and of that key. A key pair keeps one: another is refused until the first is destroyed.
void keepCertificate(Token& token, const std::string& id, const Template& t) {
  auto type = t.ulong(CKA_CERTIFICATE_TYPE);
  if (!type) throw Failure{CKR_TEMPLATE_INCOMPLETE};
  if (*type != CKC_X_509) throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  auto der = t.bytes(CKA_VALUE);
  if (!der || der->empty()) throw Failure{CKR_TEMPLATE_INCOMPLETE};
  // What the object would say otherwise: public, untrusted, its fields those of its value.
  if (t.boolean(CKA_PRIVATE).value_or(false) || t.boolean(CKA_TRUSTED).value_or(false))
    throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
  for (CK_ATTRIBUTE_TYPE field : {CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER}) {
    auto given = t.bytes(field);
    if (!given) continue;
    std::optional<Bytes> actual;
    try {
      actual = certificateAttribute(field, [&]() -> const Bytes& { return *der; });
    } catch (const Failure&) {
      throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};  // the value is no certificate
    }
    if (actual != given) throw Failure{CKR_TEMPLATE_INCONSISTENT};
  }
  try {
    if (token.client().keyInfo(id).hasCertificate) throw Failure{CKR_TEMPLATE_INCONSISTENT};
    token.client().keyCertificateSet(id, *der);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::refused) throw;
    switch (e.code()) {
      case ErrorCode::INVALID_ARGUMENT: throw Failure{CKR_ATTRIBUTE_VALUE_INVALID};
      // No key pair of that id, or not the certificate of its public key.
      case ErrorCode::UNKNOWN_KEY:
      case ErrorCode::KEY_TYPE_MISMATCH:
      case ErrorCode::USAGE_NOT_PERMITTED: throw Failure{CKR_TEMPLATE_INCONSISTENT};
      default: throw;
    }
  }
  token.forgetKeys();
}

}  // namespace

CK_RV C_CreateObject(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR attributes, CK_ULONG count,
                     CK_OBJECT_HANDLE_PTR object) {
  return guarded([&] {
    auto s = writableSession(session);
    Template t(attributes, count);
    if (!object) return CKR_ARGUMENTS_BAD;
    auto objectClass = t.ulong(CKA_CLASS);
    if (!objectClass) return CKR_TEMPLATE_INCOMPLETE;
    t.requireTokenKey();
    std::string id = keyIdOf(t);
    auto& client = s->token.client();
    if (*objectClass == CKO_SECRET_KEY) {
      auto keyType = t.ulong(CKA_KEY_TYPE);
      if (!keyType) return CKR_TEMPLATE_INCOMPLETE;
      if (*keyType != CKK_AES && *keyType != CKK_GENERIC_SECRET) return CKR_ATTRIBUTE_VALUE_INVALID;
      Wiped value = secretPart(t, CKA_VALUE);
      client.keyImport(id, *keyType == CKK_AES ? KeyType::AES : KeyType::HMAC, value.bytes);
    } else if (*objectClass == CKO_PRIVATE_KEY) {
      KeyType type;
      Pkcs8 key = privateKeyOf(t, type);
      client.keyImport(id, type, key.bytes);
    } else if (*objectClass == CKO_CERTIFICATE) {
      keepCertificate(s->token, id, t);
    } else {
      return CKR_TEMPLATE_INCONSISTENT;  // a public key comes with its private key
    }
    *object = handleFor(s->token, id, *objectClass);
    return CKR_OK;
  });
}

CK_RV C_CopyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG,
                   CK_OBJECT_HANDLE_PTR) {
  // CKA_COPYABLE is false: a key exists once, in keyd.
  return refusedFor(session, CKR_ACTION_PROHIBITED);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
  return guarded([&] {
    auto s = writableSession(session);
    auto o = objectFor(s->token, object);
    // A pair's two objects go together, through the private key (CKA_DESTROYABLE); its
    // certificate may go alone.
    if (o.ref().objectClass == CKO_PUBLIC_KEY) return CKR_ACTION_PROHIBITED;
    if (o.ref().objectClass == CKO_CERTIFICATE)
      s->token.client().keyCertificateSet(o.info().id, {});
    else
      s->token.client().keyDelete(o.info().id);
    s->token.forgetKeys();
    return CKR_OK;
  });
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ULONG_PTR size) {
  return guarded([&] {
    auto s = state().session(session);
    objectFor(s->token, object);
    if (!size) return CKR_ARGUMENTS_BAD;
    *size = CK_UNAVAILABLE_INFORMATION;
    return CKR_OK;
  });
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                          CK_ATTRIBUTE_PTR attributes, CK_ULONG count) {
  return guarded([&] {
    auto s = state().session(session);
    auto o = objectFor(s->token, object);
    if (!attributes && count) return CKR_ARGUMENTS_BAD;
    return o.getAttributes(attributes, count);
  });
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR,
                          CK_ULONG) {
  return guarded([&] {
    auto s = state().session(session);
    objectFor(s->token, object);
    return CKR_ACTION_PROHIBITED;  // CKA_MODIFIABLE is false
  });
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR attributes, CK_ULONG count) {
  return guarded([&] {
    auto s = state().session(session);
    std::lock_guard lock(s->mutex);
    Template(attributes, count);  // no null values, no attribute twice
    if (s->found) return CKR_OPERATION_ACTIVE;
    std::vector<CK_OBJECT_HANDLE> found;
    // Every object is a key of the logged-in user: before a login there are none to see.
    std::vector<KeyInfo> keys;
    if (s->token.loggedIn()) try {
        keys = s->token.client().keyList();
      } catch (const Error& e) {
        s->token.noteRefusal(e);
        throw;
      }
    {
      for (const auto& info : keys) {
        auto key = s->token.learn(info);
        for (const auto& ref : objectsOf(info)) {
          Object o(s->token, ref, key);
          if (o.matches(attributes, count)) found.push_back(s->token.handleOf(ref));
        }
      }
    }
    s->found = std::move(found);
    return CKR_OK;
  });
}

CK_RV C_FindObjects(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max,
                    CK_ULONG_PTR count) {
  return guarded([&] {
    auto s = state().session(session);
    std::lock_guard lock(s->mutex);
    if (!s->found) return CKR_OPERATION_NOT_INITIALIZED;
    if (!count || (!objects && max)) return CKR_ARGUMENTS_BAD;
    auto& found = *s->found;
    CK_ULONG n = std::min<CK_ULONG>(max, found.size());
    std::copy(found.begin(), found.begin() + long(n), objects);
    found.erase(found.begin(), found.begin() + long(n));
    *count = n;
    return CKR_OK;
  });
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE session) {
  return guarded([&] {
    auto s = state().session(session);
    std::lock_guard lock(s->mutex);
    if (!s->found) return CKR_OPERATION_NOT_INITIALIZED;
    s->found.reset();
    return CKR_OK;
  });
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                    CK_ATTRIBUTE_PTR attributes, CK_ULONG count, CK_OBJECT_HANDLE_PTR key) {
  return guarded([&] {
    auto s = writableSession(session);
    Template t(attributes, count);
    if (!mechanism || !key) return CKR_ARGUMENTS_BAD;
    if (mechanism->pParameter || mechanism->ulParameterLen) return CKR_MECHANISM_PARAM_INVALID;
    KeyType type;
    CK_KEY_TYPE keyType;
    switch (mechanism->mechanism) {
      case CKM_AES_KEY_GEN: type = KeyType::AES, keyType = CKK_AES; break;
      case CKM_GENERIC_SECRET_KEY_GEN: type = KeyType::HMAC, keyType = CKK_GENERIC_SECRET; break;
      default: return CKR_MECHANISM_INVALID;
    }
    expect(t, CKA_CLASS, CKO_SECRET_KEY);
    expect(t, CKA_KEY_TYPE, keyType);
    if (t.has(CKA_VALUE)) return CKR_TEMPLATE_INCONSISTENT;
    t.requireTokenKey();
    auto length = t.ulong(CKA_VALUE_LEN);
    if (!length) return CKR_TEMPLATE_INCOMPLETE;
    if (*length == 0 || *length > 1024) return CKR_ATTRIBUTE_VALUE_INVALID;
    std::string id = keyIdOf(t);
    s->token.client().keyGenerate(id, type, uint32_t(*length * 8));
    *key = handleFor(s->token, id, CKO_SECRET_KEY);
    return CKR_OK;
  });
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                        CK_ATTRIBUTE_PTR publicAttributes, CK_ULONG publicCount,
                        CK_ATTRIBUTE_PTR privateAttributes, CK_ULONG privateCount,
                        CK_OBJECT_HANDLE_PTR publicKey, CK_OBJECT_HANDLE_PTR privateKey) {
  return guarded([&] {
    auto s = writableSession(session);
    Template pub(publicAttributes, publicCount), priv(privateAttributes, privateCount);
    if (!mechanism || !publicKey || !privateKey) return CKR_ARGUMENTS_BAD;
    if (mechanism->pParameter || mechanism->ulParameterLen) return CKR_MECHANISM_PARAM_INVALID;
    expect(pub, CKA_CLASS, CKO_PUBLIC_KEY);
    expect(priv, CKA_CLASS, CKO_PRIVATE_KEY);
    priv.requireTokenKey();
    if (pub.boolean(CKA_TOKEN) == false) return CKR_TEMPLATE_INCONSISTENT;
    KeyType type;
    uint32_t bits = 0;
    switch (mechanism->mechanism) {
      case CKM_EC_KEY_PAIR_GEN:
      case CKM_EC_EDWARDS_KEY_PAIR_GEN: {
        auto params = pub.bytes(CKA_EC_PARAMS);
        if (!params) return CKR_TEMPLATE_INCOMPLETE;
        auto curve = curveOf(*params);
        bool edwards = mechanism->mechanism == CKM_EC_EDWARDS_KEY_PAIR_GEN;
        if (!curve || (*curve == KeyType::ED25519) != edwards) return CKR_CURVE_NOT_SUPPORTED;
        type = *curve;
        break;
      }
      case CKM_RSA_PKCS_KEY_PAIR_GEN: {
        auto modulusBits = pub.ulong(CKA_MODULUS_BITS);
        if (!modulusBits) return CKR_TEMPLATE_INCOMPLETE;
        if (*modulusBits != 2048 && *modulusBits != 3072 && *modulusBits != 4096)
          return CKR_ATTRIBUTE_VALUE_INVALID;
        // keyd makes keys with e = 65537, the only exponent callers ask for in practice.
        if (auto e = pub.bytes(CKA_PUBLIC_EXPONENT); e && *e != Bytes{0x01, 0x00, 0x01})
          return CKR_ATTRIBUTE_VALUE_INVALID;
        type = KeyType::RSA;
        bits = uint32_t(*modulusBits);
        break;
      }
      default: return CKR_MECHANISM_INVALID;
    }
    std::string id = keyIdOf(pub, &priv);
    s->token.client().keyGenerate(id, type, bits);
    *publicKey = handleFor(s->token, id, CKO_PUBLIC_KEY);
    *privateKey = handleFor(s->token, id, CKO_PRIVATE_KEY);
    return CKR_OK;
  });
}

// Wrapping would take a key out of keyd; unwrapping and derivation make keys keyd cannot.
CK_RV C_WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE,
                CK_BYTE_PTR, CK_ULONG_PTR) {
  return refusedFor(session, CKR_MECHANISM_INVALID);
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_BYTE_PTR,
                  CK_ULONG, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR) {
  return refusedFor(session, CKR_MECHANISM_INVALID);
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR,
                  CK_ULONG, CK_OBJECT_HANDLE_PTR) {
  return refusedFor(session, CKR_MECHANISM_INVALID);
}

}  // namespace vhsm::pkcs11::calls
