// Signatures with EC (ECDSA), Ed25519 and RSA (PKCS#1 v1.5, PSS) keys. For a vhsm key the
// private operation is one request to keyd: ECDSA and RSA get the digest (hashed here — the
// message is the caller's, not a secret), Ed25519 the whole message. Everything else — the
// parameters, their validation, the AlgorithmIdentifier a certificate needs, verification,
// and signing with keys that are not vhsm's — is a "shadow" context of OpenSSL's default
// provider on the same public key, so the semantics are exactly the default provider's.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "provider/asymmetric_key.hpp"
#include "provider/dispatch.hpp"
#include "provider/hash_names.hpp"

namespace vhsm::provider {
namespace {

constexpr const char* kEcdsa = "ECDSA";

struct SignatureCtx {
  SignatureCtx(ProviderContext* p, const char* a) : provider(p), algorithm(a) {}
  SignatureCtx(const SignatureCtx&) = delete;
  ~SignatureCtx() { reset(); }

  void reset() {
    if (edShadow)
      EVP_MD_CTX_free(edShadow);  // owns shadow
    else
      EVP_PKEY_CTX_free(shadow);
    EVP_MD_CTX_free(digest);
    edShadow = nullptr;
    shadow = nullptr;
    digest = nullptr;
    mdName[0] = '\0';
  }
  bool isEd25519() const { return std::strcmp(algorithm, kEd25519) == 0; }
  bool signsRemotely() const { return signing && key->isVhsm(); }

