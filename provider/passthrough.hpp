// The default provider's own HMAC and AES-GCM, called through their dispatch tables: the
// pass-through for ordinary keys. A vhsm context holds the default implementation's context
// directly — no EVP object, fetch or parameter check of its own in between — so a plain key
// under default_properties = ?provider=vhsm costs one indirect call per operation more.
#pragma once

#include <openssl/core_dispatch.h>
#include <openssl/types.h>

namespace vhsm::provider {

struct DefaultMac {
  void* provctx = nullptr;
  OSSL_FUNC_mac_newctx_fn* newctx = nullptr;
  OSSL_FUNC_mac_dupctx_fn* dupctx = nullptr;
  OSSL_FUNC_mac_freectx_fn* freectx = nullptr;
  OSSL_FUNC_mac_init_fn* init = nullptr;
  OSSL_FUNC_mac_update_fn* update = nullptr;
  OSSL_FUNC_mac_final_fn* final = nullptr;
  OSSL_FUNC_mac_get_ctx_params_fn* getCtxParams = nullptr;
  OSSL_FUNC_mac_set_ctx_params_fn* setCtxParams = nullptr;

  bool complete() const { return newctx; }
};

struct DefaultCipher {
  void* provctx = nullptr;
  OSSL_FUNC_cipher_newctx_fn* newctx = nullptr;
  OSSL_FUNC_cipher_dupctx_fn* dupctx = nullptr;
  OSSL_FUNC_cipher_freectx_fn* freectx = nullptr;
  OSSL_FUNC_cipher_encrypt_init_fn* encryptInit = nullptr;
  OSSL_FUNC_cipher_decrypt_init_fn* decryptInit = nullptr;
  OSSL_FUNC_cipher_update_fn* update = nullptr;
  OSSL_FUNC_cipher_final_fn* final = nullptr;
  OSSL_FUNC_cipher_cipher_fn* cipher = nullptr;
  OSSL_FUNC_cipher_get_ctx_params_fn* getCtxParams = nullptr;
  OSSL_FUNC_cipher_set_ctx_params_fn* setCtxParams = nullptr;

  bool complete() const { return newctx; }
};

// The implementation named `name` (its first name) in `provider`; incomplete (every function
// null) when there is none or it lacks a function the pass-through calls.
DefaultMac defaultMac(OSSL_PROVIDER* provider, const char* name);
DefaultCipher defaultCipher(OSSL_PROVIDER* provider, const char* name);

}  // namespace vhsm::provider
