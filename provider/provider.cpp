// The provider's entry point and its static algorithm tables. What vhsm offers never depends
// on keyd being reachable: OpenSSL caches these answers, and keyd is contacted only by an
// operation that needs it.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>

#include <cstring>

#include "provider/dispatch.hpp"
#include "provider/preference.hpp"
#include "provider/provider_ctx.hpp"

namespace vhsm::provider {

extern const OSSL_DISPATCH kHmacFunctions[];
extern const OSSL_DISPATCH* const kSha1Functions;
extern const OSSL_DISPATCH* const kSha256Functions;
extern const OSSL_DISPATCH* const kSha384Functions;
extern const OSSL_DISPATCH* const kSha512Functions;
extern const OSSL_DISPATCH* const kAes128GcmFunctions;
extern const OSSL_DISPATCH* const kAes256GcmFunctions;
extern const OSSL_DISPATCH* const kEcKeymgmtFunctions;
extern const OSSL_DISPATCH* const kEd25519KeymgmtFunctions;
extern const OSSL_DISPATCH* const kRsaKeymgmtFunctions;
extern const OSSL_DISPATCH* const kEcdsaSignatureFunctions;
extern const OSSL_DISPATCH* const kEd25519SignatureFunctions;
extern const OSSL_DISPATCH* const kRsaSignatureFunctions;
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
extern const OSSL_DISPATCH* const kEcdsaSha1Functions;
extern const OSSL_DISPATCH* const kEcdsaSha256Functions;
extern const OSSL_DISPATCH* const kEcdsaSha384Functions;
extern const OSSL_DISPATCH* const kEcdsaSha512Functions;
extern const OSSL_DISPATCH* const kRsaSha1Functions;
extern const OSSL_DISPATCH* const kRsaSha256Functions;
extern const OSSL_DISPATCH* const kRsaSha384Functions;
extern const OSSL_DISPATCH* const kRsaSha512Functions;
#endif
#ifdef VHSM_OPENSSL_SKEY
extern const OSSL_DISPATCH* const kAesSkeymgmtFunctions;
extern const OSSL_DISPATCH* const kGenericSkeymgmtFunctions;
#endif
extern const OSSL_DISPATCH kKeyStoreFunctions[];
extern const OSSL_DISPATCH* const kPublicKeyDerEncoderFunctions;
extern const OSSL_DISPATCH* const kPublicKeyPemEncoderFunctions;
extern const OSSL_DISPATCH* const kUriPemDecoderFunctions;
extern const OSSL_DISPATCH* const kEcUriDecoderFunctions;
extern const OSSL_DISPATCH* const kEd25519UriDecoderFunctions;
extern const OSSL_DISPATCH* const kRsaUriDecoderFunctions;

namespace {

// Names exactly as OpenSSL's default provider spells them, so both share one name map.
// HMAC and AES-GCM carry vhsm.keyref: the preference (preference.hpp) picks them for any fetch.
const OSSL_ALGORITHM kMacs[] = {
    {"HMAC", kKeyRefAlgorithmProperties, kHmacFunctions, "HMAC by vhsm key"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* digests() {
  static const OSSL_ALGORITHM table[] = {
      {"SHA1:SHA-1:SSL3-SHA1:1.3.14.3.2.26", "provider=vhsm", kSha1Functions, "SHA-1 in keyd"},
      {"SHA2-256:SHA-256:SHA256:2.16.840.1.101.3.4.2.1", "provider=vhsm", kSha256Functions,
       "SHA-256 in keyd"},
      {"SHA2-384:SHA-384:SHA384:2.16.840.1.101.3.4.2.2", "provider=vhsm", kSha384Functions,
       "SHA-384 in keyd"},
      {"SHA2-512:SHA-512:SHA512:2.16.840.1.101.3.4.2.3", "provider=vhsm", kSha512Functions,
       "SHA-512 in keyd"},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

const OSSL_ALGORITHM* ciphers() {
  static const OSSL_ALGORITHM table[] = {
      {"AES-128-GCM:id-aes128-GCM:2.16.840.1.101.3.4.1.6", kKeyRefAlgorithmProperties,
       kAes128GcmFunctions, "AES-128-GCM by vhsm key"},
      {"AES-256-GCM:id-aes256-GCM:2.16.840.1.101.3.4.1.46", kKeyRefAlgorithmProperties,
       kAes256GcmFunctions, "AES-256-GCM by vhsm key"},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

constexpr const char* kEcNames = "EC:id-ecPublicKey:1.2.840.10045.2.1";
constexpr const char* kEd25519Names = "ED25519:1.3.101.112";
constexpr const char* kRsaNames = "RSA:rsaEncryption:1.2.840.113549.1.1.1";

const OSSL_ALGORITHM* keymgmts() {
  static const OSSL_ALGORITHM table[] = {
      {kEcNames, "provider=vhsm", kEcKeymgmtFunctions, "EC keys held by vhsm"},
      {kEd25519Names, "provider=vhsm", kEd25519KeymgmtFunctions, "Ed25519 keys held by vhsm"},
      {kRsaNames, "provider=vhsm", kRsaKeymgmtFunctions, "RSA keys held by vhsm"},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

const OSSL_ALGORITHM* signatures() {
  static const OSSL_ALGORITHM table[] = {
      {"ECDSA", "provider=vhsm", kEcdsaSignatureFunctions, "ECDSA in keyd"},
      {kEd25519Names, "provider=vhsm", kEd25519SignatureFunctions, "Ed25519 in keyd"},
      {kRsaNames, "provider=vhsm", kRsaSignatureFunctions, "RSA PKCS#1 v1.5 and PSS in keyd"},
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
      // For EVP_PKEY_sign_message_init (OpenSSL 3.4), named exactly as the default provider
      // names them: before 3.4 some of these names belong to other objects.
      {"ECDSA-SHA1:ECDSA-SHA-1:ecdsa-with-SHA1:1.2.840.10045.4.1", "provider=vhsm",
       kEcdsaSha1Functions, "ECDSA with SHA-1 in keyd"},
      {"ECDSA-SHA2-256:ECDSA-SHA256:ecdsa-with-SHA256:1.2.840.10045.4.3.2", "provider=vhsm",
       kEcdsaSha256Functions, "ECDSA with SHA-256 in keyd"},
      {"ECDSA-SHA2-384:ECDSA-SHA384:ecdsa-with-SHA384:1.2.840.10045.4.3.3", "provider=vhsm",
       kEcdsaSha384Functions, "ECDSA with SHA-384 in keyd"},
      {"ECDSA-SHA2-512:ECDSA-SHA512:ecdsa-with-SHA512:1.2.840.10045.4.3.4", "provider=vhsm",
       kEcdsaSha512Functions, "ECDSA with SHA-512 in keyd"},
      {"RSA-SHA1:RSA-SHA-1:sha1WithRSAEncryption:1.2.840.113549.1.1.5", "provider=vhsm",
       kRsaSha1Functions, "RSA with SHA-1 in keyd"},
      {"RSA-SHA2-256:RSA-SHA256:sha256WithRSAEncryption:1.2.840.113549.1.1.11", "provider=vhsm",
       kRsaSha256Functions, "RSA with SHA-256 in keyd"},
      {"RSA-SHA2-384:RSA-SHA384:sha384WithRSAEncryption:1.2.840.113549.1.1.12", "provider=vhsm",
       kRsaSha384Functions, "RSA with SHA-384 in keyd"},
      {"RSA-SHA2-512:RSA-SHA512:sha512WithRSAEncryption:1.2.840.113549.1.1.13", "provider=vhsm",
       kRsaSha512Functions, "RSA with SHA-512 in keyd"},
#endif
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

#ifdef VHSM_OPENSSL_SKEY
// provider=vhsm only: see skeymgmt.cpp.
const OSSL_ALGORITHM* skeymgmts() {
  static const OSSL_ALGORITHM table[] = {
      {"AES", "provider=vhsm", kAesSkeymgmtFunctions, "AES keys held by vhsm"},
      {"GENERIC-SECRET", "provider=vhsm", kGenericSkeymgmtFunctions, "HMAC keys held by vhsm"},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}
#endif

const OSSL_ALGORITHM kStores[] = {
    {"vhsm", "provider=vhsm", kKeyStoreFunctions, "vhsm:<id> key references"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* encoders() {
  static const OSSL_ALGORITHM table[] = {
      {kEcNames, "provider=vhsm,output=der,structure=SubjectPublicKeyInfo",
       kPublicKeyDerEncoderFunctions, nullptr},
      {kEcNames, "provider=vhsm,output=pem,structure=SubjectPublicKeyInfo",
       kPublicKeyPemEncoderFunctions, nullptr},
      {kEd25519Names, "provider=vhsm,output=der,structure=SubjectPublicKeyInfo",
       kPublicKeyDerEncoderFunctions, nullptr},
      {kEd25519Names, "provider=vhsm,output=pem,structure=SubjectPublicKeyInfo",
       kPublicKeyPemEncoderFunctions, nullptr},
      {kRsaNames, "provider=vhsm,output=der,structure=SubjectPublicKeyInfo",
       kPublicKeyDerEncoderFunctions, nullptr},
      {kRsaNames, "provider=vhsm,output=pem,structure=SubjectPublicKeyInfo",
       kPublicKeyPemEncoderFunctions, nullptr},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

const OSSL_ALGORITHM* decoders() {
  static const OSSL_ALGORITHM table[] = {
      {"DER", "provider=vhsm,input=pem", kUriPemDecoderFunctions, "vhsm key URI file"},
      {kEcNames, "provider=vhsm,input=der,structure=vhsm-key-uri", kEcUriDecoderFunctions,
       "vhsm key URI"},
      {kEd25519Names, "provider=vhsm,input=der,structure=vhsm-key-uri", kEd25519UriDecoderFunctions,
       "vhsm key URI"},
      {kRsaNames, "provider=vhsm,input=der,structure=vhsm-key-uri", kRsaUriDecoderFunctions,
       "vhsm key URI"},
      {nullptr, nullptr, nullptr, nullptr}};
  return table;
}

const OSSL_ALGORITHM* queryOperation(void*, int operation, int* noCache) {
  *noCache = 0;
  switch (operation) {
    case OSSL_OP_MAC: return kMacs;
    case OSSL_OP_DIGEST: return digests();
    case OSSL_OP_CIPHER: return ciphers();
    case OSSL_OP_KEYMGMT: return keymgmts();
    case OSSL_OP_SIGNATURE: return signatures();
    case OSSL_OP_STORE: return kStores;
#ifdef VHSM_OPENSSL_SKEY
    case OSSL_OP_SKEYMGMT: return skeymgmts();
#endif
    case OSSL_OP_ENCODER: return encoders();
    case OSSL_OP_DECODER: return decoders();
    default: return nullptr;
  }
}

// libssl offers a TLS group only when the key management it fetches for the group comes from
// the provider that announced the group. Under default_properties = ?provider=vhsm that is
// vhsm's EC key management, so vhsm announces the NIST curves too (their keys are made
// in-process, see keymgmt.cpp), or ECDHE on them would silently disappear.
struct TlsGroup {
  const char* name;
  const char* internalName;
  unsigned int id;
  unsigned int securityBits;
};
constexpr TlsGroup kTlsGroups[] = {
    {"secp256r1", "prime256v1", 23, 128}, {"P-256", "prime256v1", 23, 128},
    {"secp384r1", "secp384r1", 24, 192},  {"P-384", "secp384r1", 24, 192},
    {"secp521r1", "secp521r1", 25, 256},  {"P-521", "secp521r1", 25, 256}};

int getCapabilities(void*, const char* capability, OSSL_CALLBACK* callback, void* arg) {
  if (std::strcmp(capability, "TLS-GROUP") != 0) return 0;
  for (const auto& g : kTlsGroups) {
    unsigned int id = g.id, bits = g.securityBits, isKem = 0;
    int minTls = TLS1_VERSION, maxTls = 0, minDtls = DTLS1_VERSION, maxDtls = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, const_cast<char*>(g.name),
                                         0),
        OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,
                                         const_cast<char*>(g.internalName), 0),
        OSSL_PARAM_construct_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &id),
        OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, const_cast<char*>("EC"), 0),
        OSSL_PARAM_construct_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &bits),
        OSSL_PARAM_construct_uint(OSSL_CAPABILITY_TLS_GROUP_IS_KEM, &isKem),
        OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &minTls),
        OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &maxTls),
        OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &minDtls),
        OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &maxDtls),
        OSSL_PARAM_construct_end()};
    if (!callback(params, arg)) return 0;
  }
  return 1;
}

const OSSL_PARAM* gettableParams(void*) {
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, nullptr, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, nullptr, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, nullptr, 0),
      OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, nullptr, 0), OSSL_PARAM_END};
  return params;
}

int getParams(void*, OSSL_PARAM params[]) {
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) &&
      !OSSL_PARAM_set_utf8_ptr(p, "vhsm: keys held by vhsm-keyd"))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) &&
      !OSSL_PARAM_set_utf8_ptr(p, VHSM_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) &&
      !OSSL_PARAM_set_utf8_ptr(p, "vhsm " VHSM_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) && !OSSL_PARAM_set_int(p, 1))
    return 0;
  return 1;
}

