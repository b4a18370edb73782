// What the whole provider shares: its configuration, the connection to keyd (made and logged
// in on first use, never at load), a private library context holding only OpenSSL's default
// provider for pass-through, and raising errors on OpenSSL's error queue.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <vhsm/client.hpp>
#include "provider/passthrough.hpp"

namespace vhsm::provider {

// Reason codes of the provider's errors (get_reason_strings has the texts).
enum Reason : int {
  kKeydUnreachable = 1,
  kKeydTimeout,
  kConnectionLost,
  kUnknownKey,
  kWrongPassword,
  kContainerNotAllowed,
  kKeyTypeMismatch,
  kNotUnlocked,
  kPermissionDenied,
  kTagMismatch,
  kInvalidKeyUri,
  kInvalidParameter,
  kLoginThrottled,
  kNoUser,
  kKeydError,
  kUnsupported,
  kUsageNotPermitted,
};
const OSSL_ITEM* reasonStrings();

struct Config {
  std::string transport = "unix";
  std::string socket = "/run/vhsm/keyd.sock";
  std::string user;
  std::string passwordFile;
  bool remoteDigests = true;  // digests = keyd (default) | local
  bool preferKeyRefs = true;  // preference = keyref (default) | none: see preference.hpp
  int timeoutMillis = 10000;
};

class ProviderContext {
 public:
  ProviderContext(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in);
  ~ProviderContext();

  const Config& config() const { return config_; }
  // Only OpenSSL's default provider: where non-vhsm keys are computed, and where keyd's
  // work is never sent back into vhsm.
  OSSL_LIB_CTX* defaultLibctx() const { return defaultLibctx_; }
  // Fetched once: a fetch per operation would cost more than the operation.
  EVP_MD* localDigest(const char* name) const;
  EVP_MD* localDigest(HashAlgorithm algorithm) const { return localDigests_[unsigned(algorithm)]; }
  // The default provider's HMAC and AES-GCM themselves, for the pass-through (passthrough.hpp).
  const DefaultMac& localHmac() const { return localHmac_; }
  const DefaultCipher& localAesGcm(size_t keyBytes) const {
    return keyBytes == 16 ? localAes128Gcm_ : localAes256Gcm_;
  }
  // The process's connection to keyd, logged in as the configured user (or through an unlock
  // with no password). Throws vhsm::Error.
  Client& client();

  // The core's BIO calls, for encoders and decoders (OSSL_CORE_BIO is opaque to providers).
  bool readAll(OSSL_CORE_BIO* in, std::string& out, size_t limit) const;
  // One line, its newline included; false at the end or past limit bytes.
  bool readLine(OSSL_CORE_BIO* in, std::string& line, size_t limit) const;
  bool write(OSSL_CORE_BIO* out, const void* data, size_t length) const;

  // Puts an error on OpenSSL's queue.
  void raise(Reason reason, const std::string& detail, const char* file, int line,
             const char* func) const;
  // The same for a failure reported by keyd or the connection.
  void raise(const Error& error, const char* file, int line, const char* func) const;

 private:
  const OSSL_CORE_HANDLE* handle_;
  OSSL_FUNC_core_new_error_fn* newError_ = nullptr;
  OSSL_FUNC_core_set_error_debug_fn* setErrorDebug_ = nullptr;
  OSSL_FUNC_core_vset_error_fn* vsetError_ = nullptr;
  OSSL_FUNC_BIO_read_ex_fn* bioRead_ = nullptr;
  OSSL_FUNC_BIO_gets_fn* bioGets_ = nullptr;
  OSSL_FUNC_BIO_write_ex_fn* bioWrite_ = nullptr;
  Config config_;
  OSSL_LIB_CTX* defaultLibctx_ = nullptr;
  OSSL_PROVIDER* defaultProvider_ = nullptr;
  EVP_MD* localDigests_[4] = {};
  DefaultMac localHmac_;
  DefaultCipher localAes128Gcm_, localAes256Gcm_;
  std::mutex mutex_;
  std::unique_ptr<Client> client_;
};

// Debug trace to the file named by VHSM_DEBUG (nothing when unset). Never key material.
void debugLog(const std::string& line);

#define VHSM_RAISE(ctx, reason, detail) \
  (ctx)->raise((reason), (detail), __FILE__, __LINE__, __func__)
#define VHSM_RAISE_ERROR(ctx, error) (ctx)->raise((error), __FILE__, __LINE__, __func__)

}  // namespace vhsm::provider