  ProviderContext* provider;
  const char* algorithm;
  AsymmetricKey* key = nullptr;  // OpenSSL keeps it alive for the operation
  bool signing = false;
  EVP_PKEY_CTX* shadow = nullptr;
  EVP_MD_CTX* edShadow = nullptr;  // Ed25519 only: the default provider's one-shot context
  EVP_MD_CTX* digest = nullptr;    // ECDSA/RSA digest_sign and digest_verify: the message hash
  char mdName[64] = "";            // digest's name, for the shadow ("" when signing a digest)
  // OpenSSL 3.4's message-oriented API (sign_message_init): the data given to sign and verify
  // is the message, not its digest; verify_message_final checks the signature set earlier.
  bool message = false;
  std::vector<unsigned char> expected;
};

void* newCtx(ProviderContext* provider, const char* algorithm) {
  return new SignatureCtx(provider, algorithm);
}

void freeCtx(void* vctx) {
  delete static_cast<SignatureCtx*>(vctx);
}

void* dupCtx(void* vctx) {
  auto* from = static_cast<SignatureCtx*>(vctx);
  auto* to = new SignatureCtx(from->provider, from->algorithm);
  to->key = from->key;
  to->signing = from->signing;
  to->message = from->message;
  to->expected = from->expected;
  std::memcpy(to->mdName, from->mdName, sizeof to->mdName);
  bool ok = true;
  if (from->edShadow) {
    to->edShadow = EVP_MD_CTX_new();
    ok = to->edShadow && EVP_MD_CTX_copy_ex(to->edShadow, from->edShadow);
    if (ok) to->shadow = EVP_MD_CTX_get_pkey_ctx(to->edShadow);
  } else if (from->shadow) {
    ok = (to->shadow = EVP_PKEY_CTX_dup(from->shadow)) != nullptr;
  }
  if (ok && from->digest) {
    to->digest = EVP_MD_CTX_new();
    ok = to->digest && EVP_MD_CTX_copy_ex(to->digest, from->digest);
  }
  if (!ok) {
    delete to;
    return nullptr;
  }
  return to;
}

bool hasParams(const OSSL_PARAM params[]) {
  return params && params->key;
}

// Sets the message digest named in c->mdName (if any) on the shadow.
bool setShadowDigest(SignatureCtx* c) {
  if (!*c->mdName) return true;
  OSSL_PARAM mdParams[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, c->mdName, 0),
      OSSL_PARAM_construct_end()};
  return EVP_PKEY_CTX_set_params(c->shadow, mdParams);
}

// A signature with a vhsm key needs no shadow until its parameters are set or read (PSS
// padding, a certificate's AlgorithmIdentifier); TLS's ECDSA never does either. Making it —
// a context on the public key and the digest set on it, which the default provider resolves
// with a fetch — was a large share of the client's work per ECDSA signature (bench/README.md).
bool ensureShadow(SignatureCtx* c, const OSSL_PARAM params[] = nullptr) {
  if (c->shadow || !c->key || c->isEd25519()) return c->shadow != nullptr;
  if (c->key->verifyTemplate) {
    c->shadow = EVP_PKEY_CTX_dup(c->key->verifyTemplate);
  } else {
    c->shadow = EVP_PKEY_CTX_new_from_pkey(c->provider->defaultLibctx(), c->key->pkey, nullptr);
    if (c->shadow && EVP_PKEY_verify_init(c->shadow) <= 0) {
      EVP_PKEY_CTX_free(c->shadow);
      c->shadow = nullptr;
    }
  }
  // The digest is set on each shadow itself, never on a template that is then duplicated:
  // OpenSSL 3.0's ECDSA/RSA dupctx copies a pointer into the source's AlgorithmIdentifier
  // buffer (a use after free once the source goes; ASan found it).
  return c->shadow && (!hasParams(params) || EVP_PKEY_CTX_set_params(c->shadow, params)) &&
         setShadowDigest(c);
}

// Sets up the signature for key; mdName is used (or the key's default digest) when
// hashMessage.
int init(void* vctx, void* vkey, bool signing, bool hashMessage, const char* mdName,
         const OSSL_PARAM params[]) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (vkey) c->key = static_cast<AsymmetricKey*>(vkey);
  if (!c->key || !c->key->pkey) {
    VHSM_RAISE(c->provider, kInvalidParameter, "no key for the signature");
    return 0;
  }
  c->reset();
  c->signing = signing;
  c->message = false;
  c->expected.clear();
  OSSL_LIB_CTX* libctx = c->provider->defaultLibctx();
  bool localSign = signing && !c->key->isVhsm();
  if (c->isEd25519()) {
    if (!hashMessage) {
      VHSM_RAISE(c->provider, kUnsupported, "Ed25519 signs whole messages: use EVP_DigestSign");
      return 0;
    }
    c->edShadow = EVP_MD_CTX_new();
    auto start = localSign ? EVP_DigestSignInit_ex : EVP_DigestVerifyInit_ex;
    return c->edShadow &&
           start(c->edShadow, &c->shadow, nullptr, libctx, nullptr, c->key->pkey, params) > 0;
  }
  if (hashMessage) {
    if (!mdName || !*mdName) {
      if (EVP_PKEY_get_default_digest_name(c->key->pkey, c->mdName, sizeof c->mdName) <= 0)
        return 0;
    } else if (std::strlen(mdName) >= sizeof c->mdName) {
      VHSM_RAISE(c->provider, kInvalidParameter, std::string("no such digest: ") + mdName);
      return 0;
    } else {
      std::strcpy(c->mdName, mdName);
    }
    // Every TLS handshake comes through here: the usual digests are fetched once per provider.
    auto known = hashInfo(c->mdName);
    EVP_MD* fetched = known ? nullptr : EVP_MD_fetch(libctx, c->mdName, nullptr);
    EVP_MD* md = known ? c->provider->localDigest(known->algorithm) : fetched;
    // An error about a digest keyd does not sign names it as OpenSSL does ("SHA3-256").
    if (fetched) std::snprintf(c->mdName, sizeof c->mdName, "%s", EVP_MD_get0_name(fetched));
    c->digest = EVP_MD_CTX_new();
    bool ok = md && c->digest && EVP_DigestInit_ex2(c->digest, md, nullptr);
    EVP_MD_free(fetched);
    if (!ok) return 0;
  }
  if (localSign) {
    c->shadow = EVP_PKEY_CTX_new_from_pkey(libctx, c->key->pkey, nullptr);
    return c->shadow && EVP_PKEY_sign_init_ex(c->shadow, params) > 0 && setShadowDigest(c);
  }
  if (c->signing && !hasParams(params)) return 1;  // the shadow waits until it is needed
  return ensureShadow(c, params);
}

