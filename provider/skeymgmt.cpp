// Symmetric key management `AES` and `GENERIC-SECRET` (HMAC keys) for OpenSSL 3.5's opaque
// keys (EVP_SKEY). An EVP_SKEY from vhsm is a reference to a key in keyd: imported from
// "vhsm:<id>" (the parameter vhsm-key-uri, or raw-bytes holding the reference as today's key
// buffers do) or generated in keyd (`openssl skeyutl -genkey`). It cannot be exported, and
// EVP_CipherInit_SKEY / EVP_MAC_init_SKEY with vhsm's AES-GCM or HMAC compute in keyd.
//
// vhsm holds no ordinary keys here: raw bytes that are not a reference are refused. The
// algorithms carry only provider=vhsm (no vhsm.keyref), so under vhsm's own preference an
// unqualified fetch keeps going to the default provider's key management; under the older
// global `default_properties = ?provider=vhsm` it comes here, and an ordinary key is refused
// with the advice to ask for provider=default. Holding ordinary keys here would not help: a
// cipher takes only skeys of its own provider, and vhsm has no AES-CBC.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

#include "provider/dispatch.hpp"
#include "provider/key_uri.hpp"
#include "provider/provider_ctx.hpp"
#include "provider/symmetric_key.hpp"

namespace vhsm::provider {
namespace {

// The key-id parameter of generation: the name the new key gets in keyd.
constexpr const char* kKeyIdParam = "vhsm-key-id";
constexpr size_t kDefaultKeyBytes = 32;
constexpr size_t kMaxKeyBytes = 1024;  // keyd's largest HMAC key

struct Kind {
  KeyType type;
  const char* name;  // in errors
};
constexpr Kind kAes{KeyType::AES, "AES"};
constexpr Kind kGeneric{KeyType::HMAC, "HMAC (GENERIC-SECRET)"};

void freeKey(void* keydata) {
  delete static_cast<SymmetricKey*>(keydata);
}

// Asks keyd for the key, so that a wrong id or type fails here, precisely, not at first use.
SymmetricKey* keyOf(ProviderContext* provider, const Kind& kind, const std::string& id) {
  try {
    auto info = provider->client().keyInfo(id);
    if (info.type != kind.type) {
      VHSM_RAISE(provider, kKeyTypeMismatch, "vhsm key " + id + " is not an " + kind.name + " key");
      return nullptr;
    }
    return new SymmetricKey{provider, id, "vhsm:" + id, info.bits / 8};
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(provider, e);
    return nullptr;
  }
}

template <const Kind& K>
void* import(void* provctx, int selection, const OSSL_PARAM params[]) {
  auto* provider = static_cast<ProviderContext*>(provctx);
  const OSSL_PARAM* uri = OSSL_PARAM_locate_const(params, kKeyUriParam);
  const OSSL_PARAM* raw = OSSL_PARAM_locate_const(params, OSSL_SKEY_PARAM_RAW_BYTES);
  if (!(selection & OSSL_SKEYMGMT_SELECT_SECRET_KEY) || (!uri && !raw)) {
    VHSM_RAISE(provider, kInvalidParameter,
               "a vhsm key is imported by reference: vhsm-key-uri or raw-bytes vhsm:<id>");
    return nullptr;
  }
  const unsigned char* bytes = nullptr;
  size_t length = 0;
  if (uri) {
    auto text = utf8Param(uri);
    if (!text) {
      VHSM_RAISE(provider, kInvalidKeyUri, "vhsm-key-uri must be the text vhsm:<id>");
      return nullptr;
    }
    bytes = reinterpret_cast<const unsigned char*>(text->data());
    length = text->size();
  } else if (!OSSL_PARAM_get_octet_string_ptr(raw, reinterpret_cast<const void**>(&bytes),
                                              &length)) {
    return nullptr;
  }
  std::string id;
  switch (parseKeyRef(bytes, length, id)) {
    case KeyRef::valid: return keyOf(provider, K, id);
    case KeyRef::notVhsm:
      VHSM_RAISE(provider, kInvalidKeyUri,
                 "vhsm holds key references only: import an ordinary key with the default "
                 "provider's key management (property query provider=default)");
      return nullptr;
    case KeyRef::invalid:
      VHSM_RAISE(provider, kInvalidKeyUri, "not a valid vhsm:<id> key reference");
      return nullptr;
  }
  return nullptr;
}

// The reference and the length, never the bytes: those stay in keyd.
int exportKey(void* keydata, int selection, OSSL_CALLBACK* callback, void* arg) {
  auto* key = static_cast<SymmetricKey*>(keydata);
  if (selection & OSSL_SKEYMGMT_SELECT_SECRET_KEY) {
    VHSM_RAISE(key->provider, kUnsupported,
               "the bytes of " + key->uri + " never leave keyd: use it through vhsm");
    return 0;
  }
  size_t length = key->length;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(kKeyUriParam, key->uri.data(), 0),
                         OSSL_PARAM_construct_size_t(OSSL_SKEY_PARAM_KEY_LENGTH, &length),
                         OSSL_PARAM_END};
  return callback(params, arg);
}

template <const Kind& K>
void* generate(void* provctx, const OSSL_PARAM params[]) {
  auto* provider = static_cast<ProviderContext*>(provctx);
  auto id = utf8Param(OSSL_PARAM_locate_const(params, kKeyIdParam));
  if (!id) {
    VHSM_RAISE(provider, kInvalidParameter,
               "name the new key: the parameter vhsm-key-id (skeyutl: -skeyopt vhsm-key-id:ID)");
    return nullptr;
  }
  std::string checked;
  std::string uri = "vhsm:" + std::string(*id);
  if (parseKeyRef(reinterpret_cast<const unsigned char*>(uri.data()), uri.size(), checked) !=
      KeyRef::valid) {
    VHSM_RAISE(provider, kInvalidParameter, "vhsm-key-id must be 1-64 of A-Za-z0-9._-");
    return nullptr;
  }
  size_t length = kDefaultKeyBytes;
  const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SKEY_PARAM_KEY_LENGTH);
  if (p && (!OSSL_PARAM_get_size_t(p, &length) || length == 0 || length > kMaxKeyBytes)) {
    VHSM_RAISE(provider, kInvalidParameter, "key-length is a number of bytes, 1 to 1024");
    return nullptr;
  }
  try {
    // keyd checks the length for the type (AES: 16, 24 or 32 bytes).
    provider->client().keyGenerate(checked, K.type, uint32_t(length * 8));
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(provider, e);
    return nullptr;
  }
  return keyOf(provider, K, checked);
}

