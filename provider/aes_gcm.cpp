// AES-128-GCM and AES-256-GCM. With a key reference — the key buffer holding "vhsm:<id>"
// zero-padded to the key length, or the parameter vhsm-key-uri with a NULL key — the cipher
// runs in keyd; any other key goes to OpenSSL's default AES-GCM (passthrough.hpp): libssl's
// record encryption under default_properties = ?provider=vhsm.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

#include "provider/dispatch.hpp"
#include "provider/key_uri.hpp"
#include "provider/provider_ctx.hpp"
#include "provider/symmetric_key.hpp"

namespace vhsm::provider {
namespace {

constexpr size_t kDefaultIvLength = 12;
constexpr size_t kMaxTagLength = 16;

// The default provider's IV rules, for keys in keyd too: one IV serves one message. After a
// final, or a change of IV length, no AAD or data is taken until a new IV is given, so a
// re-initialisation that keeps the IV cannot encrypt a second message under it.
enum class IvState { none, fresh, used };

struct GcmCtx {
  GcmCtx(ProviderContext* p, size_t k) : provider(p), keyBytes(k) {}
  ProviderContext* provider;
  size_t keyBytes;
  // The default AES-GCM's context, always there: EVP asks for key and IV lengths before any
  // init, and parameters (IV length, TLS settings) must reach it in order.
  void* local = nullptr;
  bool encrypt = true;
  // Remote mode: the key stays in keyd.
  std::string keyId;
  Bytes iv;
  IvState ivState = IvState::none;
  size_t ivLength = kDefaultIvLength;
  Bytes pendingAad;
  Bytes tag;  // encrypt: computed at final; decrypt: expected, set before final
  size_t tagLength = kMaxTagLength;
  std::optional<GcmStream> stream;

