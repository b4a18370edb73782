#include "keyd/crypto/keyring.hpp"

#include <algorithm>

#include "keyd/crypto/primitives.hpp"

namespace vhsm::keyd {
namespace {

// Length-prefixed fields, so ("ab","c") and ("a","bc") bind differently.
class Aad {
 public:
  explicit Aad(std::string_view purpose) { add(purpose); }
  Aad& add(std::string_view field) {
    // One resize and a copy: push_back then insert led GCC 12 at -O3 to a false
    // -Wstringop-overflow, which stopped Release builds with warnings as errors.
    size_t at = bytes_.size();
    bytes_.resize(at + 4 + field.size());
    uint32_t n = uint32_t(field.size());
    for (size_t i = 0; i < 4; ++i) bytes_[at + i] = uint8_t(n >> (8 * i));
    std::copy(field.begin(), field.end(), bytes_.begin() + std::ptrdiff_t(at + 4));
    return *this;
  }
  Aad& add(uint64_t number) { return add(std::to_string(number)); }
  std::span<const uint8_t> span() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

Aad userAad(const store::User& user) {
  return std::move(Aad("vhsm user secret v1").add(user.name).add(user.kdfIterations));
}

Aad keyAad(const store::Key& key) {
  return std::move(Aad("vhsm key v1").add(key.owner).add(key.id).add(key.type).add(key.bits));
}

SecretBytes keyWrappingKey(const SecretBytes& userSecret) {
  return hkdfSha256(userSecret, "vhsm key-wrapping key v1");
}

void wrapSecret(store::User& user, const SecretBytes& secret, std::span<const uint8_t> password,
                uint32_t iterations) {
  user.kdfSalt.resize(kSaltBytes);
  randomBytes(user.kdfSalt);
  user.kdfIterations = iterations;
  auto master = pbkdf2Sha256(password, user.kdfSalt, iterations);
  user.wrappedSecret = seal(master, secret, userAad(user).span());
}

}  // namespace

SecretBytes createUserSecret(store::User& user, std::span<const uint8_t> password,
                             uint32_t iterations) {
  user.id.resize(kUserIdBytes);
  randomBytes(user.id);
  auto secret = randomSecret(kUserSecretBytes);
  wrapSecret(user, secret, password, iterations);
  return secret;
}

std::optional<SecretBytes> unwrapUserSecret(const store::User& user,
                                            std::span<const uint8_t> password) {
  auto master = pbkdf2Sha256(password, user.kdfSalt, user.kdfIterations);
  return open(master, user.wrappedSecret, userAad(user).span());
}

void rewrapUserSecret(store::User& user, const SecretBytes& secret,
                      std::span<const uint8_t> newPassword) {
  wrapSecret(user, secret, newPassword, user.kdfIterations);
}

void wrapKey(store::Key& key, const SecretBytes& userSecret, std::span<const uint8_t> material) {
  key.wrapped = seal(keyWrappingKey(userSecret), material, keyAad(key).span());
}

std::optional<SecretBytes> unwrapKey(const store::Key& key, const SecretBytes& userSecret) {
  return open(keyWrappingKey(userSecret), key.wrapped, keyAad(key).span());
}

}  // namespace vhsm::keyd
