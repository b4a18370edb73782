// The store loader for "vhsm:<id>" URIs (OSSL_STORE: `-key vhsm:<id>`, `-inkey vhsm:<id>`,
// OSSL_STORE_open): one key, its public part fetched from keyd, handed to OpenSSL by
// reference so that it stays a vhsm key.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include <cstring>
#include <memory>

#include "provider/asymmetric_key.hpp"
#include "provider/dispatch.hpp"
#include "provider/key_uri.hpp"

namespace vhsm::provider {
namespace {

struct StoreCtx {
  ProviderContext* provider;
  std::string keyId;
  int expect = 0;  // OSSL_STORE_INFO_*: 0 for anything
  bool done = false;
};

void* open(void* provctx, const char* uri) {
  auto* provider = static_cast<ProviderContext*>(provctx);
  std::string id;
  if (!uri || parseKeyRef(reinterpret_cast<const unsigned char*>(uri), std::strlen(uri), id) !=
                  KeyRef::valid) {
    VHSM_RAISE(provider, kInvalidKeyUri, "not a valid vhsm:<id> key reference");
    return nullptr;
  }
  return new StoreCtx{provider, id};
}

const OSSL_PARAM* settableParams(void*) {
  static const OSSL_PARAM table[] = {OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, nullptr),
                                     OSSL_PARAM_END};
  return table;
}

int setParams(void* loaderctx, const OSSL_PARAM params[]) {
  auto* c = static_cast<StoreCtx*>(loaderctx);
  const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
  return !p || OSSL_PARAM_get_int(p, &c->expect);
}

int load(void* loaderctx, OSSL_CALLBACK* callback, void* arg, OSSL_PASSPHRASE_CALLBACK*, void*) {
  auto* c = static_cast<StoreCtx*>(loaderctx);
  c->done = true;
  if (c->expect != 0 && c->expect != OSSL_STORE_INFO_PKEY && c->expect != OSSL_STORE_INFO_PUBKEY)
    return 1;  // a vhsm URI names a key, never a certificate or CRL
  std::unique_ptr<AsymmetricKey> key(loadVhsmKey(c->provider, c->keyId));
  return key && passByReference(*key, callback, arg);
}

int eof(void* loaderctx) {
  return static_cast<StoreCtx*>(loaderctx)->done;
}

int close(void* loaderctx) {
  delete static_cast<StoreCtx*>(loaderctx);
  return 1;
}

}  // namespace

extern const OSSL_DISPATCH kKeyStoreFunctions[] = {
    VHSM_DISPATCH(STORE_OPEN, store_open, open),
    VHSM_DISPATCH(STORE_SETTABLE_CTX_PARAMS, store_settable_ctx_params, settableParams),
    VHSM_DISPATCH(STORE_SET_CTX_PARAMS, store_set_ctx_params, setParams),
    VHSM_DISPATCH(STORE_LOAD, store_load, load),
    VHSM_DISPATCH(STORE_EOF, store_eof, eof),
    VHSM_DISPATCH(STORE_CLOSE, store_close, close),
    VHSM_DISPATCH(STORE_EXPORT_OBJECT, store_export_object, declineReferenceExport),
    {0, nullptr}};

}  // namespace vhsm::provider
