// C_Digest*: SHA-1/256/384/512 in keyd, SHA-224 in-process.
#include <cstring>

#include "pkcs11/errors.hpp"
#include "pkcs11/local_hash.hpp"
#include "pkcs11/mechanisms.hpp"

namespace vhsm::pkcs11 {

namespace {

class KeydDigest : public Operation {
 public:
  KeydDigest(Client& client, HashAlgorithm algorithm, size_t length)
      : stream_(client.digestStream(algorithm)), length_(length) {}
  size_t updateLength(size_t) const override { return 0; }
  size_t finalLength() const override { return length_; }
  void update(ByteView in, uint8_t*) override { stream_.update(in); }
  void final(uint8_t* out) override {
    auto digest = stream_.final();
    if (digest.size() != length_) throw Failure{CKR_DEVICE_ERROR};
    std::memcpy(out, digest.data(), digest.size());
  }

 private:
  HashStream stream_;
  size_t length_;
};

class InProcessDigest : public Operation {
 public:
  explicit InProcessDigest(const char* name) : hash_(name) {}
  size_t updateLength(size_t) const override { return 0; }
  size_t finalLength() const override { return hash_.size(); }
  void update(ByteView in, uint8_t*) override { hash_.update(in); }
  void final(uint8_t* out) override {
    auto digest = hash_.final();
    std::memcpy(out, digest.data(), digest.size());
  }

 private:
  LocalHash hash_;
};

}  // namespace

std::unique_ptr<Operation> digestFor(Client& client, const CK_MECHANISM& mechanism) {
  if (mechanism.pParameter || mechanism.ulParameterLen) throw Failure{CKR_MECHANISM_PARAM_INVALID};
  switch (mechanism.mechanism) {
    case CKM_SHA_1: return std::make_unique<KeydDigest>(client, HashAlgorithm::SHA1, 20);
    case CKM_SHA224: return std::make_unique<InProcessDigest>("SHA224");
    case CKM_SHA256: return std::make_unique<KeydDigest>(client, HashAlgorithm::SHA256, 32);
    case CKM_SHA384: return std::make_unique<KeydDigest>(client, HashAlgorithm::SHA384, 48);
    case CKM_SHA512: return std::make_unique<KeydDigest>(client, HashAlgorithm::SHA512, 64);
    default: throw Failure{CKR_MECHANISM_INVALID};
  }
}

}  // namespace vhsm::pkcs11
