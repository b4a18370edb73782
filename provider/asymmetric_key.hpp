// The key object (OpenSSL "keydata") of vhsm's EC, Ed25519 and RSA key management. A vhsm
// key holds only its public part here — the private part never leaves keyd — and its id; any
// other key (generated or imported through vhsm under default_properties = ?provider=vhsm) is
// a whole key of OpenSSL's default provider, used in-process.
#pragma once

#include <openssl/core.h>
#include <openssl/types.h>

#include <string>

#include "provider/provider_ctx.hpp"

namespace vhsm::provider {

struct AsymmetricKey {
  AsymmetricKey(ProviderContext* p, const char* algorithm) : provider(p), algorithm(algorithm) {}
  AsymmetricKey(const AsymmetricKey& other);
  AsymmetricKey& operator=(const AsymmetricKey&) = delete;
  ~AsymmetricKey();

  bool isVhsm() const { return !keyId.empty(); }
  bool hasPrivate() const { return isVhsm() || localPrivate; }

  ProviderContext* provider;
  const char* algorithm;     // the key management's name: "EC", "ED25519" or "RSA"
  EVP_PKEY* pkey = nullptr;  // in the provider's default-only library context
  std::string keyId;         // set for a vhsm key
  bool localPrivate = false;
  // For a vhsm EC or RSA key: a default-provider verify context of the public key, made once
  // and duplicated for each signature (which validates its parameters on it). Making one per
  // signature cost more than all the rest of a signature's work in this process.
  EVP_PKEY_CTX* verifyTemplate = nullptr;
};

// The key management names, as OpenSSL's default provider spells them. Compare them with
// strcmp: without constant merging (sanitizer builds) each file may hold its own copy.
inline constexpr const char* kEc = "EC";
inline constexpr const char* kEd25519 = "ED25519";
inline constexpr const char* kRsa = "RSA";

// Hands key to OpenSSL by reference (store loader, decoder): the key management's load()
// takes its own copy during the callback.
int passByReference(const AsymmetricKey& key, OSSL_CALLBACK* callback, void* arg);
// export_object for such a reference, which OpenSSL calls when another provider's key
// management was fetched for the key: declined for a key held by vhsm, so that OpenSSL falls
// back to vhsm's own key management. Exporting its public half instead would hand the program
// a public key where it asked for a private one (openssl pkey -in vhsm:k, s_server -key).
// The public half leaves through the key management's export (EVP_PKEY_todata).
int declineReferenceExport(void* ctx, const void* reference, size_t size, OSSL_CALLBACK* callback,
                           void* arg);

// A vhsm key by id, with its public key fetched from keyd; nullptr with the error raised.
AsymmetricKey* loadVhsmKey(ProviderContext* provider, const std::string& keyId);

}  // namespace vhsm::provider
