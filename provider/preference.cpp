#include "provider/preference.hpp"

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <string>

#include "provider/provider_ctx.hpp"

namespace vhsm::provider {

bool applyKeyRefPreference(OSSL_LIB_CTX* libctx) {
  std::string query = kKeyRefPreference;
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
  if (char* current = EVP_get1_default_properties(libctx)) {
    std::string existing = current;
    OPENSSL_free(current);
    // The operator's own choice of a vhsm preference stands.
    if (existing.find("vhsm.keyref") != std::string::npos ||
        existing.find("provider=vhsm") != std::string::npos)
      return true;
    if (!existing.empty()) query = existing + "," + query;
  }
#else
  // Before 3.5 there is no getter: keep the one setting that matters for compliance, and say
  // that anything else set before vhsm loaded is replaced (docs/provider.md).
  if (EVP_default_properties_is_fips_enabled(libctx)) query += ",fips=yes";
  debugLog("OpenSSL before 3.5: default properties set before vhsm loaded are replaced");
#endif
  debugLog("default properties: " + query);
  return EVP_set_default_properties(libctx, query.c_str()) == 1;
}

}  // namespace vhsm::provider
