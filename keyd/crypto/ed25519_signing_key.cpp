// Ed25519 (RFC 8032, pure: the whole message is signed) by Crypto++.
#include <cryptopp/osrng.h>
#include <cryptopp/xed25519.h>

#include "keyd/crypto/signing_engines.hpp"

namespace vhsm::keyd {
namespace {

class Ed25519SigningKey final : public SigningKey {
 public:
  Ed25519SigningKey(std::span<const uint8_t> seed, std::vector<uint8_t> publicKey)
      : signer_(seed.data()), publicKey_(std::move(publicKey)) {}

  std::vector<uint8_t> sign(const SignParams&, std::span<const uint8_t> data) const override {
    std::vector<uint8_t> signature(signer_.MaxSignatureLength());
    // Ed25519 is deterministic: the generator is never asked for a byte.
    signature.resize(
        signer_.SignMessage(CryptoPP::NullRNG(), data.data(), data.size(), signature.data()));
    return signature;
  }

  const std::vector<uint8_t>& publicKey() const override { return publicKey_; }

 private:
  CryptoPP::ed25519::Signer signer_;
  std::vector<uint8_t> publicKey_;
};

}  // namespace

std::shared_ptr<const SigningKey> newEd25519SigningKey(std::span<const uint8_t> seed,
                                                       std::vector<uint8_t> publicKey) {
  return std::make_shared<Ed25519SigningKey>(seed, std::move(publicKey));
}

}  // namespace vhsm::keyd
