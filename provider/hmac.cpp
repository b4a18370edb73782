// HMAC as an OpenSSL MAC. With a key reference ("vhsm:<id>" as the key bytes, or the
// parameter vhsm-key-uri) the MAC is computed in keyd; any other key is handed to OpenSSL's
// default HMAC (passthrough.hpp), so libssl's own HMACs under default_properties =
// ?provider=vhsm stay in-process.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <utility>

#include "provider/dispatch.hpp"
#include "provider/hash_names.hpp"
#include "provider/key_uri.hpp"
#include "provider/provider_ctx.hpp"
#include "provider/remote_hash.hpp"
#include "provider/symmetric_key.hpp"

namespace vhsm::provider {
namespace {

struct HmacCtx {
  explicit HmacCtx(ProviderContext* p) : provider(p) {}
  ProviderContext* provider;
  // The default HMAC's context: pass-through state and the holder of ordinary keys; made when a
  // key turns out not to be a reference (or a parameter only it understands arrives), so key
  // references never pay for it.
  void* local = nullptr;
  char digest[64] = "";  // the name last set; no std::string on the pass-through's path
  std::string keyId;     // non-empty: computed in keyd
  std::optional<HashStream> remote;

  const DefaultMac& mac() const { return provider->localHmac(); }
  ~HmacCtx() {
    if (local) mac().freectx(local);
  }
};

bool setKeyRef(HmacCtx* c, const unsigned char* key, size_t length, bool& isRef) {
  std::string id;
  switch (parseKeyRef(key, length, id)) {
    case KeyRef::notVhsm: isRef = false; return true;
    case KeyRef::valid:
      isRef = true;
      c->keyId = id;
      return true;
    case KeyRef::invalid:
      VHSM_RAISE(c->provider, kInvalidKeyUri, "not a valid vhsm:<id> key reference");
      return false;
  }
  return false;
}

// Every other form of the digest parameter, and names too long to be one.
[[gnu::noinline]] bool setDigestSlowly(HmacCtx* c, const OSSL_PARAM* p) {
  const char* name = nullptr;
  if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)) return false;
  size_t length =
      p->data_type == OSSL_PARAM_UTF8_STRING ? strnlen(name, p->data_size) : std::strlen(name);
  if (length >= sizeof c->digest) {
    VHSM_RAISE(c->provider, kInvalidParameter, "no such digest: " + std::string(name, length));
    return false;
  }
  std::memcpy(c->digest, name, length);
  c->digest[length] = '\0';
  return true;
}

// The usual digest parameter (a string in place) is copied here without a call: library calls
// for it were two more cold cache lines in every pass-through HMAC.
[[gnu::always_inline]] inline bool setDigest(HmacCtx* c, const OSSL_PARAM* p) {
  const char* name = static_cast<const char*>(p->data);
  if (p->data_type != OSSL_PARAM_UTF8_STRING || !name) return setDigestSlowly(c, p);
  size_t i = 0;
  for (; i < p->data_size && name[i]; ++i) {
    if (i + 1 == sizeof c->digest) return setDigestSlowly(c, p);
    c->digest[i] = name[i];
  }
  c->digest[i] = '\0';
  return true;
}

// Starts a keyd stream for the current key and digest (no round trip until data is large or
// the MAC is final).
bool startRemote(HmacCtx* c) {
  auto info = hashInfo(c->digest);
  if (!info) {
    VHSM_RAISE(c->provider, kUnsupported, "vhsm HMAC supports SHA-1, SHA-256, SHA-384, SHA-512");
    return false;
  }
  try {
    c->remote.emplace(c->provider->client().hmacStream(c->keyId, info->algorithm));
    return true;
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    return false;
  }
}

