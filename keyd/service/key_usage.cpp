#include "keyd/service/key_usage.hpp"

#include "keyd/crypto/signing_key.hpp"
#include "protocol/enum_mirror.hpp"

namespace vhsm::keyd {

using proto::KeyType;
using proto::KeyUsage;

namespace {

// Usage as stored: bits, so that a future type may allow more than one.
constexpr uint32_t kUsageSign = 1;
constexpr uint32_t kUsageEncrypt = 2;
constexpr uint32_t kUsageMac = 4;

}  // namespace

const char* typeName(KeyType type) {
  switch (type) {
    case KeyType::HMAC: return "hmac";
    case KeyType::AES: return "aes";
    case KeyType::EC_P256: return "ec-p256";
    case KeyType::EC_P384: return "ec-p384";
    case KeyType::ED25519: return "ed25519";
    case KeyType::RSA: return "rsa";
  }
  return "unknown";
}

uint32_t usageBit(KeyUsage usage) {
  switch (usage) {
    case KeyUsage::MAC: return kUsageMac;
    case KeyUsage::ENCRYPT: return kUsageEncrypt;
    case KeyUsage::SIGN: return kUsageSign;
  }
  return 0;
}

const char* usageName(KeyUsage usage) {
  switch (usage) {
    case KeyUsage::MAC: return "mac";
    case KeyUsage::ENCRYPT: return "encrypt";
    case KeyUsage::SIGN: return "sign";
  }
  return "unknown";
}

// The type is bound to the wrapped material (its AAD), while the stored usage field is not: a
// store edit could flip that field, never the type, so the field is written for readers of the
// file and never trusted. A type keyd does not know permits nothing.
uint32_t usageBitsOf(KeyType type) {
  switch (type) {
    case KeyType::HMAC: return kUsageMac;
    case KeyType::AES: return kUsageEncrypt;
    default: return isSigningType(proto::api(type)) ? kUsageSign : 0;
  }
}

KeyUsage usageFromBits(uint32_t bits) {
  if (bits & kUsageSign) return KeyUsage::SIGN;
  return bits & kUsageEncrypt ? KeyUsage::ENCRYPT : KeyUsage::MAC;
}

}  // namespace vhsm::keyd