  bool remote() const { return !keyId.empty(); }
  const DefaultCipher& cipher() const { return provider->localAesGcm(keyBytes); }
  ~GcmCtx() {
    if (local) cipher().freectx(local);
  }
};

template <size_t KeyBytes>
void* gcmNew(void* provctx) {
  auto* provider = static_cast<ProviderContext*>(provctx);
  const DefaultCipher& cipher = provider->localAesGcm(KeyBytes);
  if (!cipher.complete()) return nullptr;
  auto* c = new GcmCtx(provider, KeyBytes);
  c->local = cipher.newctx(cipher.provctx);
  if (!c->local) {
    delete c;
    return nullptr;
  }
  return c;
}

void gcmFree(void* ctx) {
  delete static_cast<GcmCtx*>(ctx);
}

void* gcmDup(void* ctx) {
  auto* c = static_cast<GcmCtx*>(ctx);
  auto* copy = new GcmCtx(c->provider, c->keyBytes);
  copy->encrypt = c->encrypt;
  copy->keyId = c->keyId;
  copy->iv = c->iv;
  copy->ivState = c->ivState;
  copy->ivLength = c->ivLength;
  copy->pendingAad = c->pendingAad;
  copy->tag = c->tag;
  copy->tagLength = c->tagLength;
  copy->local = c->cipher().dupctx(c->local);
  try {
    // keyd copies a started cipher's state itself.
    if (c->stream) copy->stream.emplace(c->stream->clone());
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    delete copy;
    return nullptr;
  }
  if (!copy->local) {
    delete copy;
    return nullptr;
  }
  return copy;
}

int gcmSetParams(void* ctx, const OSSL_PARAM params[]);
int remoteInit(GcmCtx* c, const unsigned char* iv, size_t ivLength);

int localInit(GcmCtx* c, const unsigned char* key, size_t keyLength, const unsigned char* iv,
              size_t ivLength) {
  auto init = c->encrypt ? c->cipher().encryptInit : c->cipher().decryptInit;
  return init(c->local, key, keyLength, iv, ivLength, nullptr);
}

int gcmInit(void* ctx, const unsigned char* key, size_t keyLength, const unsigned char* iv,
            size_t ivLength, const OSSL_PARAM params[], bool encrypt) {
  auto* c = static_cast<GcmCtx*>(ctx);
  c->encrypt = encrypt;
  // The direction first, then the parameters, then key and IV: as EVP would on its own context.
  if (!localInit(c, nullptr, 0, nullptr, 0)) return 0;
  if (!gcmSetParams(ctx, params)) return 0;
  if (key && keyLength != c->keyBytes) {
    VHSM_RAISE(c->provider, kInvalidParameter, "wrong key length for this cipher");
    return 0;
  }
  if (key) {
    std::string id;
    switch (parseKeyRef(key, keyLength, id)) {
      case KeyRef::invalid:
        VHSM_RAISE(c->provider, kInvalidKeyUri, "not a valid vhsm:<id> key reference");
        return 0;
      case KeyRef::valid: c->keyId = id; break;
      case KeyRef::notVhsm: c->keyId.clear(); break;
    }
  }
  if (!c->remote()) return localInit(c, key, keyLength, iv, ivLength);
  return remoteInit(c, iv, ivLength);
}

int gcmEncryptInit(void* ctx, const unsigned char* key, size_t keyLength, const unsigned char* iv,
                   size_t ivLength, const OSSL_PARAM params[]) {
  return gcmInit(ctx, key, keyLength, iv, ivLength, params, true);
}

int gcmDecryptInit(void* ctx, const unsigned char* key, size_t keyLength, const unsigned char* iv,
                   size_t ivLength, const OSSL_PARAM params[]) {
  return gcmInit(ctx, key, keyLength, iv, ivLength, params, false);
}

#ifdef VHSM_OPENSSL_SKEY
// EVP_CipherInit_SKEY: OpenSSL hands over only skeys of vhsm's own key management.
int gcmSkeyInit(void* ctx, void* keydata, const unsigned char* iv, size_t ivLength,
                const OSSL_PARAM params[], bool encrypt) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (iv && ivLength == 0) {
    VHSM_RAISE(c->provider, kInvalidParameter, "AES-GCM IV length must be 1 to 1024 bytes");
    return 0;
  }
  if (auto* key = static_cast<const SymmetricKey*>(keydata); key && key->length != c->keyBytes) {
    VHSM_RAISE(c->provider, kInvalidParameter,
               key->uri + " is a " + std::to_string(key->length * 8) + "-bit key, not " +
                   std::to_string(c->keyBytes * 8));
    return 0;
  }
  if (!gcmInit(ctx, nullptr, 0, nullptr, 0, params, encrypt)) return 0;
  if (keydata) c->keyId = static_cast<const SymmetricKey*>(keydata)->keyId;
  if (!c->remote()) return localInit(c, nullptr, 0, iv, ivLength);
  return remoteInit(c, iv, ivLength);
}

int gcmEncryptSkeyInit(void* ctx, void* keydata, const unsigned char* iv, size_t ivLength,
                       const OSSL_PARAM params[]) {
  return gcmSkeyInit(ctx, keydata, iv, ivLength, params, true);
}

int gcmDecryptSkeyInit(void* ctx, void* keydata, const unsigned char* iv, size_t ivLength,
                       const OSSL_PARAM params[]) {
  return gcmSkeyInit(ctx, keydata, iv, ivLength, params, false);
}
#endif

// keyd's side of an init: the IV given, and a new message.
int remoteInit(GcmCtx* c, const unsigned char* iv, size_t ivLength) {
  if (iv) {
    c->iv.assign(iv, iv + ivLength);
    c->ivLength = ivLength;
    c->ivState = IvState::fresh;
  }
  c->stream.reset();
  c->pendingAad.clear();
  if (c->encrypt) c->tag.clear();
  return 1;
}

// Whether a message may take AAD or data now: under an IV not yet used for another one.
bool ivUsable(GcmCtx* c) {
  if (c->stream || c->ivState == IvState::fresh) return true;
  VHSM_RAISE(c->provider, kInvalidParameter,
             c->ivState == IvState::used
                 ? "AES-GCM needs a new IV: this one has finished a message already"
                 : "AES-GCM needs an IV");
  return false;
}

// Opens the keyd stream on first data, with the AAD gathered so far.
bool startStream(GcmCtx* c) {
  if (c->stream) return true;
  if (!ivUsable(c)) return false;
  try {
    auto& client = c->provider->client();
    c->stream.emplace(c->encrypt ? client.gcmEncryptStream(c->keyId, c->iv)
                                 : client.gcmDecryptStream(c->keyId, c->iv));
    if (!c->pendingAad.empty()) c->stream->aad(c->pendingAad);
    c->pendingAad.clear();
    return true;
  } catch (const Error& e) {
    c->stream.reset();
    VHSM_RAISE_ERROR(c->provider, e);
    return false;
  }
}

int gcmUpdate(void* ctx, unsigned char* out, size_t* outLength, size_t outSize,
              const unsigned char* in, size_t inLength) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (!c->remote()) return c->cipher().update(c->local, out, outLength, outSize, in, inLength);
  *outLength = 0;
  if (!ivUsable(c)) return 0;
  if (!out) {  // AAD
    if (c->stream) {
      try {
        c->stream->aad({in, inLength});
      } catch (const Error& e) {
        VHSM_RAISE_ERROR(c->provider, e);
        return 0;
      }
    } else {
      c->pendingAad.insert(c->pendingAad.end(), in, in + inLength);
    }
    *outLength = inLength;
    return 1;
  }
  if (inLength == 0) return 1;
  if (outSize < inLength) {
    VHSM_RAISE(c->provider, kInvalidParameter, "output buffer too small");
    return 0;
  }
  if (!startStream(c)) return 0;
  try {
    c->stream->update({in, inLength}, out);
    *outLength = inLength;
    return 1;
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    return 0;
  }
}

