// Dispatch table entries that the compiler checks: the function must have exactly the type
// OpenSSL declares for the entry's id (OSSL_FUNC_<name>_fn), so a wrong signature does not
// compile instead of reading one argument as another at run time.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

// VHSM_DISPATCH(CIPHER_NEWCTX, cipher_newctx, gcmNew): OpenSSL's id and its lower-case name.
#define VHSM_DISPATCH(ID, name, fn)                                                        \
  OSSL_DISPATCH {                                                                          \
    OSSL_FUNC_##ID, reinterpret_cast<void (*)()>(static_cast<OSSL_FUNC_##name##_fn*>(&fn)) \
  }