const OSSL_ITEM* getReasonStrings(void*) {
  return reasonStrings();
}

void teardown(void* provctx) {
  delete static_cast<ProviderContext*>(provctx);
}

const OSSL_DISPATCH kProviderFunctions[] = {
    VHSM_DISPATCH(PROVIDER_TEARDOWN, provider_teardown, teardown),
    VHSM_DISPATCH(PROVIDER_GETTABLE_PARAMS, provider_gettable_params, gettableParams),
    VHSM_DISPATCH(PROVIDER_GET_PARAMS, provider_get_params, getParams),
    VHSM_DISPATCH(PROVIDER_QUERY_OPERATION, provider_query_operation, queryOperation),
    VHSM_DISPATCH(PROVIDER_GET_REASON_STRINGS, provider_get_reason_strings, getReasonStrings),
    VHSM_DISPATCH(PROVIDER_GET_CAPABILITIES, provider_get_capabilities, getCapabilities),
    {0, nullptr}};

}  // namespace
}  // namespace vhsm::provider

extern "C" __attribute__((visibility("default"))) int OSSL_provider_init(
    const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in, const OSSL_DISPATCH** out,
    void** provctx) {
  try {
    *provctx = new vhsm::provider::ProviderContext(handle, in);
  } catch (...) {
    return 0;
  }
  *out = vhsm::provider::kProviderFunctions;
  return 1;
}
