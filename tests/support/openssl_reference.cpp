#include "tests/support/openssl_reference.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace vhsm::test {

Bytes referenceHmac(const std::string& digest, const Bytes& key, const Bytes& data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", "provider=default");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest.c_str()), 0),
      OSSL_PARAM_construct_end()};
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  if (!EVP_MAC_init(ctx, key.data(), key.size(), params) ||
      !EVP_MAC_update(ctx, data.data(), data.size()) ||
      !EVP_MAC_final(ctx, out.data(), &len, out.size()))
    throw std::runtime_error("reference HMAC failed");
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  out.resize(len);
  return out;
}

Bytes referenceDigest(const std::string& digest, const Bytes& data) {
  EVP_MD* md = EVP_MD_fetch(nullptr, digest.c_str(), "provider=default");
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  if (!EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr))
    throw std::runtime_error("reference digest failed");
  EVP_MD_free(md);
  out.resize(len);
  return out;
}

ReferenceGcm referenceGcmEncrypt(const Bytes& key, const Bytes& iv, const Bytes& aad,
                                 const Bytes& plaintext, size_t tagLength) {
  const char* name = key.size() == 16   ? "AES-128-GCM"
                     : key.size() == 24 ? "AES-192-GCM"
                                        : "AES-256-GCM";
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, "provider=default");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  size_t ivLength = iv.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivLength),
                         OSSL_PARAM_construct_end()};
  ReferenceGcm out;
  out.ciphertext.resize(plaintext.size() + 16);
  out.tag.resize(tagLength);
  int len = 0, total = 0;
  if (!EVP_EncryptInit_ex2(ctx, cipher, nullptr, nullptr, params) ||
      !EVP_EncryptInit_ex2(ctx, nullptr, key.data(), iv.data(), nullptr) ||
      (!aad.empty() && !EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), int(aad.size()))) ||
      !EVP_EncryptUpdate(ctx, out.ciphertext.data(), &len, plaintext.data(), int(plaintext.size())))
    throw std::runtime_error("reference GCM failed");
  total = len;
  if (!EVP_EncryptFinal_ex(ctx, out.ciphertext.data() + total, &len) ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, int(tagLength), out.tag.data()))
    throw std::runtime_error("reference GCM final failed");
  out.ciphertext.resize(size_t(total + len));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

Bytes randomBytes(size_t n) {
  Bytes out(n);
  RAND_bytes(out.data(), int(n));
  return out;
}

namespace {

Bytes bignumParam(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) throw std::runtime_error("no key parameter");
  Bytes out(size_t(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_clear_free(bn);
  return out;
}

EVP_PKEY* readPrivate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  EVP_PKEY* pkey =
      PEM_read_bio_PrivateKey_ex(bio, nullptr, nullptr, nullptr, nullptr, "provider=default");
  BIO_free(bio);
  if (!pkey) throw std::runtime_error("cannot read a reference key");
  return pkey;
}

// Runs sign or verify over data as params say, with the default provider.
template <typename Operation>
bool withSignatureCtx(EVP_PKEY* pkey, const SignatureParams& params, bool signing,
                      Operation operation) {
  bool ed25519 = EVP_PKEY_is_a(pkey, "ED25519");
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* ctx = nullptr;
  const char* mdName = ed25519 ? nullptr : params.hash.c_str();
  bool ok =
      (signing ? EVP_DigestSignInit_ex(md, &ctx, mdName, nullptr, "provider=default", pkey, nullptr)
               : EVP_DigestVerifyInit_ex(md, &ctx, mdName, nullptr, "provider=default", pkey,
                                         nullptr)) > 0;
  if (ok && params.pss)
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, params.saltLength) > 0;
  ok = ok && operation(md);
  EVP_MD_CTX_free(md);
  return ok;
}

}  // namespace

ReferenceKey referenceKey(const std::string& kind) {
  EVP_PKEY* pkey = kind == "ED25519" ? EVP_PKEY_Q_keygen(nullptr, "provider=default", "ED25519")
                   : kind == "RSA"
                       ? EVP_PKEY_Q_keygen(nullptr, "provider=default", "RSA", size_t(2048))
                       : EVP_PKEY_Q_keygen(nullptr, "provider=default", "EC", kind.c_str());
  if (!pkey) throw std::runtime_error("reference key generation failed");
  ReferenceKey key;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  key.privatePem.assign(data, size_t(length));
  BIO_free(bio);
  unsigned char* der = nullptr;
  int derLength = i2d_PUBKEY(pkey, &der);
  key.publicDer.assign(der, der + derLength);
  OPENSSL_free(der);
  if (kind == "ED25519") {
    key.secret.resize(32);
    size_t n = key.secret.size();
    EVP_PKEY_get_raw_private_key(pkey, key.secret.data(), &n);
  } else {
    key.secret =
        bignumParam(pkey, kind == "RSA" ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY);
  }
  EVP_PKEY_free(pkey);
  return key;
}

bool referenceVerify(const Bytes& publicDer, const SignatureParams& params, const Bytes& data,
                     const Bytes& signature) {
  const unsigned char* p = publicDer.data();
  EVP_PKEY* pkey = d2i_PUBKEY_ex(nullptr, &p, long(publicDer.size()), nullptr, "provider=default");
  if (!pkey) return false;
  bool ok = withSignatureCtx(pkey, params, false, [&](EVP_MD_CTX* md) {
    return EVP_DigestVerify(md, signature.data(), signature.size(), data.data(), data.size()) == 1;
  });
  EVP_PKEY_free(pkey);
  return ok;
}

Bytes referenceSign(const std::string& privatePem, const SignatureParams& params,
                    const Bytes& data) {
  EVP_PKEY* pkey = readPrivate(privatePem);
  Bytes signature(size_t(EVP_PKEY_get_size(pkey)));
  bool ok = withSignatureCtx(pkey, params, true, [&](EVP_MD_CTX* md) {
    size_t length = signature.size();
    bool signed_ = EVP_DigestSign(md, signature.data(), &length, data.data(), data.size()) == 1;
    signature.resize(length);
    return signed_;
  });
  EVP_PKEY_free(pkey);
  if (!ok) throw std::runtime_error("reference signature failed");
  return signature;
}

Bytes referenceCertificate(const Bytes& publicDer, const std::string& commonName) {
  const unsigned char* p = publicDer.data();
  EVP_PKEY* subjectKey = d2i_PUBKEY(nullptr, &p, long(publicDer.size()));
  EVP_PKEY* issuerKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* x = X509_new();
  X509_NAME* subject = X509_NAME_new();
  X509_NAME* issuer = X509_NAME_new();
  auto cn = reinterpret_cast<const unsigned char*>(commonName.c_str());
  bool ok =
      subjectKey && issuerKey && x && subject && issuer && X509_set_version(x, X509_VERSION_3) &&
      ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, cn, -1, -1, 0) &&
      X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("vhsm test CA"), -1, -1,
                                 0) &&
      X509_set_subject_name(x, subject) && X509_set_issuer_name(x, issuer) &&
      X509_gmtime_adj(X509_getm_notBefore(x), 0) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
      X509_set_pubkey(x, subjectKey) && X509_sign(x, issuerKey, EVP_sha256()) > 0;
  unsigned char* der = nullptr;
  int length = ok ? i2d_X509(x, &der) : -1;
  X509_NAME_free(subject);
  X509_NAME_free(issuer);
  X509_free(x);
  EVP_PKEY_free(issuerKey);
  EVP_PKEY_free(subjectKey);
  if (length <= 0) throw std::runtime_error("cannot make a test certificate");
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

}  // namespace vhsm::test
