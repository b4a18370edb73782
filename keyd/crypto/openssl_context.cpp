#include "keyd/crypto/openssl_context.hpp"

#include <openssl/crypto.h>
#include <openssl/provider.h>

namespace vhsm::keyd {
namespace {

struct Context {
  Context() : libctx(OSSL_LIB_CTX_new()), provider(OSSL_PROVIDER_load(libctx, "default")) {}
  ~Context() {
    OSSL_PROVIDER_unload(provider);
    OSSL_LIB_CTX_free(libctx);
  }
  OSSL_LIB_CTX* libctx;
  OSSL_PROVIDER* provider;
};

}  // namespace

OSSL_LIB_CTX* opensslContext() {
  static const Context instance;
  return instance.libctx;
}

}  // namespace vhsm::keyd
