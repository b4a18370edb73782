// AES-GCM (128/192/256-bit keys) on Crypto++, one object per message, with OpenSSL's rules:
// any IV length from 1 byte, AAD before data, tags of 1–16 bytes.
#pragma once

#include <cryptopp/cryptlib.h>

#include <memory>
#include <span>

namespace vhsm::keyd {

inline constexpr size_t kDefaultGcmIvBytes = 12;
inline constexpr size_t kMaxGcmTagBytes = 16;
inline constexpr size_t kMaxGcmIvBytes = 1024;

class AesGcm {
 public:
  // Throws Refusal(invalidArgument) for a bad key or IV length.
  AesGcm(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv);
  // Only before the first process(); throws Refusal(invalidArgument) after it.
  void addAad(std::span<const uint8_t> aad);
  void process(std::span<const uint8_t> in, uint8_t* out);
  void tag(std::span<uint8_t> out);                // encrypt: tag of out.size() bytes
  bool verify(std::span<const uint8_t> expected);  // decrypt

  static void checkTagLength(size_t bytes);

 private:
  std::unique_ptr<CryptoPP::AuthenticatedSymmetricCipher> cipher_;
  bool dataStarted_ = false;
};

}  // namespace vhsm::keyd
