// C_Sign* and C_Verify*: HMAC in keyd; ECDSA, EdDSA and RSA signing in keyd (hash-and-sign
// mechanisms hash here and send the digest), verification here on the public key. PKCS#11's
// ECDSA signature is r||s, OpenSSL's and keyd's a DER SEQUENCE: converted both ways.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <optional>

#include "pkcs11/errors.hpp"
#include "pkcs11/local_hash.hpp"
#include "pkcs11/mechanisms.hpp"

namespace vhsm::pkcs11 {

namespace {

constexpr size_t kMaxBufferedMessage = 256 * 1024;  // what raw and EdDSA signing hold here

struct Hash {
  HashAlgorithm algorithm;
  const char* name;
  size_t size;
};
constexpr Hash kSha1{HashAlgorithm::SHA1, "SHA1", 20};
constexpr Hash kSha256{HashAlgorithm::SHA256, "SHA256", 32};
constexpr Hash kSha384{HashAlgorithm::SHA384, "SHA384", 48};
constexpr Hash kSha512{HashAlgorithm::SHA512, "SHA512", 64};

std::optional<Hash> hashNamed(CK_MECHANISM_TYPE type) {
  switch (type) {
    case CKM_SHA_1: return kSha1;
    case CKM_SHA256: return kSha256;
    case CKM_SHA384: return kSha384;
    case CKM_SHA512: return kSha512;
    default: return std::nullopt;
  }
}

std::optional<Hash> mgfHash(CK_RSA_PKCS_MGF_TYPE mgf) {
  switch (mgf) {
    case CKG_MGF1_SHA1: return kSha1;
    case CKG_MGF1_SHA256: return kSha256;
    case CKG_MGF1_SHA384: return kSha384;
    case CKG_MGF1_SHA512: return kSha512;
    default: return std::nullopt;
  }
}

// What a signature mechanism is made of.
struct Scheme {
  CK_KEY_TYPE keyType = CKK_EC;
  std::optional<Hash> hashHere;  // the message is hashed here (hash-and-sign mechanisms)
  SignOptions options;
  bool pss = false;
};

Scheme schemeFor(CK_KEY_TYPE type, std::optional<Hash> hashHere = std::nullopt) {
  Scheme s;
  s.keyType = type;
  s.hashHere = hashHere;
  if (hashHere) s.options.hash = hashHere->algorithm;
  return s;
}

// The digest length a PSS parameter set fixes, with its checks against the mechanism.
void applyPss(const CK_MECHANISM& m, Scheme& s) {
  if (!m.pParameter || m.ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
    throw Failure{CKR_MECHANISM_PARAM_INVALID};
  auto* p = static_cast<const CK_RSA_PKCS_PSS_PARAMS*>(m.pParameter);
  auto hash = hashNamed(p->hashAlg);
  auto mgf = mgfHash(p->mgf);
  if (!hash || !mgf || (s.hashHere && s.hashHere->algorithm != hash->algorithm) || p->sLen > 1024)
    throw Failure{CKR_MECHANISM_PARAM_INVALID};
  s.pss = true;
  s.options.rsaPadding = RsaPadding::PSS;
  s.options.hash = hash->algorithm;
  s.options.mgf1Hash = mgf->algorithm;
  s.options.pssSaltLength = int32_t(p->sLen);
}

Scheme schemeOf(const CK_MECHANISM& m) {
  auto noParameter = [&] {
    if (m.pParameter || m.ulParameterLen) throw Failure{CKR_MECHANISM_PARAM_INVALID};
  };
  auto hashed = [](CK_KEY_TYPE type, Hash hash) { return schemeFor(type, hash); };
  Scheme s = schemeFor(CKK_EC);
  switch (m.mechanism) {
    case CKM_ECDSA:
      noParameter();
      s.options.raw = true;
      return s;
    case CKM_ECDSA_SHA1: noParameter(); return hashed(CKK_EC, kSha1);
    case CKM_ECDSA_SHA256: noParameter(); return hashed(CKK_EC, kSha256);
    case CKM_ECDSA_SHA384: noParameter(); return hashed(CKK_EC, kSha384);
    case CKM_ECDSA_SHA512: noParameter(); return hashed(CKK_EC, kSha512);
    case CKM_EDDSA:
      noParameter();  // pure Ed25519: no context, no pre-hash
      return schemeFor(CKK_EC_EDWARDS);
    case CKM_RSA_PKCS:
      noParameter();
      s = schemeFor(CKK_RSA);
      s.options.raw = true;  // the caller gives the DigestInfo
      return s;
    case CKM_RSA_PKCS_PSS:
      s = schemeFor(CKK_RSA);
      applyPss(m, s);
      return s;
    case CKM_SHA1_RSA_PKCS: noParameter(); return hashed(CKK_RSA, kSha1);
    case CKM_SHA256_RSA_PKCS: noParameter(); return hashed(CKK_RSA, kSha256);
    case CKM_SHA384_RSA_PKCS: noParameter(); return hashed(CKK_RSA, kSha384);
    case CKM_SHA512_RSA_PKCS: noParameter(); return hashed(CKK_RSA, kSha512);
    case CKM_SHA1_RSA_PKCS_PSS: s = hashed(CKK_RSA, kSha1); break;
    case CKM_SHA256_RSA_PKCS_PSS: s = hashed(CKK_RSA, kSha256); break;
    case CKM_SHA384_RSA_PKCS_PSS: s = hashed(CKK_RSA, kSha384); break;
    case CKM_SHA512_RSA_PKCS_PSS: s = hashed(CKK_RSA, kSha512); break;
    default: throw Failure{CKR_MECHANISM_INVALID};
  }
  applyPss(m, s);
  return s;
}

// The message as the scheme takes it: hashed as it comes, or held for one request at the end.
class Message {
 public:
  explicit Message(const Scheme& s) {
    if (s.hashHere) hash_.emplace(s.hashHere->name);
  }
  void add(ByteView data) {
    if (hash_) return hash_->update(data);
    if (data.size() > kMaxBufferedMessage - held_.size()) throw Failure{CKR_DATA_LEN_RANGE};
    held_.insert(held_.end(), data.begin(), data.end());
  }
  Bytes take() { return hash_ ? hash_->final() : std::move(held_); }

 private:
  std::optional<LocalHash> hash_;
  Bytes held_;
};

class KeySigner : public Operation {
 public:
  KeySigner(Client& client, std::string keyId, Scheme scheme, const PublicKey& key)
      : client_(client),
        keyId_(std::move(keyId)),
        scheme_(std::move(scheme)),
        length_(key.signatureBytes),
        message_(scheme_) {}
  size_t updateLength(size_t) const override { return 0; }
  size_t finalLength() const override { return length_; }
  void update(ByteView in, uint8_t*) override { message_.add(in); }
  void final(uint8_t* out) override {
    Bytes tbs = message_.take();
    if (scheme_.pss && !scheme_.hashHere && tbs.size() != hashSize(scheme_.options.hash))
      throw Failure{CKR_DATA_LEN_RANGE};
    Bytes signature = client_.sign(keyId_, scheme_.options, tbs);
    if (scheme_.keyType == CKK_EC) signature = ecdsaRaw(signature, length_ / 2);
    if (signature.size() != length_) throw Failure{CKR_DEVICE_ERROR};
    std::memcpy(out, signature.data(), signature.size());
  }

 private:
  static size_t hashSize(HashAlgorithm a) {
    return a == HashAlgorithm::SHA1     ? 20
           : a == HashAlgorithm::SHA256 ? 32
           : a == HashAlgorithm::SHA384 ? 48
                                        : 64;
  }
  Client& client_;
  std::string keyId_;
  Scheme scheme_;
  size_t length_;
  Message message_;
};

class HmacSigner : public Operation {
 public:
  HmacSigner(Client& client, const std::string& keyId, Hash hash)
      : stream_(client.hmacStream(keyId, hash.algorithm)), length_(hash.size) {}
  size_t updateLength(size_t) const override { return 0; }
  size_t finalLength() const override { return length_; }
  void update(ByteView in, uint8_t*) override { stream_.update(in); }
  void final(uint8_t* out) override {
    auto mac = stream_.final();
    if (mac.size() != length_) throw Failure{CKR_DEVICE_ERROR};
    std::memcpy(out, mac.data(), mac.size());
  }

 private:
  HashStream stream_;
  size_t length_;
};

class HmacVerifier : public Verifier {
 public:
  HmacVerifier(Client& client, const std::string& keyId, Hash hash)
      : signer_(client, keyId, hash) {}
  void update(ByteView in) override { signer_.update(in, nullptr); }
  bool final(ByteView signature) override {
    if (signature.size() != signer_.finalLength()) throw Failure{CKR_SIGNATURE_LEN_RANGE};
    Bytes mac(signer_.finalLength());
    signer_.final(mac.data());
    return CRYPTO_memcmp(mac.data(), signature.data(), mac.size()) == 0;
  }

 private:
  HmacSigner signer_;
};

// Verification with the public key in this process: nothing secret is involved.
class PublicVerifier : public Verifier {
 public:
  PublicVerifier(Scheme scheme, const PublicKey& key)
      : scheme_(std::move(scheme)), key_(key), message_(scheme_) {}
  void update(ByteView in) override { message_.add(in); }
  bool final(ByteView signature) override {
    if (signature.size() != key_.signatureBytes) throw Failure{CKR_SIGNATURE_LEN_RANGE};
    Bytes sig(signature.begin(), signature.end());
    if (scheme_.keyType == CKK_EC) sig = *ecdsaDer(sig);
    Bytes tbs = message_.take();
    const unsigned char* p = key_.spki.data();
    EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, long(key_.spki.size()));
    if (!pkey) throw Failure{CKR_DEVICE_ERROR};
    bool ok = false;
    if (scheme_.keyType == CKK_EC_EDWARDS) {
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
           EVP_DigestVerify(ctx, sig.data(), sig.size(), tbs.data(), tbs.size()) == 1;
      EVP_MD_CTX_free(ctx);
    } else {
      EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
      ok = ctx && EVP_PKEY_verify_init(ctx) == 1 && configure(ctx) &&
           EVP_PKEY_verify(ctx, sig.data(), sig.size(), tbs.data(), tbs.size()) == 1;
      EVP_PKEY_CTX_free(ctx);
    }
    EVP_PKEY_free(pkey);
    return ok;
  }

 private:
  // The digest (unless raw) and RSA padding; the message's digest is what gets verified.
  bool configure(EVP_PKEY_CTX* ctx) const {
    const auto& o = scheme_.options;
    const char* md = o.hash == HashAlgorithm::SHA1     ? "SHA1"
                     : o.hash == HashAlgorithm::SHA256 ? "SHA256"
                     : o.hash == HashAlgorithm::SHA384 ? "SHA384"
                                                       : "SHA512";
    if (!o.raw && EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)) <= 0) return false;
    if (scheme_.keyType != CKK_RSA) return true;
    if (!scheme_.pss) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    const char* mgf = o.mgf1Hash == HashAlgorithm::SHA1     ? "SHA1"
                      : o.mgf1Hash == HashAlgorithm::SHA256 ? "SHA256"
                      : o.mgf1Hash == HashAlgorithm::SHA384 ? "SHA384"
                                                            : "SHA512";
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, o.pssSaltLength) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_get_digestbyname(mgf)) > 0;
  }

  Scheme scheme_;
  PublicKey key_;
  Message message_;
};