bool hashParam(SignatureCtx* c, const char* name, HashAlgorithm& out) {
  char value[64] = "";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(name, value, sizeof value),
                         OSSL_PARAM_construct_end()};
  if (!EVP_PKEY_CTX_get_params(c->shadow, params) || !*value) return false;
  auto info = hashInfo(value);
  if (!info) return false;
  out = info->algorithm;
  return true;
}

// keyd's parameters, read back from the shadow, which has already validated them. Without a
// shadow nothing was set since init: the digest is init's, the padding the default PKCS#1.
bool signOptions(SignatureCtx* c, SignOptions& options) {
  if (c->isEd25519()) return true;
  const char* digestName = c->mdName;
  char readBack[64] = "";
  if (c->shadow) {
    OSSL_PARAM digest[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, readBack, sizeof readBack),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX_get_params(c->shadow, digest);
    digestName = readBack;
  }
  options.raw = !*digestName;
  auto known = hashInfo(digestName);
  if (known) options.hash = known->algorithm;
  if (!options.raw && !known) {
    VHSM_RAISE(
        c->provider, kUnsupported,
        std::string("vhsm signs SHA-1, SHA-256, SHA-384 and SHA-512 digests, not ") + digestName);
    return false;
  }
  if (std::strcmp(c->algorithm, kRsa) != 0 || !c->shadow) return true;
  char padding[32] = "";
  OSSL_PARAM pad[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, padding, sizeof padding),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX_get_params(c->shadow, pad);
  if (std::strcmp(padding, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0) return true;
  if (std::strcmp(padding, OSSL_PKEY_RSA_PAD_MODE_PSS) != 0) {
    VHSM_RAISE(c->provider, kUnsupported,
               std::string("vhsm RSA signs with PKCS#1 v1.5 or PSS padding, not ") + padding);
    return false;
  }
  options.rsaPadding = RsaPadding::PSS;
  int saltLength = -1;
  OSSL_PARAM salt[] = {OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltLength),
                       OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX_get_params(c->shadow, salt);
  options.pssSaltLength = saltLength;
  if (!hashParam(c, OSSL_SIGNATURE_PARAM_MGF1_DIGEST, options.mgf1Hash))
    options.mgf1Hash = options.hash;
  return true;
}

int remoteSign(SignatureCtx* c, unsigned char* sig, size_t* siglen, size_t sigsize,
               const unsigned char* tbs, size_t tbslen) {
  SignOptions options;
  if (!signOptions(c, options)) return 0;
  try {
    auto signature = c->provider->client().sign(c->key->keyId, options, {tbs, tbslen});
    if (signature.size() > sigsize) {
      VHSM_RAISE(c->provider, kInvalidParameter, "signature buffer too small");
      return 0;
    }
    std::memcpy(sig, signature.data(), signature.size());
    *siglen = signature.size();
    return 1;
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    return 0;
  }
}

int signMessage(SignatureCtx* c, unsigned char* sig, size_t* siglen, size_t sigsize,
                const unsigned char* tbs, size_t tbslen);
int verifyMessage(SignatureCtx* c, const unsigned char* sig, size_t siglen,
                  const unsigned char* tbs, size_t tbslen);

// Signs tbs as a digest (ECDSA, RSA); with no buffer, says how large a signature can be.
int signDigest(SignatureCtx* c, unsigned char* sig, size_t* siglen, size_t sigsize,
               const unsigned char* tbs, size_t tbslen) {
  if (!sig) {
    *siglen = size_t(EVP_PKEY_get_size(c->key->pkey));
    return 1;
  }
  if (c->signsRemotely()) return remoteSign(c, sig, siglen, sigsize, tbs, tbslen);
  *siglen = sigsize;
  return EVP_PKEY_sign(c->shadow, sig, siglen, tbs, tbslen) > 0;
}

int verifyDigest(SignatureCtx* c, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
                 size_t tbslen) {
  return EVP_PKEY_verify(c->shadow, sig, siglen, tbs, tbslen) > 0;
}

int sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize, const unsigned char* tbs,
         size_t tbslen) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (c->message && sig) return signMessage(c, sig, siglen, sigsize, tbs, tbslen);
  return signDigest(c, sig, siglen, sigsize, tbs, tbslen);
}

