// C_Encrypt* and C_Decrypt* with CKM_AES_GCM, in keyd. Encryption streams: each update's
// ciphertext comes back at once and final gives the tag. Decryption holds the ciphertext
// until final, where the tag is checked before any plaintext is released (PKCS#11 3.0's
// rule for AEAD), so a forged message never yields unauthenticated output.
#include <cstring>

#include "pkcs11/errors.hpp"
#include "pkcs11/mechanisms.hpp"

namespace vhsm::pkcs11 {

namespace {

constexpr size_t kMaxHeldCiphertext = 256 * 1024;

struct GcmParameters {
  Bytes iv, aad;
  size_t tagBytes;
};

GcmParameters parametersOf(const CK_MECHANISM& m) {
  if (!m.pParameter || m.ulParameterLen != sizeof(CK_GCM_PARAMS))
    throw Failure{CKR_MECHANISM_PARAM_INVALID};
  auto* p = static_cast<const CK_GCM_PARAMS*>(m.pParameter);
  if (!p->pIv || p->ulIvLen == 0 || p->ulIvLen > 256 || (p->ulAADLen && !p->pAAD) ||
      p->ulAADLen > kMaxHeldCiphertext || p->ulTagBits % 8 || p->ulTagBits < 32 ||
      p->ulTagBits > 128)
    throw Failure{CKR_MECHANISM_PARAM_INVALID};
  GcmParameters out;
  out.iv.assign(p->pIv, p->pIv + p->ulIvLen);
  if (p->ulAADLen) out.aad.assign(p->pAAD, p->pAAD + p->ulAADLen);
  out.tagBytes = p->ulTagBits / 8;
  return out;
}

class GcmEncrypt : public Operation {
 public:
  GcmEncrypt(Client& client, const std::string& keyId, GcmParameters p)
      : stream_(client.gcmEncryptStream(keyId, p.iv)), tagBytes_(p.tagBytes) {
    if (!p.aad.empty()) stream_.aad(p.aad);
  }
  size_t updateLength(size_t in) const override { return in; }
  size_t finalLength() const override { return tagBytes_; }
  void update(ByteView in, uint8_t* out) override {
    if (!in.empty()) stream_.update(in, out);
  }
  void final(uint8_t* out) override {
    Bytes tag;
    stream_.finalEncrypt(tag, uint8_t(tagBytes_));
    if (tag.size() != tagBytes_) throw Failure{CKR_DEVICE_ERROR};
    std::memcpy(out, tag.data(), tagBytes_);
  }

 private:
  GcmStream stream_;
  size_t tagBytes_;
};

class GcmDecrypt : public Operation {
 public:
  GcmDecrypt(Client& client, std::string keyId, GcmParameters p)
      : client_(client), keyId_(std::move(keyId)), p_(std::move(p)) {}
  size_t updateLength(size_t) const override { return 0; }
  size_t finalLength() const override {
    if (held_.size() < p_.tagBytes) throw Failure{CKR_ENCRYPTED_DATA_LEN_RANGE};
    return held_.size() - p_.tagBytes;
  }
  size_t oneShotLength(size_t in) const override {
    if (in < p_.tagBytes) throw Failure{CKR_ENCRYPTED_DATA_LEN_RANGE};
    return in - p_.tagBytes;
  }
  void update(ByteView in, uint8_t*) override {
    if (in.size() > kMaxHeldCiphertext - held_.size()) throw Failure{CKR_DATA_LEN_RANGE};
    held_.insert(held_.end(), in.begin(), in.end());
  }
  void final(uint8_t* out) override {
    size_t length = finalLength();
    ByteView all(held_);
    Bytes plain = client_.gcmDecrypt(keyId_, p_.iv, p_.aad, all.first(length), all.subspan(length));
    if (plain.size() != length) throw Failure{CKR_DEVICE_ERROR};
    std::memcpy(out, plain.data(), plain.size());
  }

 private:
  Client& client_;
  std::string keyId_;
  GcmParameters p_;
  Bytes held_;
};

}  // namespace

std::unique_ptr<Operation> cipherFor(Client& client, Object& key, const CK_MECHANISM& m,
                                     bool encrypt) {
  if (m.mechanism != CKM_AES_GCM) throw Failure{CKR_MECHANISM_INVALID};
  if (key.keyType() != CKK_AES) throw Failure{CKR_KEY_TYPE_INCONSISTENT};
  auto parameters = parametersOf(m);
  if (encrypt) return std::make_unique<GcmEncrypt>(client, key.info().id, std::move(parameters));
  return std::make_unique<GcmDecrypt>(client, key.info().id, std::move(parameters));
}

}  // namespace vhsm::pkcs11
