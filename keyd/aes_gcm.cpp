#include "aes_gcm.hpp"

#include <cryptopp/aes.h>
#include <cryptopp/gcm.h>

#include "refusal.hpp"

namespace vhsm::keyd {
namespace {

using proto::ErrorCode;

}  // namespace

AesGcm::AesGcm(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32)
    throw Refusal(ErrorCode::KEY_TYPE_MISMATCH, "AES-GCM needs a 128, 192 or 256-bit key");
  if (iv.empty() || iv.size() > kMaxGcmIvBytes)
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "AES-GCM IV must be 1 to 1024 bytes");
  if (encrypt)
    cipher_ = std::make_unique<CryptoPP::GCM<CryptoPP::AES>::Encryption>();
  else
    cipher_ = std::make_unique<CryptoPP::GCM<CryptoPP::AES>::Decryption>();
  cipher_->SetKeyWithIV(key.data(), key.size(), iv.data(), iv.size());
}

void AesGcm::addAad(std::span<const uint8_t> aad) {
  if (aad.empty()) return;
  if (dataStarted_) throw Refusal(ErrorCode::INVALID_ARGUMENT, "AES-GCM AAD after data");
  cipher_->Update(aad.data(), aad.size());
}

void AesGcm::process(std::span<const uint8_t> in, uint8_t* out) {
  if (in.empty()) return;
  dataStarted_ = true;
  cipher_->ProcessData(out, in.data(), in.size());
}

void AesGcm::checkTagLength(size_t bytes) {
  if (bytes < 1 || bytes > kMaxGcmTagBytes)
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "AES-GCM tag must be 1 to 16 bytes");
}

void AesGcm::tag(std::span<uint8_t> out) {
  checkTagLength(out.size());
  cipher_->TruncatedFinal(out.data(), out.size());
}

bool AesGcm::verify(std::span<const uint8_t> expected) {
  checkTagLength(expected.size());
  return cipher_->TruncatedVerify(expected.data(), expected.size());
}

}  // namespace vhsm::keyd