int verify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
           size_t tbslen) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (c->message) return verifyMessage(c, sig, siglen, tbs, tbslen);
  return verifyDigest(c, sig, siglen, tbs, tbslen);
}

int digestUpdate(void* vctx, const unsigned char* data, size_t length) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  return c->digest && EVP_DigestUpdate(c->digest, data, length);
}

bool finishDigest(SignatureCtx* c, unsigned char* out, unsigned int& length) {
  return c->digest && EVP_DigestFinal_ex(c->digest, out, &length);
}

int digestSignFinal(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (!sig) return signDigest(c, nullptr, siglen, sigsize, nullptr, 0);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  return finishDigest(c, md, length) && signDigest(c, sig, siglen, sigsize, md, length);
}

int digestVerifyFinal(void* vctx, const unsigned char* sig, size_t siglen) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  return finishDigest(c, md, length) && verifyDigest(c, sig, siglen, md, length);
}

// Ed25519: one-shot over the whole message.
int digestSign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize,
               const unsigned char* tbs, size_t tbslen) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (!sig) return signDigest(c, nullptr, siglen, sigsize, nullptr, 0);
  if (c->signsRemotely()) return remoteSign(c, sig, siglen, sigsize, tbs, tbslen);
  *siglen = sigsize;
  return EVP_DigestSign(c->edShadow, sig, siglen, tbs, tbslen) > 0;
}

int digestVerify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
                 size_t tbslen) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  return EVP_DigestVerify(c->edShadow, sig, siglen, tbs, tbslen) > 0;
}

// A message given whole after sign_message_init: hashed here (ECDSA, RSA) or signed whole
// (Ed25519), as EVP_DigestSign would.
int signMessage(SignatureCtx* c, unsigned char* sig, size_t* siglen, size_t sigsize,
                const unsigned char* tbs, size_t tbslen) {
  if (c->isEd25519()) return digestSign(c, sig, siglen, sigsize, tbs, tbslen);
  return digestUpdate(c, tbs, tbslen) && digestSignFinal(c, sig, siglen, sigsize);
}

int verifyMessage(SignatureCtx* c, const unsigned char* sig, size_t siglen,
                  const unsigned char* tbs, size_t tbslen) {
  if (c->isEd25519()) return digestVerify(c, sig, siglen, tbs, tbslen);
  return digestUpdate(c, tbs, tbslen) && digestVerifyFinal(c, sig, siglen);
}

#ifdef VHSM_OPENSSL_SIGN_MESSAGE
int verifyMessageFinal(void* vctx) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  if (c->expected.empty()) {
    VHSM_RAISE(c->provider, kInvalidParameter,
               "set the signature (EVP_PKEY_CTX_set_signature) before verify_message_final");
    return 0;
  }
  return digestVerifyFinal(c, c->expected.data(), c->expected.size());
}
#endif

int getCtxParams(void* vctx, OSSL_PARAM params[]) {
  auto* c = static_cast<SignatureCtx*>(vctx);
  return ensureShadow(c) && EVP_PKEY_CTX_get_params(c->shadow, params);
}