const char* keyId(void* keydata) {
  return static_cast<SymmetricKey*>(keydata)->uri.c_str();
}

const OSSL_PARAM* importSettable(void*) {
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_utf8_string(kKeyUriParam, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_SKEY_PARAM_RAW_BYTES, nullptr, 0), OSSL_PARAM_END};
  return params;
}

const OSSL_PARAM* generateSettable(void*) {
  static const OSSL_PARAM params[] = {OSSL_PARAM_utf8_string(kKeyIdParam, nullptr, 0),
                                      OSSL_PARAM_size_t(OSSL_SKEY_PARAM_KEY_LENGTH, nullptr),
                                      OSSL_PARAM_END};
  return params;
}

template <const Kind& K>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(SKEYMGMT_FREE, skeymgmt_free, freeKey),
    VHSM_DISPATCH(SKEYMGMT_IMPORT, skeymgmt_import, import <K>),
    VHSM_DISPATCH(SKEYMGMT_EXPORT, skeymgmt_export, exportKey),
    VHSM_DISPATCH(SKEYMGMT_GENERATE, skeymgmt_generate, generate<K>),
    VHSM_DISPATCH(SKEYMGMT_GET_KEY_ID, skeymgmt_get_key_id, keyId),
    VHSM_DISPATCH(SKEYMGMT_IMP_SETTABLE_PARAMS, skeymgmt_imp_settable_params, importSettable),
    VHSM_DISPATCH(SKEYMGMT_GEN_SETTABLE_PARAMS, skeymgmt_gen_settable_params, generateSettable),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kAesSkeymgmtFunctions = kFunctions<kAes>;
extern const OSSL_DISPATCH* const kGenericSkeymgmtFunctions = kFunctions<kGeneric>;

}  // namespace vhsm::provider