int gcmFinal(void* ctx, unsigned char* out, size_t* outLength, size_t outSize) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (!c->remote()) return c->cipher().final(c->local, out, outLength, outSize);
  *outLength = 0;
  if (!startStream(c)) return 0;
  c->ivState = IvState::used;  // whatever the outcome, as the default provider does
  try {
    if (c->encrypt) {
      c->stream->finalEncrypt(c->tag, uint8_t(kMaxTagLength));
    } else {
      if (c->tag.empty()) {
        VHSM_RAISE(c->provider, kInvalidParameter, "set the expected tag before decrypting");
        c->stream.reset();
        return 0;
      }
      c->stream->finalDecrypt(c->tag);
    }
    c->stream.reset();
    return 1;
  } catch (const Error& e) {
    c->stream.reset();
    VHSM_RAISE_ERROR(c->provider, e);
    return 0;
  }
}

// EVP_Cipher(): one call per piece, a NULL input meaning "final".
int gcmCipher(void* ctx, unsigned char* out, size_t* outLength, size_t outSize,
              const unsigned char* in, size_t inLength) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (!c->remote()) return c->cipher().cipher(c->local, out, outLength, outSize, in, inLength);
  if (!in) return gcmFinal(ctx, out, outLength, outSize);
  return gcmUpdate(ctx, out, outLength, outSize, in, inLength);
}

template <size_t KeyBytes>
int gcmGetParams(OSSL_PARAM params[]) {
  // As OpenSSL's own AES-GCM reports itself, so libssl and EVP treat both alike.
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_MODE)) &&
      !OSSL_PARAM_set_uint(p, EVP_CIPH_GCM_MODE))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN)) &&
      !OSSL_PARAM_set_size_t(p, KeyBytes))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN)) &&
      !OSSL_PARAM_set_size_t(p, kDefaultIvLength))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_BLOCK_SIZE)) && !OSSL_PARAM_set_size_t(p, 1))
    return 0;
  for (const char* flag : {OSSL_CIPHER_PARAM_AEAD, OSSL_CIPHER_PARAM_CUSTOM_IV})
    if ((p = OSSL_PARAM_locate(params, flag)) && !OSSL_PARAM_set_int(p, 1)) return 0;
  for (const char* flag :
       {OSSL_CIPHER_PARAM_CTS, OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, OSSL_CIPHER_PARAM_HAS_RAND_KEY})
    if ((p = OSSL_PARAM_locate(params, flag)) && !OSSL_PARAM_set_int(p, 0)) return 0;
  return 1;
}

