// Computes with one key through one EVP route, as an application that never heard of vhsm
// would: `route_probe LOAD ROUTE KEY DATAFILE`. LOAD is `config` (whatever OPENSSL_CONF
// activates) or providers to load in that order (`vhsm,default`); ROUTE is `evp-mac`,
// `pkey-hmac`, `q-mac` (EVP_Q_mac; all HMAC-SHA256), `gcm` (AES-256-GCM fetched), `gcm-implicit`
// (EVP_aes_256_gcm()) or `gcm-128` (AES-128-GCM fetched);
// KEY is the key bytes as text (`vhsm:h1`, zero-padded for AES). Prints the MAC, or ciphertext
// and tag after checking that decryption returns the data, in hex; on failure OpenSSL's errors.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<unsigned char>;

bool loadProviders(const std::string& list) {
  if (list == "config") return true;
  std::stringstream names(list);
  for (std::string name; std::getline(names, name, ',');)
    if (!OSSL_PROVIDER_load(nullptr, name.c_str())) return false;
  return true;
}

bool evpMac(const std::string& key, const Bytes& data, Bytes& out) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  out.resize(64);
  size_t n = 0;
  bool ok =
      ctx &&
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) &&
      EVP_MAC_update(ctx, data.data(), data.size()) &&
      EVP_MAC_final(ctx, out.data(), &n, out.size());
  out.resize(n);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok;
}

bool pkeyHmac(const std::string& key, const Bytes& data, Bytes& out) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key_ex(
      nullptr, "HMAC", nullptr, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  out.resize(64);
  size_t n = out.size();
  bool ok = pkey && EVP_DigestSignInit_ex(md, nullptr, "SHA256", nullptr, nullptr, pkey, nullptr) &&
            EVP_DigestSign(md, out.data(), &n, data.data(), data.size());
  out.resize(n);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  return ok;
}

// Encrypts and decrypts with the same key, IV and AAD; fails if decryption does not return
// the data (or the tag does not verify).
bool gcm(const EVP_CIPHER* cipher, const std::string& keyText, const Bytes& data, Bytes& out) {
  unsigned char key[32] = {}, iv[12], tag[16];
  std::memcpy(key, keyText.data(),
              std::min(keyText.size(), size_t(EVP_CIPHER_get_key_length(cipher))));
  for (unsigned i = 0; i < sizeof iv; ++i) iv[i] = static_cast<unsigned char>(i + 1);
  const unsigned char aad[] = "route probe";
  Bytes ct(data.size()), pt(data.size());
  int n = 0, m = 0;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  bool ok = EVP_EncryptInit_ex2(c, cipher, key, iv, nullptr) &&
            EVP_EncryptUpdate(c, nullptr, &n, aad, sizeof aad) &&
            EVP_EncryptUpdate(c, ct.data(), &n, data.data(), int(data.size())) &&
            EVP_EncryptFinal_ex(c, ct.data() + n, &m) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, sizeof tag, tag);
  ok = ok && EVP_DecryptInit_ex2(c, cipher, key, iv, nullptr) &&
       EVP_DecryptUpdate(c, nullptr, &n, aad, sizeof aad) &&
       EVP_DecryptUpdate(c, pt.data(), &n, ct.data(), int(ct.size())) &&
       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) &&
       EVP_DecryptFinal_ex(c, pt.data() + n, &m) && pt == data;
  EVP_CIPHER_CTX_free(c);
  out = ct;
  out.insert(out.end(), tag, tag + sizeof tag);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: route_probe LOAD ROUTE KEY DATAFILE\n");
    return 2;
  }
  std::string route = argv[2], key = argv[3];
  std::ifstream file(argv[4], std::ios::binary);
  Bytes data((std::istreambuf_iterator<char>(file)), {}), out;
  bool ok = loadProviders(argv[1]);
  if (!ok) {
    // the providers did not load: reported below
  } else if (route == "evp-mac") {
    ok = evpMac(key, data, out);
  } else if (route == "pkey-hmac") {
    ok = pkeyHmac(key, data, out);
  } else if (route == "q-mac") {
    out.resize(64);
    size_t n = 0;
    ok = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                   data.size(), out.data(), out.size(), &n) != nullptr;
    out.resize(n);
  } else if (route == "gcm" || route == "gcm-128") {
    EVP_CIPHER* cipher =
        EVP_CIPHER_fetch(nullptr, route == "gcm" ? "AES-256-GCM" : "AES-128-GCM", nullptr);
    ok = cipher && gcm(cipher, key, data, out);
    EVP_CIPHER_free(cipher);
  } else if (route == "gcm-implicit") {
    ok = gcm(EVP_aes_256_gcm(), key, data, out);
  } else {
    std::fprintf(stderr, "unknown route %s\n", route.c_str());
    return 2;
  }
  if (!ok) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  for (unsigned char b : out) std::printf("%02x", b);
  std::printf("\n");
  return 0;
}
