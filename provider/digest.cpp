// SHA-1/256/384/512 computed in keyd when fetched from vhsm (`-propquery provider=vhsm`).
// With `digests = local` in the provider's section they are computed in-process instead —
// the setting for a system-wide default_properties = ?provider=vhsm, which would otherwise
// send every TLS transcript hash to keyd.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

#include "provider/dispatch.hpp"
#include "provider/hash_names.hpp"
#include "provider/provider_ctx.hpp"
#include "provider/remote_hash.hpp"

namespace vhsm::provider {
namespace {

struct DigestCtx {
  DigestCtx(ProviderContext* p, const char* n) : provider(p), name(n) {}
  ProviderContext* provider;
  const char* name;
  EVP_MD_CTX* local = nullptr;  // digests = local
  std::optional<HashStream> remote;

  ~DigestCtx() { EVP_MD_CTX_free(local); }
};

template <int Index>
struct Sha;
template <>
struct Sha<0> {
  static constexpr const char* name = "SHA1";
  static constexpr size_t size = 20, block = 64;
};
template <>
struct Sha<1> {
  static constexpr const char* name = "SHA2-256";
  static constexpr size_t size = 32, block = 64;
};
template <>
struct Sha<2> {
  static constexpr const char* name = "SHA2-384";
  static constexpr size_t size = 48, block = 128;
};
template <>
struct Sha<3> {
  static constexpr const char* name = "SHA2-512";
  static constexpr size_t size = 64, block = 128;
};

template <int Index>
void* digestNew(void* provctx) {
  return new DigestCtx(static_cast<ProviderContext*>(provctx), Sha<Index>::name);
}

void digestFree(void* ctx) {
  delete static_cast<DigestCtx*>(ctx);
}

void* digestDup(void* ctx) {
  auto* c = static_cast<DigestCtx*>(ctx);
  auto* copy = new DigestCtx(c->provider, c->name);
  try {
    if (c->local) {
      copy->local = EVP_MD_CTX_new();
      EVP_MD_CTX_copy_ex(copy->local, c->local);
    }
    if (c->remote) copy->remote.emplace(c->remote->clone());
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    delete copy;
    return nullptr;
  }
  return copy;
}

int digestInit(void* ctx, const OSSL_PARAM[]) {
  auto* c = static_cast<DigestCtx*>(ctx);
  if (!c->provider->config().remoteDigests) {
    EVP_MD* md = c->provider->localDigest(c->name);
    if (!c->local) c->local = EVP_MD_CTX_new();
    return md && EVP_DigestInit_ex2(c->local, md, nullptr);
  }
  try {
    auto info = hashInfo(c->name);
    c->remote.emplace(c->provider->client().digestStream(info->algorithm));
    return 1;
  } catch (const Error& e) {
    VHSM_RAISE_ERROR(c->provider, e);
    return 0;
  }
}

int digestUpdate(void* ctx, const unsigned char* data, size_t length) {
  auto* c = static_cast<DigestCtx*>(ctx);
  if (c->local) return EVP_DigestUpdate(c->local, data, length);
  return c->remote && updateRemote(c->provider, *c->remote, data, length);
}

int digestFinal(void* ctx, unsigned char* out, size_t* outLength, size_t outSize) {
  auto* c = static_cast<DigestCtx*>(ctx);
  if (c->local) {
    unsigned length = 0;
    int ok = EVP_DigestFinal_ex(c->local, out, &length);
    *outLength = length;
    return ok;
  }
  return c->remote && finalRemote(c->provider, c->remote, out, outLength, outSize);
}

template <int Index>
int digestGetParams(OSSL_PARAM params[]) {
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_BLOCK_SIZE))
    if (!OSSL_PARAM_set_size_t(p, Sha<Index>::block)) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_SIZE))
    if (!OSSL_PARAM_set_size_t(p, Sha<Index>::size)) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_XOF))
    if (!OSSL_PARAM_set_int(p, 0)) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_ALGID_ABSENT))
    if (!OSSL_PARAM_set_int(p, 1)) return 0;
  return 1;
}

const OSSL_PARAM* digestGettable(void*) {
  static const OSSL_PARAM params[] = {OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_BLOCK_SIZE, nullptr),
                                      OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_SIZE, nullptr),
                                      OSSL_PARAM_int(OSSL_DIGEST_PARAM_XOF, nullptr),
                                      OSSL_PARAM_int(OSSL_DIGEST_PARAM_ALGID_ABSENT, nullptr),
                                      OSSL_PARAM_END};
  return params;
}

template <int Index>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(DIGEST_NEWCTX, digest_newctx, digestNew<Index>),
    VHSM_DISPATCH(DIGEST_DUPCTX, digest_dupctx, digestDup),
    VHSM_DISPATCH(DIGEST_FREECTX, digest_freectx, digestFree),
    VHSM_DISPATCH(DIGEST_INIT, digest_init, digestInit),
    VHSM_DISPATCH(DIGEST_UPDATE, digest_update, digestUpdate),
    VHSM_DISPATCH(DIGEST_FINAL, digest_final, digestFinal),
    VHSM_DISPATCH(DIGEST_GET_PARAMS, digest_get_params, digestGetParams<Index>),
    VHSM_DISPATCH(DIGEST_GETTABLE_PARAMS, digest_gettable_params, digestGettable),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kSha1Functions = kFunctions<0>;
extern const OSSL_DISPATCH* const kSha256Functions = kFunctions<1>;
extern const OSSL_DISPATCH* const kSha384Functions = kFunctions<2>;
extern const OSSL_DISPATCH* const kSha512Functions = kFunctions<3>;

}  // namespace vhsm::provider