const OSSL_PARAM* gcmGettable(void*) {
  static const OSSL_PARAM params[] = {OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, nullptr),
                                      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, nullptr),
                                      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, nullptr),
                                      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, nullptr),
                                      OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, nullptr),
                                      OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, nullptr),
                                      OSSL_PARAM_int(OSSL_CIPHER_PARAM_CTS, nullptr),
                                      OSSL_PARAM_int(OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, nullptr),
                                      OSSL_PARAM_int(OSSL_CIPHER_PARAM_HAS_RAND_KEY, nullptr),
                                      OSSL_PARAM_END};
  return params;
}

int gcmGetCtxParams(void* ctx, OSSL_PARAM params[]) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (!c->remote()) return c->cipher().getCtxParams(c->local, params);
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_KEYLEN)) &&
      !OSSL_PARAM_set_size_t(p, c->keyBytes))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_IVLEN)) &&
      !OSSL_PARAM_set_size_t(p, c->ivLength))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD_TAGLEN)) &&
      !OSSL_PARAM_set_size_t(p, c->tagLength))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD_TAG))) {
    if (!c->encrypt || c->tag.empty() || p->data_size == 0 || p->data_size > c->tag.size()) {
      VHSM_RAISE(c->provider, kInvalidParameter,
                 "the tag is available after encryption, 1-16 bytes");
      return 0;
    }
    if (!OSSL_PARAM_set_octet_string(p, c->tag.data(), p->data_size)) return 0;
  }
  if (OSSL_PARAM_locate(params, OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN)) {
    VHSM_RAISE(c->provider, kUnsupported, "TLS IV generation is not supported with a vhsm key");
    return 0;
  }
  for (const char* name : {OSSL_CIPHER_PARAM_IV, OSSL_CIPHER_PARAM_UPDATED_IV})
    if ((p = OSSL_PARAM_locate(params, name)) &&
        !OSSL_PARAM_set_octet_string(p, c->iv.data(), std::min(p->data_size, c->iv.size())))
      return 0;
  return 1;
}

int gcmSetParams(void* ctx, const OSSL_PARAM params[]) {
  auto* c = static_cast<GcmCtx*>(ctx);
  if (!params) return 1;
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, kKeyUriParam)) {
    auto uri = utf8Param(p);
    std::string id;
    if (!uri || parseKeyRef(reinterpret_cast<const unsigned char*>(uri->data()), uri->size(), id) !=
                    KeyRef::valid) {
      VHSM_RAISE(c->provider, kInvalidKeyUri, "vhsm-key-uri must be vhsm:<id>");
      return 0;
    }
    c->keyId = id;
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_IVLEN)) {
    size_t length = 0;
    if (!OSSL_PARAM_get_size_t(p, &length) || length == 0 || length > 1024) {
      VHSM_RAISE(c->provider, kInvalidParameter, "AES-GCM IV length must be 1 to 1024 bytes");
      return 0;
    }
    if (length != c->ivLength) c->ivState = IvState::none;
    c->ivLength = length;
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_CIPHER_PARAM_AEAD_TAG)) {
    if (p->data_size == 0 || p->data_size > kMaxTagLength) {
      VHSM_RAISE(c->provider, kInvalidParameter, "AES-GCM tag must be 1 to 16 bytes");
      return 0;
    }
    if (p->data) {
      c->tag.assign(static_cast<const uint8_t*>(p->data),
                    static_cast<const uint8_t*>(p->data) + p->data_size);
    }
    c->tagLength = p->data_size;
  }
  // Ordinary keys: the local cipher keeps the parameters, as the default provider would.
  if (c->remote()) {
    // TLS 1.2's record layer (its AAD and the IV it generates) is libssl's business with the
    // keys it derives; a key in keyd never takes it, and is refused rather than ignored.
    for (const char* tls : {OSSL_CIPHER_PARAM_AEAD_TLS1_AAD, OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
                            OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV})
      if (OSSL_PARAM_locate_const(params, tls)) {
        VHSM_RAISE(c->provider, kUnsupported,
                   std::string(tls) + " is not supported with a key held by vhsm");
        return 0;
      }
    return 1;
  }
  if (!OSSL_PARAM_locate_const(params, kKeyUriParam))
    return c->cipher().setCtxParams(c->local, params);
  std::vector<OSSL_PARAM> forward;
  for (const OSSL_PARAM* p = params; p->key; ++p)
    if (std::strcmp(p->key, kKeyUriParam) != 0) forward.push_back(*p);
  forward.push_back(OSSL_PARAM_construct_end());
  return c->cipher().setCtxParams(c->local, forward.data());
}

