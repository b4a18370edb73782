// The key object of vhsm's symmetric key management (OpenSSL 3.5's EVP_SKEY, skeymgmt.cpp):
// a reference to an AES or HMAC key held by keyd. It never holds key bytes, so none can be
// exported from it; the AES-GCM and HMAC implementations take it in their skey inits.
#pragma once

#include <cstddef>
#include <string>

#include "provider/provider_ctx.hpp"

namespace vhsm::provider {

struct SymmetricKey {
  ProviderContext* provider;
  std::string keyId;
  std::string uri;  // "vhsm:<id>": what EVP_SKEY_get0_key_id reports
  size_t length;    // in bytes, as keyd reports it
};

}  // namespace vhsm::provider
