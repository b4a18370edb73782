#include "keyd/crypto/primitives.hpp"

#include <cryptopp/aes.h>
#include <cryptopp/gcm.h>
#include <cryptopp/hkdf.h>
#include <cryptopp/osrng.h>
#include <cryptopp/pwdbased.h>
#include <cryptopp/sha.h>

namespace vhsm::keyd {
namespace {

constexpr uint8_t kBlobVersion = 1;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

}  // namespace

void randomBytes(std::span<uint8_t> out) {
  // The kernel's generator: thread-safe and needing no seeding state in keyd.
  CryptoPP::OS_GenerateRandomBlock(false, out.data(), out.size());
}

SecretBytes randomSecret(size_t bytes) {
  SecretBytes s(bytes);
  randomBytes(s);
  return s;
}

SecretBytes pbkdf2Sha256(std::span<const uint8_t> password, std::span<const uint8_t> salt,
                         uint32_t iterations) {
  SecretBytes out(kWrapKeyBytes);
  CryptoPP::PKCS5_PBKDF2_HMAC<CryptoPP::SHA256> kdf;
  kdf.DeriveKey(out.data(), out.size(), 0, password.data(), password.size(), salt.data(),
                salt.size(), iterations);
  return out;
}

SecretBytes hkdfSha256(std::span<const uint8_t> secret, std::string_view info) {
  SecretBytes out(kWrapKeyBytes);
  CryptoPP::HKDF<CryptoPP::SHA256> kdf;
  kdf.DeriveKey(out.data(), out.size(), secret.data(), secret.size(), nullptr, 0,
                reinterpret_cast<const uint8_t*>(info.data()), info.size());
  return out;
}

std::vector<uint8_t> seal(std::span<const uint8_t> key, std::span<const uint8_t> plaintext,
                          std::span<const uint8_t> aad) {
  std::vector<uint8_t> blob(1 + kNonceBytes + plaintext.size() + kTagBytes);
  blob[0] = kBlobVersion;
  uint8_t* nonce = blob.data() + 1;
  uint8_t* body = nonce + kNonceBytes;
  randomBytes({nonce, kNonceBytes});
  CryptoPP::GCM<CryptoPP::AES>::Encryption gcm;
  gcm.SetKeyWithIV(key.data(), key.size(), nonce, kNonceBytes);
  gcm.Update(aad.data(), aad.size());
  gcm.ProcessData(body, plaintext.data(), plaintext.size());
  gcm.TruncatedFinal(body + plaintext.size(), kTagBytes);
  return blob;
}

std::optional<SecretBytes> open(std::span<const uint8_t> key, std::span<const uint8_t> blob,
                                std::span<const uint8_t> aad) {
  if (blob.size() < 1 + kNonceBytes + kTagBytes || blob[0] != kBlobVersion) return std::nullopt;
  const uint8_t* nonce = blob.data() + 1;
  const uint8_t* body = nonce + kNonceBytes;
  size_t bodySize = blob.size() - 1 - kNonceBytes - kTagBytes;
  SecretBytes plaintext(bodySize);
  CryptoPP::GCM<CryptoPP::AES>::Decryption gcm;
  gcm.SetKeyWithIV(key.data(), key.size(), nonce, kNonceBytes);
  gcm.Update(aad.data(), aad.size());
  gcm.ProcessData(plaintext.data(), body, bodySize);
  if (!gcm.TruncatedVerify(body + bodySize, kTagBytes)) return std::nullopt;
  return plaintext;
}

}  // namespace vhsm::keyd