const OSSL_PARAM* gcmGettableCtx(void*, void*) {
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, nullptr),
      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, nullptr),
      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, nullptr),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_IV, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_UPDATED_IV, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, nullptr, 0),
      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TLS1_AAD_PAD, nullptr),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN, nullptr, 0),
      OSSL_PARAM_END};
  return params;
}

const OSSL_PARAM* gcmSettableCtx(void*, void*) {
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, nullptr),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_AAD, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, nullptr, 0),
      OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV, nullptr, 0),
      OSSL_PARAM_utf8_string(kKeyUriParam, nullptr, 0),
      OSSL_PARAM_END};
  return params;
}

template <size_t KeyBytes>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(CIPHER_NEWCTX, cipher_newctx, gcmNew<KeyBytes>),
    VHSM_DISPATCH(CIPHER_FREECTX, cipher_freectx, gcmFree),
    VHSM_DISPATCH(CIPHER_DUPCTX, cipher_dupctx, gcmDup),
    VHSM_DISPATCH(CIPHER_ENCRYPT_INIT, cipher_encrypt_init, gcmEncryptInit),
    VHSM_DISPATCH(CIPHER_DECRYPT_INIT, cipher_decrypt_init, gcmDecryptInit),
#ifdef VHSM_OPENSSL_SKEY
    VHSM_DISPATCH(CIPHER_ENCRYPT_SKEY_INIT, cipher_encrypt_skey_init, gcmEncryptSkeyInit),
    VHSM_DISPATCH(CIPHER_DECRYPT_SKEY_INIT, cipher_decrypt_skey_init, gcmDecryptSkeyInit),
#endif
    VHSM_DISPATCH(CIPHER_UPDATE, cipher_update, gcmUpdate),
    VHSM_DISPATCH(CIPHER_FINAL, cipher_final, gcmFinal),
    VHSM_DISPATCH(CIPHER_CIPHER, cipher_cipher, gcmCipher),
    VHSM_DISPATCH(CIPHER_GET_PARAMS, cipher_get_params, gcmGetParams<KeyBytes>),
    VHSM_DISPATCH(CIPHER_GETTABLE_PARAMS, cipher_gettable_params, gcmGettable),
    VHSM_DISPATCH(CIPHER_GET_CTX_PARAMS, cipher_get_ctx_params, gcmGetCtxParams),
    VHSM_DISPATCH(CIPHER_SET_CTX_PARAMS, cipher_set_ctx_params, gcmSetParams),
    VHSM_DISPATCH(CIPHER_GETTABLE_CTX_PARAMS, cipher_gettable_ctx_params, gcmGettableCtx),
    VHSM_DISPATCH(CIPHER_SETTABLE_CTX_PARAMS, cipher_settable_ctx_params, gcmSettableCtx),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kAes128GcmFunctions = kFunctions<16>;
extern const OSSL_DISPATCH* const kAes256GcmFunctions = kFunctions<32>;

}  // namespace vhsm::provider