// The local HMAC, made on first need with the digest chosen so far.
[[gnu::noinline]] void* localCtx(HmacCtx* c) {
  if (c->local) return c->local;
  c->local = c->mac().newctx(c->mac().provctx);
  OSSL_PARAM digest[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, c->digest, 0),
                         OSSL_PARAM_construct_end()};
  if (c->local && *c->digest && !c->mac().setCtxParams(c->local, digest)) {
    c->mac().freectx(c->local);
    c->local = nullptr;
  }
  return c->local;
}

void* hmacDup(void* ctx) {
  auto* c = static_cast<HmacCtx*>(ctx);
  auto* copy = new HmacCtx(c->provider);
  copy->local = c->local ? c->mac().dupctx(c->local) : nullptr;
  std::memcpy(copy->digest, c->digest, sizeof copy->digest);
  copy->keyId = c->keyId;
  try {
    // keyd copies the HMAC state itself: it never comes to this process.
    if (c->remote) copy->remote.emplace(c->remote->clone());
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    delete copy;
    return nullptr;
  }
  return copy;
}

// The parameters hmacSetParams acts on, told apart with at most one strcmp each: this runs for
// every HMAC libssl makes under the global preference, where comparing each parameter with
// every name was a third of what the pass-through added.
enum class Param { digest, keyUri, properties, key, other };

Param classify(const char* name) {
  static const std::pair<const char*, Param> known[] = {
      {OSSL_MAC_PARAM_DIGEST, Param::digest},
      {kKeyUriParam, Param::keyUri},
      {OSSL_MAC_PARAM_PROPERTIES, Param::properties},
      {OSSL_MAC_PARAM_KEY, Param::key}};
  for (const auto& [knownName, kind] : known)
    if (knownName[0] == name[0] && std::strcmp(knownName, name) == 0) return kind;
  return Param::other;
}

int hmacSetParams(void* ctx, const OSSL_PARAM params[]) {
  auto* c = static_cast<HmacCtx*>(ctx);
  if (!params) return 1;
  // A key reference given as the key is not a key for OpenSSL: keep it out of the local HMAC.
  // Property queries name providers of the caller's library context, not of ours.
  bool filter = false, localOnly = false;
  for (const OSSL_PARAM* p = params; p->key; ++p) {
    switch (classify(p->key)) {
      case Param::digest:
        if (!setDigest(c, p)) return 0;
        break;
      case Param::keyUri: {
        auto uri = utf8Param(p);
        bool isRef = false;
        if (!uri ||
            !setKeyRef(c, reinterpret_cast<const unsigned char*>(uri->data()), uri->size(), isRef))
          return 0;
        if (!isRef) {
          VHSM_RAISE(c->provider, kInvalidKeyUri, "vhsm-key-uri must be vhsm:<id>");
          return 0;
        }
        filter = true;
        break;
      }
      case Param::properties: filter = true; break;
      case Param::key: filter = localOnly = true; break;
      case Param::other: localOnly = true; break;
    }
  }
  // The digest alone is kept for whichever HMAC the key chooses.
  if (!c->local && !localOnly) return 1;
  void* local = localCtx(c);
  if (!local) return 0;
  // The pass-through's usual case (a digest name): forwarded as it is, no copy.
  if (!filter) return c->mac().setCtxParams(local, params);
  std::vector<OSSL_PARAM> forward;
  for (const OSSL_PARAM* p = params; p->key; ++p) {
    Param kind = classify(p->key);
    if (kind == Param::keyUri || kind == Param::properties) continue;
    if (kind == Param::key) {
      bool isRef = false;
      if (!setKeyRef(c, static_cast<const unsigned char*>(p->data), p->data_size, isRef)) return 0;
      if (isRef) {
        c->remote.reset();
        continue;
      }
      c->keyId.clear();
    }
    forward.push_back(*p);
  }
  forward.push_back(OSSL_PARAM_construct_end());
  return c->mac().setCtxParams(local, forward.data());
}

