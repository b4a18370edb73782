// Key management for EC, Ed25519 and RSA keys. A vhsm key (from the store loader or the URI
// PEM decoder) says it has a private part but never exports it, so OpenSSL signs with vhsm's
// own signature code; its public part is an ordinary default-provider key, which answers
// every parameter query. Other keys — made or imported here because a global
// ?provider=vhsm preference sent them to vhsm (libssl's ECDHE keys, peers' certificates) —
// are whole default-provider keys and export freely, so nothing in-process breaks.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <cstring>

#include "provider/asymmetric_key.hpp"
#include "provider/dispatch.hpp"

namespace vhsm::provider {
namespace {

int evpSelection(int selection) {
  if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) return EVP_PKEY_KEYPAIR;
  if (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) return EVP_PKEY_PUBLIC_KEY;
  return EVP_PKEY_KEY_PARAMETERS;
}

// A default-provider context for the algorithm, for the table queries that need one.
EVP_PKEY_CTX* defaultCtx(ProviderContext* p, const char* algorithm) {
  return EVP_PKEY_CTX_new_from_name(p->defaultLibctx(), algorithm, nullptr);
}

EVP_KEYMGMT* defaultKeymgmt(ProviderContext* p, const char* algorithm) {
  return EVP_KEYMGMT_fetch(p->defaultLibctx(), algorithm, nullptr);
}

void freeKey(void* keydata) {
  delete static_cast<AsymmetricKey*>(keydata);
}

int has(const void* keydata, int selection) {
  auto* key = static_cast<const AsymmetricKey*>(keydata);
  if (!key || !key->pkey) return selection == 0;
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !key->hasPrivate()) return 0;
  return 1;
}

int match(const void* a, const void* b, int selection) {
  auto* k1 = static_cast<const AsymmetricKey*>(a);
  auto* k2 = static_cast<const AsymmetricKey*>(b);
  if (!k1->pkey || !k2->pkey) return 0;
  if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) return EVP_PKEY_eq(k1->pkey, k2->pkey) == 1;
  return EVP_PKEY_parameters_eq(k1->pkey, k2->pkey) == 1;
}

int import(void* keydata, int selection, const OSSL_PARAM params[]) {
  auto* key = static_cast<AsymmetricKey*>(keydata);
  if (key->isVhsm()) return 0;  // a vhsm key is what keyd says it is
  EVP_PKEY_CTX* ctx = defaultCtx(key->provider, key->algorithm);
  EVP_PKEY* pkey = nullptr;
  bool ok =
      ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
      EVP_PKEY_fromdata(ctx, &pkey, evpSelection(selection), const_cast<OSSL_PARAM*>(params)) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return 0;
  EVP_PKEY_free(key->pkey);
  key->pkey = pkey;
  key->localPrivate = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) &&
                      (OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) ||
                       OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D));
  return 1;
}

// import_types gets no provider context: its tables come from a default-only context of the
// module's own, never freed (what it returns points into the default provider).
OSSL_LIB_CTX* tableLibctx() {
  static OSSL_LIB_CTX* libctx = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    OSSL_PROVIDER_load(c, "default");
    return c;
  }();
  return libctx;
}

const OSSL_PARAM* importTypes(const char* algorithm, int selection) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(tableLibctx(), algorithm, nullptr);
  const OSSL_PARAM* types = nullptr;
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
    types = EVP_PKEY_fromdata_settable(ctx, evpSelection(selection));
  EVP_PKEY_CTX_free(ctx);
  return types;  // owned by the (cached) default key management, not by ctx
}

int exportKey(void* keydata, int selection, OSSL_CALLBACK* callback, void* arg) {
  auto* key = static_cast<AsymmetricKey*>(keydata);
  if (!key->pkey) return 0;
  // The refusal that matters: OpenSSL then uses vhsm's operations for this key.
  if (key->isVhsm() && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY)) return 0;
  return EVP_PKEY_export(key->pkey, evpSelection(selection), callback, arg);
}

void* load(const void* reference, size_t size) {
  if (!reference || size != sizeof(AsymmetricKey*)) return nullptr;
  AsymmetricKey* source;
  std::memcpy(&source, reference, sizeof source);
  return new AsymmetricKey(*source);
}

