// An unmodified-style application for the memory test: with OPENSSL_CONF naming a vhsm
// configuration, computes an HMAC with key argv[1] and an AES-256-GCM encryption with key
// argv[2] through the global preference, writes 'y' (or 'n') and waits for a byte on stdin.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  bool ok = true;
  std::string hmacRef = argv[1];
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key_ex(
      nullptr, "HMAC", nullptr, reinterpret_cast<const unsigned char*>(hmacRef.data()),
      hmacRef.size());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  unsigned char mac[32];
  size_t macLength = sizeof mac;
  ok &= pkey && EVP_DigestSignInit_ex(md, nullptr, "SHA256", nullptr, nullptr, pkey, nullptr) &&
        EVP_DigestSign(md, mac, &macLength, reinterpret_cast<const unsigned char*>("data"), 4);

  unsigned char key[32] = {0}, iv[12] = {1}, in[5000] = {2}, out[5016], tag[16];
  std::memcpy(key, argv[2], std::min<size_t>(std::strlen(argv[2]), 32));
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  int n = 0;
  ok &= EVP_EncryptInit_ex2(c, gcm, key, iv, nullptr) &&
        EVP_EncryptUpdate(c, out, &n, in, sizeof in) && EVP_EncryptFinal_ex(c, out + n, &n) &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
  EVP_CIPHER_CTX_free(c);
  EVP_CIPHER_free(gcm);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  char answer = ok ? 'y' : 'n';
  [[maybe_unused]] auto w = write(1, &answer, 1);
  char wait;
  [[maybe_unused]] auto r = read(0, &wait, 1);
  return ok ? 0 : 1;
}
