// vhsm's fetch preference in the application's library context. OpenSSL resolves a fetch
// without a property query to the first provider in name order, and "default" sorts before
// "vhsm": without a preference, `openssl dgst -mac HMAC -macopt key:vhsm:k1 -provider vhsm`
// would key the default provider's HMAC with the text "vhsm:k1". So vhsm, once loaded, adds an
// optional preference for its key-reference algorithms (HMAC and AES-GCM, which compute
// ordinary keys in-process anyway) to the library context's default properties.
#pragma once

#include <openssl/types.h>

namespace vhsm::provider {

// The properties of vhsm's key-reference algorithms, and the optional query that prefers them.
inline constexpr const char* kKeyRefAlgorithmProperties = "provider=vhsm,vhsm.keyref=yes";
inline constexpr const char* kKeyRefPreference = "?vhsm.keyref=yes";

// Adds kKeyRefPreference to libctx's default properties unless they already prefer vhsm.
// OpenSSL before 3.5 cannot read the default properties back (EVP_get1_default_properties):
// there the preference replaces them, keeping only `fips=yes`. Returns false (with OpenSSL's error)
// when OpenSSL refused.
bool applyKeyRefPreference(OSSL_LIB_CTX* libctx);

}  // namespace vhsm::provider