void* dup(const void* keydata, int) {
  return new AsymmetricKey(*static_cast<const AsymmetricKey*>(keydata));
}

int getParams(void* keydata, OSSL_PARAM params[]) {
  auto* key = static_cast<AsymmetricKey*>(keydata);
  return key->pkey && EVP_PKEY_get_params(key->pkey, params);
}

int setParams(void* keydata, const OSSL_PARAM params[]) {
  auto* key = static_cast<AsymmetricKey*>(keydata);
  return key->pkey && EVP_PKEY_set_params(key->pkey, const_cast<OSSL_PARAM*>(params));
}

// Key generation: always an in-process key (keys in keyd are made with vhsm-admin).
struct GenCtx {
  ProviderContext* provider;
  const char* algorithm;
  EVP_PKEY_CTX* ctx;
  int selection;
  ~GenCtx() { EVP_PKEY_CTX_free(ctx); }
};

void* genInit(ProviderContext* p, const char* algorithm, int selection, const OSSL_PARAM params[]) {
  EVP_PKEY_CTX* ctx = defaultCtx(p, algorithm);
  bool keypair = selection & OSSL_KEYMGMT_SELECT_KEYPAIR;
  if (!ctx || (keypair ? EVP_PKEY_keygen_init(ctx) : EVP_PKEY_paramgen_init(ctx)) <= 0 ||
      (params && !EVP_PKEY_CTX_set_params(ctx, params))) {
    EVP_PKEY_CTX_free(ctx);
    return nullptr;
  }
  return new GenCtx{p, algorithm, ctx, selection};
}

int genSetParams(void* genctx, const OSSL_PARAM params[]) {
  return EVP_PKEY_CTX_set_params(static_cast<GenCtx*>(genctx)->ctx, params);
}

// For ECDHE with a peer's parameters: the group is all a template gives an EC key.
int genSetTemplate(void* genctx, void* templateKey) {
  auto* g = static_cast<GenCtx*>(genctx);
  auto* t = static_cast<AsymmetricKey*>(templateKey);
  char group[80];
  size_t length = 0;
  if (!t->pkey || !EVP_PKEY_get_utf8_string_param(t->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                  sizeof group, &length))
    return 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, length),
      OSSL_PARAM_construct_end()};
  return EVP_PKEY_CTX_set_params(g->ctx, params);
}

void* gen(void* genctx, OSSL_CALLBACK*, void*) {
  auto* g = static_cast<GenCtx*>(genctx);
  EVP_PKEY* pkey = nullptr;
  bool keypair = g->selection & OSSL_KEYMGMT_SELECT_KEYPAIR;
  if ((keypair ? EVP_PKEY_generate(g->ctx, &pkey) : EVP_PKEY_paramgen(g->ctx, &pkey)) <= 0)
    return nullptr;
  auto* key = new AsymmetricKey(g->provider, g->algorithm);
  key->pkey = pkey;
  key->localPrivate = keypair;
  return key;
}

void genCleanup(void* genctx) {
  delete static_cast<GenCtx*>(genctx);
}

// The per-algorithm entry points: everything above is shared.
template <const char* const& Algorithm>
struct Functions {
  static void* newKey(void* provctx) {
    return new AsymmetricKey(static_cast<ProviderContext*>(provctx), Algorithm);
  }
  static const OSSL_PARAM* importTypes(int selection) {
    return provider::importTypes(Algorithm, selection);
  }
  static const OSSL_PARAM* gettableParams(void* provctx) {
    EVP_KEYMGMT* km = defaultKeymgmt(static_cast<ProviderContext*>(provctx), Algorithm);
    const OSSL_PARAM* table = EVP_KEYMGMT_gettable_params(km);
    EVP_KEYMGMT_free(km);
    return table;
  }
  static const OSSL_PARAM* settableParams(void* provctx) {
    EVP_KEYMGMT* km = defaultKeymgmt(static_cast<ProviderContext*>(provctx), Algorithm);
    const OSSL_PARAM* table = EVP_KEYMGMT_settable_params(km);
    EVP_KEYMGMT_free(km);
    return table;
  }
  static void* genInit(void* provctx, int selection, const OSSL_PARAM params[]) {
    return provider::genInit(static_cast<ProviderContext*>(provctx), Algorithm, selection, params);
  }
  static const OSSL_PARAM* genSettableParams(void*, void* provctx) {
    EVP_KEYMGMT* km = defaultKeymgmt(static_cast<ProviderContext*>(provctx), Algorithm);
    const OSSL_PARAM* table = EVP_KEYMGMT_gen_settable_params(km);
    EVP_KEYMGMT_free(km);
    return table;
  }
  // ECDH runs in the default provider on an exported copy: only in-process keys export.
  static const char* operationName(int operation) {
    bool ec = std::strcmp(Algorithm, kEc) == 0;
    if (operation == OSSL_OP_SIGNATURE) return ec ? "ECDSA" : Algorithm;
    if (operation == OSSL_OP_KEYEXCH && ec) return "ECDH";
    return nullptr;
  }
};