// Every init but the pass-through's: key references, a key given as a parameter, re-inits.
[[gnu::noinline]] int initGeneral(HmacCtx* c, const unsigned char* key, size_t keyLength,
                                  const OSSL_PARAM params[]) {
  if (!hmacSetParams(c, params)) return 0;
  if (key) {
    bool isRef = false;
    if (!setKeyRef(c, key, keyLength, isRef)) return 0;
    if (!isRef) {
      c->keyId.clear();
      c->remote.reset();
      void* local = localCtx(c);
      return local && c->mac().init(local, key, keyLength, nullptr);
    }
  }
  if (c->keyId.empty()) {
    void* local = localCtx(c);
    return local && c->mac().init(local, nullptr, 0, nullptr);
  }
  return startRemote(c);
}

#ifdef VHSM_OPENSSL_SKEY
// EVP_MAC_init_SKEY: OpenSSL hands over only skeys of vhsm's own key management.
// The key is the skey's: a key among the parameters would quietly replace it.
int hmacSkeyInit(void* ctx, void* keydata, const OSSL_PARAM params[]) {
  auto* c = static_cast<HmacCtx*>(ctx);
  for (const OSSL_PARAM* p = params; p && p->key; ++p) {
    Param kind = classify(p->key);
    if (kind == Param::key || kind == Param::keyUri) {
      VHSM_RAISE(
          c->provider, kInvalidParameter,
          std::string("EVP_MAC_init_SKEY takes its key from the EVP_SKEY, not from ") + p->key);
      return 0;
    }
  }
  if (!hmacSetParams(c, params)) return 0;
  c->keyId = static_cast<const SymmetricKey*>(keydata)->keyId;
  c->remote.reset();
  return startRemote(c);
}
#endif

// keyd's side of update, final and the parameters, out of line so that the pass-through below
// stays short.
[[gnu::noinline]] int remoteUpdate(HmacCtx* c, const unsigned char* data, size_t length) {
  if (!c->remote && !startRemote(c)) return 0;
  return updateRemote(c->provider, *c->remote, data, length);
}

[[gnu::noinline]] int remoteFinal(HmacCtx* c, unsigned char* out, size_t* outLength,
                                  size_t outSize) {
  if (!c->remote && !startRemote(c)) return 0;
  return finalRemote(c->provider, c->remote, out, outLength, outSize);
}

[[gnu::noinline]] int remoteParams(HmacCtx* c, OSSL_PARAM params[]) {
  auto info = hashInfo(c->digest);
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_MAC_PARAM_SIZE))
    if (!OSSL_PARAM_set_size_t(p, info ? info->size : 0)) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_MAC_PARAM_BLOCK_SIZE))
    if (!OSSL_PARAM_set_size_t(p, info ? info->blockSize : 0)) return 0;
  return 1;
}

// The pass-through: libssl's own HMACs under the global preference, an ordinary key and at most
// a digest name, handed to the default HMAC in one call as the default provider would get them.
// What it costs is room in the instruction cache more than instructions (bench/README.md,
// "Measurements behind the code"), so these functions are short, placed together (hot), and
// leave every other case to the out-of-line functions above.
bool passThrough(const unsigned char* key, size_t keyLength, const OSSL_PARAM params[]) {
  if (!key || hasKeyRefPrefix(key, keyLength)) return false;
  return !params || !params->key ||
         (!params[1].key && std::strcmp(params->key, OSSL_MAC_PARAM_DIGEST) == 0);
}

[[gnu::hot]] void* hmacNew(void* provctx) {
  auto* provider = static_cast<ProviderContext*>(provctx);
  if (!provider->localHmac().complete()) return nullptr;
  return new HmacCtx(provider);
}

