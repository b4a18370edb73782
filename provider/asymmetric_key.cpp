#include "provider/asymmetric_key.hpp"

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <cstring>

namespace vhsm::provider {

AsymmetricKey::AsymmetricKey(const AsymmetricKey& other)
    : provider(other.provider),
      algorithm(other.algorithm),
      pkey(other.pkey),
      keyId(other.keyId),
      localPrivate(other.localPrivate),
      verifyTemplate(other.verifyTemplate ? EVP_PKEY_CTX_dup(other.verifyTemplate) : nullptr) {
  if (pkey) EVP_PKEY_up_ref(pkey);
}

AsymmetricKey::~AsymmetricKey() {
  EVP_PKEY_CTX_free(verifyTemplate);
  EVP_PKEY_free(pkey);
}

int passByReference(const AsymmetricKey& key, OSSL_CALLBACK* callback, void* arg) {
  int type = OSSL_OBJECT_PKEY;
  const AsymmetricKey* reference = &key;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type),
      OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                       const_cast<char*>(key.algorithm), 0),
      OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &reference, sizeof reference),
      OSSL_PARAM_construct_end()};
  return callback(params, arg);
}

int declineReferenceExport(void*, const void*, size_t, OSSL_CALLBACK*, void*) {
  return 0;
}

AsymmetricKey* loadVhsmKey(ProviderContext* provider, const std::string& keyId) {
  Bytes der;
  try {
    der = provider->client().keyPublic(keyId);
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(provider, e);
    return nullptr;
  }
  const unsigned char* p = der.data();
  EVP_PKEY* pkey = d2i_PUBKEY_ex(nullptr, &p, long(der.size()), provider->defaultLibctx(), nullptr);
  const char* algorithm = !pkey                           ? nullptr
                          : EVP_PKEY_is_a(pkey, kEc)      ? kEc
                          : EVP_PKEY_is_a(pkey, kEd25519) ? kEd25519
                          : EVP_PKEY_is_a(pkey, kRsa)     ? kRsa
                                                          : nullptr;
  if (!algorithm) {
    EVP_PKEY_free(pkey);
    VHSM_RAISE(provider, kUnsupported, "keyd returned a public key of an unknown type");
    return nullptr;
  }
  auto* key = new AsymmetricKey(provider, algorithm);
  key->pkey = pkey;
  key->keyId = keyId;
  if (std::strcmp(algorithm, kEd25519) != 0) {  // Ed25519 validates on a digest-sign context
    key->verifyTemplate = EVP_PKEY_CTX_new_from_pkey(provider->defaultLibctx(), pkey, nullptr);
    if (key->verifyTemplate && EVP_PKEY_verify_init(key->verifyTemplate) <= 0) {
      EVP_PKEY_CTX_free(key->verifyTemplate);
      key->verifyTemplate = nullptr;  // signatures then make their own, as for other keys
    }
  }
  return key;
}

}  // namespace vhsm::provider