int setCtxParams(void* vctx, const OSSL_PARAM params[]) {
  auto* c = static_cast<SignatureCtx*>(vctx);
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
  // The signature verify_message_final checks is the context's, not the shadow's.
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_SIGNATURE)) {
    const void* data = nullptr;
    size_t length = 0;
    if (!OSSL_PARAM_get_octet_string_ptr(p, &data, &length)) return 0;
    auto* bytes = static_cast<const unsigned char*>(data);
    c->expected.assign(bytes, bytes + length);
    std::vector<OSSL_PARAM> rest;
    for (const OSSL_PARAM* q = params; q->key; ++q)
      if (q != p) rest.push_back(*q);
    if (rest.empty()) return 1;
    rest.push_back(OSSL_PARAM_construct_end());
    return ensureShadow(c) && EVP_PKEY_CTX_set_params(c->shadow, rest.data());
  }
#endif
  return ensureShadow(c) && EVP_PKEY_CTX_set_params(c->shadow, params);
}

// The default provider's tables for the same algorithm.
template <bool Settable>
const OSSL_PARAM* paramTable(ProviderContext* p, const char* algorithm) {
  EVP_SIGNATURE* s = EVP_SIGNATURE_fetch(p->defaultLibctx(), algorithm, nullptr);
  const OSSL_PARAM* table =
      Settable ? EVP_SIGNATURE_settable_ctx_params(s) : EVP_SIGNATURE_gettable_ctx_params(s);
  EVP_SIGNATURE_free(s);
  return table;
}

template <const char* const& Algorithm>
struct Functions {
  static void* newCtx(void* provctx, const char*) {
    return provider::newCtx(static_cast<ProviderContext*>(provctx), Algorithm);
  }
  static int signInit(void* c, void* key, const OSSL_PARAM params[]) {
    return init(c, key, true, false, nullptr, params);
  }
  static int verifyInit(void* c, void* key, const OSSL_PARAM params[]) {
    return init(c, key, false, false, nullptr, params);
  }
  static int digestSignInit(void* c, const char* md, void* key, const OSSL_PARAM params[]) {
    return init(c, key, true, true, md, params);
  }
  static int digestVerifyInit(void* c, const char* md, void* key, const OSSL_PARAM params[]) {
    return init(c, key, false, true, md, params);
  }
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
  static int messageInit(void* c, void* key, bool signing, const char* md,
                         const OSSL_PARAM params[]) {
    if (!init(c, key, signing, true, md, params)) return 0;
    static_cast<SignatureCtx*>(c)->message = true;
    return 1;
  }
  static int signMessageInit(void* c, void* key, const OSSL_PARAM params[]) {
    return messageInit(c, key, true, nullptr, params);
  }
  static int verifyMessageInit(void* c, void* key, const OSSL_PARAM params[]) {
    return messageInit(c, key, false, nullptr, params);
  }
#endif
  static const OSSL_PARAM* gettable(void* vctx, void* provctx) {
    auto* p =
        vctx ? static_cast<SignatureCtx*>(vctx)->provider : static_cast<ProviderContext*>(provctx);
    return paramTable<false>(p, Algorithm);
  }
  static const OSSL_PARAM* settable(void* vctx, void* provctx) {
    auto* p =
        vctx ? static_cast<SignatureCtx*>(vctx)->provider : static_cast<ProviderContext*>(provctx);
    return paramTable<true>(p, Algorithm);
  }
};

#define VHSM_COMMON_SIGNATURE_FUNCTIONS(A)                                             \
  VHSM_DISPATCH(SIGNATURE_NEWCTX, signature_newctx, Functions<A>::newCtx),             \
      VHSM_DISPATCH(SIGNATURE_FREECTX, signature_freectx, freeCtx),                    \
      VHSM_DISPATCH(SIGNATURE_DUPCTX, signature_dupctx, dupCtx),                       \
      VHSM_DISPATCH(SIGNATURE_DIGEST_SIGN_INIT, signature_digest_sign_init,            \
                    Functions<A>::digestSignInit),                                     \
      VHSM_DISPATCH(SIGNATURE_DIGEST_VERIFY_INIT, signature_digest_verify_init,        \
                    Functions<A>::digestVerifyInit),                                   \
      VHSM_DISPATCH(SIGNATURE_GET_CTX_PARAMS, signature_get_ctx_params, getCtxParams), \
      VHSM_DISPATCH(SIGNATURE_GETTABLE_CTX_PARAMS, signature_gettable_ctx_params,      \
                    Functions<A>::gettable),                                           \
      VHSM_DISPATCH(SIGNATURE_SET_CTX_PARAMS, signature_set_ctx_params, setCtxParams), \
      VHSM_DISPATCH(SIGNATURE_SETTABLE_CTX_PARAMS, signature_settable_ctx_params,      \
                    Functions<A>::settable)