std::optional<Hash> hmacHash(CK_MECHANISM_TYPE type) {
  switch (type) {
    case CKM_SHA_1_HMAC: return kSha1;
    case CKM_SHA256_HMAC: return kSha256;
    case CKM_SHA384_HMAC: return kSha384;
    case CKM_SHA512_HMAC: return kSha512;
    default: return std::nullopt;
  }
}

// The key a mechanism needs; Failure with the spec's code otherwise.
void checkKey(Object& key, CK_KEY_TYPE type, CK_OBJECT_CLASS objectClass) {
  if (key.keyType() != type) throw Failure{CKR_KEY_TYPE_INCONSISTENT};
  if (key.ref().objectClass != objectClass) throw Failure{CKR_KEY_FUNCTION_NOT_PERMITTED};
}

}  // namespace

std::unique_ptr<Operation> signerFor(Client& client, Object& key, const CK_MECHANISM& m) {
  if (auto hash = hmacHash(m.mechanism)) {
    if (m.pParameter || m.ulParameterLen) throw Failure{CKR_MECHANISM_PARAM_INVALID};
    checkKey(key, CKK_GENERIC_SECRET, CKO_SECRET_KEY);
    return std::make_unique<HmacSigner>(client, key.info().id, *hash);
  }
  Scheme scheme = schemeOf(m);
  checkKey(key, scheme.keyType, CKO_PRIVATE_KEY);
  return std::make_unique<KeySigner>(client, key.info().id, std::move(scheme), *key.publicKey());
}

std::unique_ptr<Verifier> verifierFor(Object& key, const CK_MECHANISM& m) {
  if (auto hash = hmacHash(m.mechanism)) {
    if (m.pParameter || m.ulParameterLen) throw Failure{CKR_MECHANISM_PARAM_INVALID};
    checkKey(key, CKK_GENERIC_SECRET, CKO_SECRET_KEY);
    return std::make_unique<HmacVerifier>(key.client(), key.info().id, *hash);
  }
  Scheme scheme = schemeOf(m);
  checkKey(key, scheme.keyType, CKO_PUBLIC_KEY);
  return std::make_unique<PublicVerifier>(std::move(scheme), *key.publicKey());
}

}  // namespace vhsm::pkcs11