[[gnu::hot]] int hmacInit(void* ctx, const unsigned char* key, size_t keyLength,
                          const OSSL_PARAM params[]) {
  auto* c = static_cast<HmacCtx*>(ctx);
  if (!passThrough(key, keyLength, params) || !c->keyId.empty())
    return initGeneral(c, key, keyLength, params);
  bool digestGiven = params && params->key;
  if (digestGiven && !setDigest(c, params)) return 0;
  // A digest set apart from init (EVP_Q_mac does) goes into a new local context first.
  void* local = c->local      ? c->local
                : digestGiven ? (c->local = c->mac().newctx(c->mac().provctx))
                              : localCtx(c);
  return local && c->mac().init(local, key, keyLength, params);
}

[[gnu::hot]] int hmacUpdate(void* ctx, const unsigned char* data, size_t length) {
  auto* c = static_cast<HmacCtx*>(ctx);
  if (!c->keyId.empty()) return remoteUpdate(c, data, length);
  return c->local && c->mac().update(c->local, data, length);
}

[[gnu::hot]] int hmacFinal(void* ctx, unsigned char* out, size_t* outLength, size_t outSize) {
  auto* c = static_cast<HmacCtx*>(ctx);
  if (!c->keyId.empty()) return remoteFinal(c, out, outLength, outSize);
  return c->local && c->mac().final(c->local, out, outLength, outSize);
}

[[gnu::hot]] int hmacGetParams(void* ctx, OSSL_PARAM params[]) {
  auto* c = static_cast<HmacCtx*>(ctx);
  if (!c->keyId.empty()) return remoteParams(c, params);
  void* local = c->local ? c->local : localCtx(c);
  return local && c->mac().getCtxParams(local, params);
}

[[gnu::hot]] void hmacFree(void* ctx) {
  delete static_cast<HmacCtx*>(ctx);
}

const OSSL_PARAM* hmacGettable(void*, void*) {
  static const OSSL_PARAM params[] = {OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, nullptr),
                                      OSSL_PARAM_size_t(OSSL_MAC_PARAM_BLOCK_SIZE, nullptr),
                                      OSSL_PARAM_END};
  return params;
}

const OSSL_PARAM* hmacSettable(void*, void*) {
  static const OSSL_PARAM params[] = {OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, nullptr, 0),
                                      OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_PROPERTIES, nullptr, 0),
                                      OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, nullptr, 0),
                                      OSSL_PARAM_int(OSSL_MAC_PARAM_DIGEST_NOINIT, nullptr),
                                      OSSL_PARAM_int(OSSL_MAC_PARAM_DIGEST_ONESHOT, nullptr),
                                      OSSL_PARAM_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, nullptr),
                                      OSSL_PARAM_utf8_string(kKeyUriParam, nullptr, 0),
                                      OSSL_PARAM_END};
  return params;
}

}  // namespace

extern const OSSL_DISPATCH kHmacFunctions[] = {
    VHSM_DISPATCH(MAC_NEWCTX, mac_newctx, hmacNew),
    VHSM_DISPATCH(MAC_DUPCTX, mac_dupctx, hmacDup),
    VHSM_DISPATCH(MAC_FREECTX, mac_freectx, hmacFree),
    VHSM_DISPATCH(MAC_INIT, mac_init, hmacInit),
#ifdef VHSM_OPENSSL_SKEY
    VHSM_DISPATCH(MAC_INIT_SKEY, mac_init_skey, hmacSkeyInit),
#endif
    VHSM_DISPATCH(MAC_UPDATE, mac_update, hmacUpdate),
    VHSM_DISPATCH(MAC_FINAL, mac_final, hmacFinal),
    VHSM_DISPATCH(MAC_GETTABLE_CTX_PARAMS, mac_gettable_ctx_params, hmacGettable),
    VHSM_DISPATCH(MAC_GET_CTX_PARAMS, mac_get_ctx_params, hmacGetParams),
    VHSM_DISPATCH(MAC_SETTABLE_CTX_PARAMS, mac_settable_ctx_params, hmacSettable),
    VHSM_DISPATCH(MAC_SET_CTX_PARAMS, mac_set_ctx_params, hmacSetParams),
    {0, nullptr}};

}  // namespace vhsm::provider
