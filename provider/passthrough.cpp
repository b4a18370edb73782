#include "provider/passthrough.hpp"

#include <openssl/provider.h>

#include <cstring>

namespace vhsm::provider {
namespace {

// The dispatch table of `name` among the provider's implementations of `operation`. The
// default provider's tables are static: they outlive the query.
const OSSL_DISPATCH* dispatchOf(OSSL_PROVIDER* provider, int operation, const char* name) {
  if (!provider) return nullptr;
  int noCache = 0;
  const OSSL_ALGORITHM* algorithms = OSSL_PROVIDER_query_operation(provider, operation, &noCache);
  const OSSL_DISPATCH* found = nullptr;
  size_t length = std::strlen(name);
  for (const OSSL_ALGORITHM* a = algorithms; a && a->algorithm_names && !found; ++a)
    if (std::strncmp(a->algorithm_names, name, length) == 0 &&
        (a->algorithm_names[length] == '\0' || a->algorithm_names[length] == ':'))
      found = a->implementation;
  if (algorithms) OSSL_PROVIDER_unquery_operation(provider, operation, algorithms);
  return found;
}

template <typename Fn>
void take(Fn*& slot, const OSSL_DISPATCH* f) {
  slot = reinterpret_cast<Fn*>(f->function);
}

}  // namespace

DefaultMac defaultMac(OSSL_PROVIDER* provider, const char* name) {
  DefaultMac mac;
  const OSSL_DISPATCH* f = dispatchOf(provider, OSSL_OP_MAC, name);
  if (!f) return mac;
  mac.provctx = OSSL_PROVIDER_get0_provider_ctx(provider);
  for (; f->function_id != 0; ++f) {
    switch (f->function_id) {
      case OSSL_FUNC_MAC_NEWCTX: take(mac.newctx, f); break;
      case OSSL_FUNC_MAC_DUPCTX: take(mac.dupctx, f); break;
      case OSSL_FUNC_MAC_FREECTX: take(mac.freectx, f); break;
      case OSSL_FUNC_MAC_INIT: take(mac.init, f); break;
      case OSSL_FUNC_MAC_UPDATE: take(mac.update, f); break;
      case OSSL_FUNC_MAC_FINAL: take(mac.final, f); break;
      case OSSL_FUNC_MAC_GET_CTX_PARAMS: take(mac.getCtxParams, f); break;
      case OSSL_FUNC_MAC_SET_CTX_PARAMS: take(mac.setCtxParams, f); break;
      default: break;
    }
  }
  bool complete = mac.provctx && mac.newctx && mac.dupctx && mac.freectx && mac.init &&
                  mac.update && mac.final && mac.getCtxParams && mac.setCtxParams;
  return complete ? mac : DefaultMac{};
}

DefaultCipher defaultCipher(OSSL_PROVIDER* provider, const char* name) {
  DefaultCipher cipher;
  const OSSL_DISPATCH* f = dispatchOf(provider, OSSL_OP_CIPHER, name);
  if (!f) return cipher;
  cipher.provctx = OSSL_PROVIDER_get0_provider_ctx(provider);
  for (; f->function_id != 0; ++f) {
    switch (f->function_id) {
      case OSSL_FUNC_CIPHER_NEWCTX: take(cipher.newctx, f); break;
      case OSSL_FUNC_CIPHER_DUPCTX: take(cipher.dupctx, f); break;
      case OSSL_FUNC_CIPHER_FREECTX: take(cipher.freectx, f); break;
      case OSSL_FUNC_CIPHER_ENCRYPT_INIT: take(cipher.encryptInit, f); break;
      case OSSL_FUNC_CIPHER_DECRYPT_INIT: take(cipher.decryptInit, f); break;
      case OSSL_FUNC_CIPHER_UPDATE: take(cipher.update, f); break;
      case OSSL_FUNC_CIPHER_FINAL: take(cipher.final, f); break;
      case OSSL_FUNC_CIPHER_CIPHER: take(cipher.cipher, f); break;
      case OSSL_FUNC_CIPHER_GET_CTX_PARAMS: take(cipher.getCtxParams, f); break;
      case OSSL_FUNC_CIPHER_SET_CTX_PARAMS: take(cipher.setCtxParams, f); break;
      default: break;
    }
  }
  bool complete = cipher.provctx && cipher.newctx && cipher.dupctx && cipher.freectx &&
                  cipher.encryptInit && cipher.decryptInit && cipher.update && cipher.final &&
                  cipher.cipher && cipher.getCtxParams && cipher.setCtxParams;
  return complete ? cipher : DefaultCipher{};
}

}  // namespace vhsm::provider
