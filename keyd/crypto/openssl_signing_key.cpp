// ECDSA and RSA (PKCS#1 v1.5, PSS) signatures by OpenSSL in keyd's private library context.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <string>

#include "keyd/crypto/crypto_error.hpp"
#include "keyd/crypto/openssl_context.hpp"
#include "keyd/crypto/signing_engines.hpp"

namespace vhsm::keyd {
namespace {

struct HashName {
  const char* name;
  size_t size;
};

HashName hashName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::SHA1: return {"SHA1", 20};
    case HashAlgorithm::SHA256: return {"SHA256", 32};
    case HashAlgorithm::SHA384: return {"SHA384", 48};
    case HashAlgorithm::SHA512: return {"SHA512", 64};
  }
  throw CryptoError(CryptoError::Kind::unsupportedAlgorithm, "unsupported hash algorithm");
}

// RSA_PSS_SALTLEN_MAX: the smallest value OpenSSL gives a meaning to.
constexpr int32_t kLowestSaltLength = -3;

// The contexts every signature without PSS starts from: one per digest (and one for raw data),
// made on first use and duplicated per signature — EVP_PKEY_CTX_dup costs a fifth of a new
// context with its sign_init (a quarter of a P-256 signature here). A context's AlgorithmIdentifier
// is never asked for in keyd, so OpenSSL 3.0's dupctx pointing into the template's buffer is
// harmless; templates live as long as the key.
class SignTemplates {
 public:
  SignTemplates() = default;
  SignTemplates(const SignTemplates&) = delete;
  ~SignTemplates() {
    for (auto& t : templates_) EVP_PKEY_CTX_free(t.load());
  }

  // A context of its own, initialised with params; the template for slot is made from them.
  EVP_PKEY_CTX* duplicate(size_t slot, EVP_PKEY* pkey, const OSSL_PARAM params[]) {
    EVP_PKEY_CTX* shared = templates_[slot].load(std::memory_order_acquire);
    if (!shared) {
      EVP_PKEY_CTX* made = initialised(pkey, params);
      if (!made) return nullptr;
      // Two threads may both make one: the first stored wins, the other is dropped.
      if (templates_[slot].compare_exchange_strong(shared, made, std::memory_order_acq_rel))
        shared = made;
      else
        EVP_PKEY_CTX_free(made);
    }
    return EVP_PKEY_CTX_dup(shared);
  }

  static EVP_PKEY_CTX* initialised(EVP_PKEY* pkey, const OSSL_PARAM params[]) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(opensslContext(), pkey, nullptr);
    if (ctx && EVP_PKEY_sign_init_ex(ctx, params) > 0) return ctx;
    EVP_PKEY_CTX_free(ctx);
    return nullptr;
  }

  static constexpr size_t kRawSlot = 4;  // slots 0-3: HashAlgorithm

 private:
  std::array<std::atomic<EVP_PKEY_CTX*>, kRawSlot + 1> templates_{};
};

class OpensslSigningKey final : public SigningKey {
 public:
  OpensslSigningKey(EVP_PKEY* pkey, std::vector<uint8_t> publicKey)
      : pkey_(pkey), publicKey_(std::move(publicKey)), isRsa_(EVP_PKEY_is_a(pkey, "RSA")) {}
  ~OpensslSigningKey() override { EVP_PKEY_free(pkey_); }

  std::vector<uint8_t> sign(const SignParams& p, std::span<const uint8_t> data) const override {
    OSSL_PARAM params[5];
    size_t n = 0;
    HashName hash{nullptr, 0}, mgf1{nullptr, 0};
    if (!p.raw) {
      hash = hashName(p.hash);
      if (data.size() != hash.size)
        throw CryptoError(CryptoError::Kind::invalidArgument,
                          "a " + std::string(hash.name) + " digest is " +
                              std::to_string(hash.size) + " bytes, not " +
                              std::to_string(data.size()));
      params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                     const_cast<char*>(hash.name), 0);
    }
    int32_t saltLength = p.pssSaltLength;
    bool pss = isRsa_ && p.rsaPadding == RsaPadding::PSS;
    if (isRsa_) {
      params[n++] = OSSL_PARAM_construct_utf8_string(
          OSSL_SIGNATURE_PARAM_PAD_MODE,
          const_cast<char*>(pss ? OSSL_PKEY_RSA_PAD_MODE_PSS : OSSL_PKEY_RSA_PAD_MODE_PKCSV15), 0);
    }
    if (pss) {
      if (p.raw)
        throw CryptoError(CryptoError::Kind::invalidArgument,
                          "RSA-PSS signs a digest, not raw data");
      if (saltLength < kLowestSaltLength)
        throw CryptoError(CryptoError::Kind::invalidArgument, "invalid RSA-PSS salt length");
      mgf1 = hashName(p.mgf1Hash);
      params[n++] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltLength);
      params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                     const_cast<char*>(mgf1.name), 0);
    }
    params[n] = OSSL_PARAM_construct_end();

    // PSS has too many parameter combinations to keep a template for each.
    EVP_PKEY_CTX* ctx =
        pss ? SignTemplates::initialised(pkey_, params)
            : templates_.duplicate(p.raw ? SignTemplates::kRawSlot : size_t(p.hash), pkey_, params);
    std::vector<uint8_t> signature(size_t(EVP_PKEY_get_size(pkey_)));
    size_t length = signature.size();
    bool ok = ctx && EVP_PKEY_sign(ctx, signature.data(), &length, data.data(), data.size()) > 0;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
      throw CryptoError(CryptoError::Kind::invalidArgument,
                        "cannot sign with these parameters (data length, padding or salt length)");
    signature.resize(length);
    return signature;
  }

  const std::vector<uint8_t>& publicKey() const override { return publicKey_; }

 private:
  EVP_PKEY* pkey_;
  std::vector<uint8_t> publicKey_;
  bool isRsa_;
  mutable SignTemplates templates_;
};

}  // namespace

std::shared_ptr<const SigningKey> newOpensslSigningKey(EVP_PKEY* pkey,
                                                       std::vector<uint8_t> publicKey) {
  return std::make_shared<OpensslSigningKey>(pkey, std::move(publicKey));
}

}  // namespace vhsm::keyd
