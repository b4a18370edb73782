// Generating, importing and loading private keys: OpenSSL's encoders and decoders (in keyd's
// private library context) for every type, then the engine that signs best.
#include "keyd/crypto/signing_key.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "keyd/crypto/crypto_error.hpp"
#include "keyd/crypto/openssl_context.hpp"
#include "keyd/crypto/signing_engines.hpp"

namespace vhsm::keyd {

namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

[[noreturn]] void failed(const std::string& what) {
  throw CryptoError(CryptoError::Kind::internal, what + " failed");
}

std::string groupOf(EVP_PKEY* pkey) {
  char name[64] = {};
  size_t length = 0;
  if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &length))
    return {};
  return name;
}

// The type a decoded key actually is, so that an import can be checked against its --type.
bool isOfType(EVP_PKEY* pkey, KeyType type) {
  switch (type) {
    case KeyType::EC_P256: return EVP_PKEY_is_a(pkey, "EC") && groupOf(pkey) == "prime256v1";
    case KeyType::EC_P384: return EVP_PKEY_is_a(pkey, "EC") && groupOf(pkey) == "secp384r1";
    case KeyType::ED25519: return EVP_PKEY_is_a(pkey, "ED25519");
    case KeyType::RSA: return EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "RSA-PSS");
    default: return false;
  }
}

const char* typeDescription(KeyType type) {
  switch (type) {
    case KeyType::EC_P256: return "an EC P-256";
    case KeyType::EC_P384: return "an EC P-384";
    case KeyType::ED25519: return "an Ed25519";
    case KeyType::RSA: return "an RSA";
    default: return "a signing";
  }
}

constexpr uint32_t kMinRsaBits = 2048;
constexpr uint32_t kMaxRsaBits = 8192;

SecretBytes encodePkcs8(EVP_PKEY* pkey) {
  OSSL_ENCODER_CTX* ctx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", nullptr);
  unsigned char* data = nullptr;
  size_t length = 0;
  bool ok = ctx && OSSL_ENCODER_to_data(ctx, &data, &length);
  OSSL_ENCODER_CTX_free(ctx);
  if (!ok) throw CryptoError(CryptoError::Kind::invalidArgument, "the key has no private part");
  SecretBytes out(data, data + length);
  OPENSSL_clear_free(data, length);
  return out;
}

Pkey decodePrivateKey(std::span<const uint8_t> material) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* ctx = OSSL_DECODER_CTX_new_for_pkey(
      &pkey, nullptr, nullptr, nullptr, EVP_PKEY_KEYPAIR, opensslContext(), nullptr);
  const unsigned char* p = material.data();
  size_t left = material.size();
  bool ok = ctx && OSSL_DECODER_from_data(ctx, &p, &left);
  OSSL_DECODER_CTX_free(ctx);
  if (!ok || !pkey) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return Pkey(pkey);
}

std::vector<uint8_t> publicKeyDer(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(pkey, &der);
  if (length <= 0) failed("encoding the public key");
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

}  // namespace

bool isSigningType(KeyType type) {
  return type == KeyType::EC_P256 || type == KeyType::EC_P384 || type == KeyType::ED25519 ||
         type == KeyType::RSA;
}

SecretBytes generatePrivateKey(KeyType type, uint32_t& bits) {
  EVP_PKEY* pkey = nullptr;
  OSSL_LIB_CTX* libctx = opensslContext();
  switch (type) {
    case KeyType::EC_P256:
      pkey = EVP_PKEY_Q_keygen(libctx, nullptr, "EC", "P-256");
      bits = 256;
      break;
    case KeyType::EC_P384:
      pkey = EVP_PKEY_Q_keygen(libctx, nullptr, "EC", "P-384");
      bits = 384;
      break;
    case KeyType::ED25519:
      pkey = EVP_PKEY_Q_keygen(libctx, nullptr, "ED25519");
      bits = 256;
      break;
    case KeyType::RSA:
      if (bits == 0) bits = 2048;
      if (bits != 2048 && bits != 3072 && bits != 4096)
        throw CryptoError(CryptoError::Kind::invalidArgument,
                          "RSA keys are generated with 2048, 3072 or 4096 bits");
      pkey = EVP_PKEY_Q_keygen(libctx, nullptr, "RSA", size_t(bits));
      break;
    default: throw CryptoError(CryptoError::Kind::unsupportedAlgorithm, "not a signing key type");
  }
  if (!pkey) failed("key generation");
  Pkey owned(pkey);
  return encodePkcs8(pkey);
}

SecretBytes importPrivateKey(KeyType type, std::span<const uint8_t> material, uint32_t& bits) {
  Pkey pkey = decodePrivateKey(material);
  if (!pkey)
    throw CryptoError(CryptoError::Kind::invalidArgument,
                      "cannot read a private key (PEM or DER, PKCS#8 or traditional, unencrypted)");
  if (!isOfType(pkey.get(), type))
    throw CryptoError(CryptoError::Kind::keyTypeMismatch,
                      std::string("the key given is not ") + typeDescription(type) + " key");
  bits = uint32_t(EVP_PKEY_get_bits(pkey.get()));
  if (type == KeyType::ED25519) bits = 256;
  if (type == KeyType::RSA && (bits < kMinRsaBits || bits > kMaxRsaBits))
    throw CryptoError(CryptoError::Kind::invalidArgument, "RSA keys must have 2048 to 8192 bits");
  return encodePkcs8(pkey.get());
}

std::shared_ptr<const SigningKey> loadSigningKey(KeyType type, std::span<const uint8_t> pkcs8) {
  Pkey pkey = decodePrivateKey(pkcs8);
  if (!pkey || !isOfType(pkey.get(), type))
    throw CryptoError(CryptoError::Kind::unreadableKey, "a stored private key cannot be read");
  auto publicKey = publicKeyDer(pkey.get());
  if (type != KeyType::ED25519) return newOpensslSigningKey(pkey.release(), std::move(publicKey));
  SecretBytes seed(32);
  size_t length = seed.size();
  if (!EVP_PKEY_get_raw_private_key(pkey.get(), seed.data(), &length) || length != seed.size())
    failed("reading the Ed25519 key");
  return newEd25519SigningKey(seed, std::move(publicKey));
}

}  // namespace vhsm::keyd