template <const char* const& Algorithm>
const OSSL_DISPATCH kFunctions[] = {
    VHSM_DISPATCH(KEYMGMT_NEW, keymgmt_new, Functions<Algorithm>::newKey),
    VHSM_DISPATCH(KEYMGMT_FREE, keymgmt_free, freeKey),
    VHSM_DISPATCH(KEYMGMT_LOAD, keymgmt_load, load),
    VHSM_DISPATCH(KEYMGMT_DUP, keymgmt_dup, dup),
    VHSM_DISPATCH(KEYMGMT_HAS, keymgmt_has, has),
    VHSM_DISPATCH(KEYMGMT_MATCH, keymgmt_match, match),
    VHSM_DISPATCH(KEYMGMT_IMPORT, keymgmt_import, import),
    VHSM_DISPATCH(KEYMGMT_IMPORT_TYPES, keymgmt_import_types, Functions<Algorithm>::importTypes),
    VHSM_DISPATCH(KEYMGMT_EXPORT, keymgmt_export, exportKey),
    VHSM_DISPATCH(KEYMGMT_EXPORT_TYPES, keymgmt_export_types, Functions<Algorithm>::importTypes),
    VHSM_DISPATCH(KEYMGMT_GET_PARAMS, keymgmt_get_params, getParams),
    VHSM_DISPATCH(KEYMGMT_GETTABLE_PARAMS, keymgmt_gettable_params,
                  Functions<Algorithm>::gettableParams),
    VHSM_DISPATCH(KEYMGMT_SET_PARAMS, keymgmt_set_params, setParams),
    VHSM_DISPATCH(KEYMGMT_SETTABLE_PARAMS, keymgmt_settable_params,
                  Functions<Algorithm>::settableParams),
    VHSM_DISPATCH(KEYMGMT_GEN_INIT, keymgmt_gen_init, Functions<Algorithm>::genInit),
    VHSM_DISPATCH(KEYMGMT_GEN_SET_PARAMS, keymgmt_gen_set_params, genSetParams),
    VHSM_DISPATCH(KEYMGMT_GEN_SETTABLE_PARAMS, keymgmt_gen_settable_params,
                  Functions<Algorithm>::genSettableParams),
    VHSM_DISPATCH(KEYMGMT_GEN_SET_TEMPLATE, keymgmt_gen_set_template, genSetTemplate),
    VHSM_DISPATCH(KEYMGMT_GEN, keymgmt_gen, gen),
    VHSM_DISPATCH(KEYMGMT_GEN_CLEANUP, keymgmt_gen_cleanup, genCleanup),
    VHSM_DISPATCH(KEYMGMT_QUERY_OPERATION_NAME, keymgmt_query_operation_name,
                  Functions<Algorithm>::operationName),
    {0, nullptr}};

}  // namespace

extern const OSSL_DISPATCH* const kEcKeymgmtFunctions = kFunctions<kEc>;
extern const OSSL_DISPATCH* const kEd25519KeymgmtFunctions = kFunctions<kEd25519>;
extern const OSSL_DISPATCH* const kRsaKeymgmtFunctions = kFunctions<kRsa>;

}  // namespace vhsm::provider
