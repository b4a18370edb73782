#include "pkcs11/certificate.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkcs11/attribute_value.hpp"
#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {

template <typename T, typename Encode>
Bytes encoded(const T* part, Encode encode) {
  unsigned char* der = nullptr;
  int length = part ? encode(part, &der) : -1;
  if (length < 0) throw Failure{CKR_DEVICE_ERROR};
  Bytes out(der, der + length);
  OPENSSL_free(der);
  return out;
}

// Subject, issuer, serial number or public key, DER-encoded as PKCS#11 has them.
Bytes fromCertificate(const Bytes& der, CK_ATTRIBUTE_TYPE type) {
  const unsigned char* p = der.data();
  X509* certificate = d2i_X509(nullptr, &p, long(der.size()));
  if (!certificate) throw Failure{CKR_DEVICE_ERROR};  // keyd checked it; not a certificate now
  Bytes out;
  try {
    if (type == CKA_SUBJECT)
      out = encoded(X509_get_subject_name(certificate), i2d_X509_NAME);
    else if (type == CKA_ISSUER)
      out = encoded(X509_get_issuer_name(certificate), i2d_X509_NAME);
    else if (type == CKA_PUBLIC_KEY_INFO)
      out = encoded(X509_get_X509_PUBKEY(certificate), i2d_X509_PUBKEY);
    else
      out = encoded(X509_get0_serialNumber(certificate), i2d_ASN1_INTEGER);
  } catch (...) {
    X509_free(certificate);
    throw;
  }
  X509_free(certificate);
  return out;
}

}  // namespace

std::optional<Bytes> certificateAttribute(CK_ATTRIBUTE_TYPE type,
                                          const std::function<const Bytes&()>& der) {
  switch (type) {
    case CKA_CERTIFICATE_TYPE: return bytesOf<CK_ULONG>(CKC_X_509);
    case CKA_CERTIFICATE_CATEGORY: return bytesOf<CK_ULONG>(0);  // unspecified
    case CKA_JAVA_MIDP_SECURITY_DOMAIN: return bytesOf<CK_ULONG>(0);
    case CKA_NAME_HASH_ALGORITHM: return bytesOf<CK_ULONG>(CKM_SHA_1);
    case CKA_TRUSTED: return boolean(false);
    // Not recorded: empty, as the spec allows.
    case CKA_START_DATE:
    case CKA_END_DATE:
    case CKA_URL:
    case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
    case CKA_HASH_OF_ISSUER_PUBLIC_KEY: return Bytes{};
    case CKA_VALUE: return der();
    case CKA_CHECK_VALUE: {  // the first three bytes of the value's SHA-1
      Bytes sha1(20);
      const Bytes& value = der();
      if (!EVP_Digest(value.data(), value.size(), sha1.data(), nullptr, EVP_sha1(), nullptr))
        throw Failure{CKR_DEVICE_ERROR};
      sha1.resize(3);
      return sha1;
    }
    case CKA_SUBJECT:
    case CKA_ISSUER:
    case CKA_SERIAL_NUMBER:
    case CKA_PUBLIC_KEY_INFO: return fromCertificate(der(), type);
    default: return std::nullopt;
  }
}

}  // namespace vhsm::pkcs11
