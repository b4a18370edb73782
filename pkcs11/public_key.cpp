#include "pkcs11/public_key.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>

#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {

const Bytes kP256Oid = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const Bytes kP384Oid = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
const Bytes kEd25519Oid = {0x06, 0x03, 0x2b, 0x65, 0x70};
// PKCS#11 3.0 also names the curve as a PrintableString.
const Bytes kEd25519Name = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

Bytes octetString(const uint8_t* data, size_t length) {
  Bytes out = {0x04};
  if (length >= 0x80) out.push_back(0x81);
  out.push_back(uint8_t(length));
  out.insert(out.end(), data, data + length);
  return out;
}

Bytes bnParam(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) throw Failure{CKR_DEVICE_ERROR};
  Bytes out(size_t(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

}  // namespace

PublicKey parsePublicKey(const Bytes& spki) {
  const unsigned char* p = spki.data();
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(d2i_PUBKEY(nullptr, &p, long(spki.size())));
  if (!pkey) throw Failure{CKR_DEVICE_ERROR};
  PublicKey key;
  key.spki = spki;
  if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    uint8_t raw[32];
    size_t length = sizeof raw;
    if (!EVP_PKEY_get_raw_public_key(pkey.get(), raw, &length)) throw Failure{CKR_DEVICE_ERROR};
    key.type = CKK_EC_EDWARDS;
    key.ecParams = kEd25519Oid;
    key.ecPoint = octetString(raw, length);
    key.signatureBytes = 64;
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64] = "";
    uint8_t point[133];
    size_t length = 0;
    if (!EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        nullptr) ||
        !EVP_PKEY_get_octet_string_param(pkey.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                         sizeof point, &length))
      throw Failure{CKR_DEVICE_ERROR};
    std::string name = group;
    key.type = CKK_EC;
    key.ecParams = name == "prime256v1" || name == "P-256" ? kP256Oid : kP384Oid;
    key.ecPoint = octetString(point, length);
    key.signatureBytes = 2 * ((EVP_PKEY_get_bits(pkey.get()) + 7) / 8);
  } else if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    key.type = CKK_RSA;
    key.modulus = bnParam(pkey.get(), OSSL_PKEY_PARAM_RSA_N);
    key.publicExponent = bnParam(pkey.get(), OSSL_PKEY_PARAM_RSA_E);
    key.modulusBits = CK_ULONG(EVP_PKEY_get_bits(pkey.get()));
    key.signatureBytes = size_t(EVP_PKEY_get_size(pkey.get()));
  } else {
    throw Failure{CKR_DEVICE_ERROR};
  }
  return key;
}

Bytes ecdsaRaw(const Bytes& der, size_t fieldBytes) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, long(der.size()));
  if (!sig) throw Failure{CKR_DEVICE_ERROR};
  Bytes raw(2 * fieldBytes);
  bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), int(fieldBytes)) > 0 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + fieldBytes, int(fieldBytes)) > 0;
  ECDSA_SIG_free(sig);
  if (!ok) throw Failure{CKR_DEVICE_ERROR};
  return raw;
}

std::optional<Bytes> ecdsaDer(const Bytes& raw) {
  if (raw.empty() || raw.size() % 2) return std::nullopt;
  size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), int(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, int(half), nullptr);
  if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    throw std::bad_alloc();
  }
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (length <= 0) throw std::bad_alloc();
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

std::optional<KeyType> curveOf(const Bytes& ecParams) {
  if (ecParams == kP256Oid) return KeyType::EC_P256;
  if (ecParams == kP384Oid) return KeyType::EC_P384;
  if (ecParams == kEd25519Oid || ecParams == kEd25519Name) return KeyType::ED25519;
  return std::nullopt;
}

}  // namespace vhsm::pkcs11