// ECDSA and RSA: sign a digest, or hash a message here and sign its digest.
template <const char* const& A>
const OSSL_DISPATCH kDigestSigner[] = {
    VHSM_COMMON_SIGNATURE_FUNCTIONS(A),
    VHSM_DISPATCH(SIGNATURE_SIGN_INIT, signature_sign_init, Functions<A>::signInit),
    VHSM_DISPATCH(SIGNATURE_SIGN, signature_sign, sign),
    VHSM_DISPATCH(SIGNATURE_VERIFY_INIT, signature_verify_init, Functions<A>::verifyInit),
    VHSM_DISPATCH(SIGNATURE_VERIFY, signature_verify, verify),
    VHSM_DISPATCH(SIGNATURE_DIGEST_SIGN_UPDATE, signature_digest_sign_update, digestUpdate),
    VHSM_DISPATCH(SIGNATURE_DIGEST_SIGN_FINAL, signature_digest_sign_final, digestSignFinal),
    VHSM_DISPATCH(SIGNATURE_DIGEST_VERIFY_UPDATE, signature_digest_verify_update, digestUpdate),
    VHSM_DISPATCH(SIGNATURE_DIGEST_VERIFY_FINAL, signature_digest_verify_final, digestVerifyFinal),
    {0, nullptr}};

// Ed25519: one-shot over the whole message, as in the default provider.
const OSSL_DISPATCH kMessageSigner[] = {
    VHSM_COMMON_SIGNATURE_FUNCTIONS(kEd25519),
    VHSM_DISPATCH(SIGNATURE_DIGEST_SIGN, signature_digest_sign, digestSign),
    VHSM_DISPATCH(SIGNATURE_DIGEST_VERIFY, signature_digest_verify, digestVerify),
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
    // EVP_PKEY_sign_message_init and one EVP_PKEY_sign/verify over the message, as the
    // default provider offers Ed25519 (no streaming).
    VHSM_DISPATCH(SIGNATURE_SIGN_MESSAGE_INIT, signature_sign_message_init,
                  Functions<kEd25519>::signMessageInit),
    VHSM_DISPATCH(SIGNATURE_SIGN, signature_sign, sign),
    VHSM_DISPATCH(SIGNATURE_VERIFY_MESSAGE_INIT, signature_verify_message_init,
                  Functions<kEd25519>::verifyMessageInit),
    VHSM_DISPATCH(SIGNATURE_VERIFY, signature_verify, verify),
#endif
    {0, nullptr}};

#ifdef VHSM_OPENSSL_SIGN_MESSAGE
// ECDSA-SHA256, RSA-SHA384 and the like: a key type and a digest fixed by the algorithm, for
// EVP_PKEY_sign_message_init (streaming with update/final) and EVP_PKEY_sign over a message.
template <const char* const& A, const char* const& KeyType, const char* const& Md>
struct Composite {
  static int signInit(void* c, void* key, const OSSL_PARAM params[]) {
    return Functions<A>::messageInit(c, key, true, Md, params);
  }
  static int verifyInit(void* c, void* key, const OSSL_PARAM params[]) {
    return Functions<A>::messageInit(c, key, false, Md, params);
  }
  static const char** keyTypes() {
    static const char* types[] = {KeyType, nullptr};
    return types;
  }
};

