#include "keyd/crypto/certificate.hpp"

#include <openssl/x509.h>

#include <algorithm>

#include "keyd/crypto/crypto_error.hpp"
#include "keyd/crypto/openssl_context.hpp"

namespace vhsm::keyd {

std::vector<uint8_t> certificatePublicKey(std::span<const uint8_t> der) {
  auto refuse = [](const char* why) { throw CryptoError(CryptoError::Kind::invalidArgument, why); };
  if (der.empty() || der.size() > kMaxCertificateBytes)
    refuse("a certificate is 1 byte to 16 KiB of DER X.509");
  const unsigned char* p = der.data();
  X509* certificate = X509_new_ex(opensslContext(), nullptr);
  if (!certificate) throw CryptoError(CryptoError::Kind::internal, "X509_new_ex failed");
  if (!d2i_X509(&certificate, &p, long(der.size()))) {
    X509_free(certificate);
    refuse("not a DER X.509 certificate");
  }
  // BER that OpenSSL accepts would be stored as given and re-encoded differently by clients.
  // The to-be-signed part is kept as it was read unless marked changed: i2d_re_X509_tbs marks
  // it, so i2d_X509 encodes every part anew.
  unsigned char* encoded = nullptr;
  int encodedLength =
      i2d_re_X509_tbs(certificate, nullptr) > 0 ? i2d_X509(certificate, &encoded) : -1;
  bool exact = p == der.data() + der.size() && encodedLength == int(der.size()) &&
               std::equal(der.begin(), der.end(), encoded);
  OPENSSL_free(encoded);
  unsigned char* spki = nullptr;
  int spkiLength = exact ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &spki) : -1;
  X509_free(certificate);
  if (!exact) refuse("not exactly one DER X.509 certificate (trailing bytes or BER)");
  if (spkiLength <= 0) refuse("the certificate's public key cannot be read");
  std::vector<uint8_t> out(spki, spki + spkiLength);
  OPENSSL_free(spki);
  return out;
}

}  // namespace vhsm::keyd