template <const char* const& A, const char* const& KeyType, const char* const& Md>
const OSSL_DISPATCH kComposite[] = {
    VHSM_DISPATCH(SIGNATURE_NEWCTX, signature_newctx, Functions<A>::newCtx),
    VHSM_DISPATCH(SIGNATURE_FREECTX, signature_freectx, freeCtx),
    VHSM_DISPATCH(SIGNATURE_DUPCTX, signature_dupctx, dupCtx),
    VHSM_DISPATCH(SIGNATURE_QUERY_KEY_TYPES, signature_query_key_types,
                  (Composite<A, KeyType, Md>::keyTypes)),
    VHSM_DISPATCH(SIGNATURE_SIGN_MESSAGE_INIT, signature_sign_message_init,
                  (Composite<A, KeyType, Md>::signInit)),
    VHSM_DISPATCH(SIGNATURE_SIGN_MESSAGE_UPDATE, signature_sign_message_update, digestUpdate),
    VHSM_DISPATCH(SIGNATURE_SIGN_MESSAGE_FINAL, signature_sign_message_final, digestSignFinal),
    VHSM_DISPATCH(SIGNATURE_SIGN, signature_sign, sign),
    VHSM_DISPATCH(SIGNATURE_VERIFY_MESSAGE_INIT, signature_verify_message_init,
                  (Composite<A, KeyType, Md>::verifyInit)),
    VHSM_DISPATCH(SIGNATURE_VERIFY_MESSAGE_UPDATE, signature_verify_message_update, digestUpdate),
    VHSM_DISPATCH(SIGNATURE_VERIFY_MESSAGE_FINAL, signature_verify_message_final,
                  verifyMessageFinal),
    VHSM_DISPATCH(SIGNATURE_VERIFY, signature_verify, verify),
    VHSM_DISPATCH(SIGNATURE_GET_CTX_PARAMS, signature_get_ctx_params, getCtxParams),
    VHSM_DISPATCH(SIGNATURE_GETTABLE_CTX_PARAMS, signature_gettable_ctx_params,
                  Functions<A>::gettable),
    VHSM_DISPATCH(SIGNATURE_SET_CTX_PARAMS, signature_set_ctx_params, setCtxParams),
    VHSM_DISPATCH(SIGNATURE_SETTABLE_CTX_PARAMS, signature_settable_ctx_params,
                  Functions<A>::settable),
    {0, nullptr}};

constexpr const char* kSha1 = "SHA1";
constexpr const char* kSha256 = "SHA256";
constexpr const char* kSha384 = "SHA384";
constexpr const char* kSha512 = "SHA512";
#endif

}  // namespace

extern const OSSL_DISPATCH* const kEcdsaSignatureFunctions = kDigestSigner<kEcdsa>;
extern const OSSL_DISPATCH* const kRsaSignatureFunctions = kDigestSigner<kRsa>;
extern const OSSL_DISPATCH* const kEd25519SignatureFunctions = kMessageSigner;
#ifdef VHSM_OPENSSL_SIGN_MESSAGE
extern const OSSL_DISPATCH* const kEcdsaSha1Functions = kComposite<kEcdsa, kEc, kSha1>;
extern const OSSL_DISPATCH* const kEcdsaSha256Functions = kComposite<kEcdsa, kEc, kSha256>;
extern const OSSL_DISPATCH* const kEcdsaSha384Functions = kComposite<kEcdsa, kEc, kSha384>;
extern const OSSL_DISPATCH* const kEcdsaSha512Functions = kComposite<kEcdsa, kEc, kSha512>;
extern const OSSL_DISPATCH* const kRsaSha1Functions = kComposite<kRsa, kRsa, kSha1>;
extern const OSSL_DISPATCH* const kRsaSha256Functions = kComposite<kRsa, kRsa, kSha256>;
extern const OSSL_DISPATCH* const kRsaSha384Functions = kComposite<kRsa, kRsa, kSha384>;
extern const OSSL_DISPATCH* const kRsaSha512Functions = kComposite<kRsa, kRsa, kSha512>;
#endif

}  // namespace vhsm::provider
