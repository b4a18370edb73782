// vhsm-demo: what an application does with vhsm — computes an HMAC-SHA1 and an AES-256-GCM
// round trip inside keyd by key id, never holding the keys. Used by scripts/demo.sh.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include <vhsm/client.hpp>

namespace {

std::string hex(const vhsm::Bytes& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

vhsm::Bytes bytesOf(const std::string& s) {
  return {s.begin(), s.end()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-demo: HMAC-SHA1 and AES-256-GCM through vhsm-keyd"};
  vhsm::ClientOptions options;
  options.socketPath =
      std::getenv("VHSM_SOCKET") ? std::getenv("VHSM_SOCKET") : "/run/vhsm/keyd.sock";
  std::string user, hmacKey, aesKey, message = "Hi There";
  app.add_option("--socket", options.socketPath)->capture_default_str();
  app.add_option("--user", user)->required();
  app.add_option("--hmac-key", hmacKey)->required();
  app.add_option("--aes-key", aesKey)->required();
  app.add_option("--message", message)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    vhsm::Client client(options);
    const char* password = std::getenv("VHSM_PASSWORD");
    client.login(user, password ? password : "");
    auto data = bytesOf(message);

    auto mac = client.hmac(hmacKey, vhsm::HashAlgorithm::SHA1, data);
    std::cout << "HMAC-SHA1(" << hmacKey << ", \"" << message << "\") = " << hex(mac) << "\n";

    auto aad = bytesOf("demo header");
    auto sealed = client.gcmEncrypt(aesKey, {}, aad, data);
    std::cout << "AES-256-GCM(" << aesKey << ") iv=" << hex(sealed.iv)
              << " ciphertext=" << hex(sealed.ciphertext) << " tag=" << hex(sealed.tag) << "\n";
    auto opened = client.gcmDecrypt(aesKey, sealed.iv, aad, sealed.ciphertext, sealed.tag);
    std::cout << "decrypted: \"" << std::string(opened.begin(), opened.end()) << "\" ("
              << (opened == data ? "round trip ok" : "MISMATCH") << ")\n";
    sealed.tag[0] ^= 1;
    try {
      client.gcmDecrypt(aesKey, sealed.iv, aad, sealed.ciphertext, sealed.tag);
      std::cout << "a forged tag was accepted: MISMATCH\n";
      return 1;
    } catch (const vhsm::Error& e) {
      std::cout << "a forged tag is refused: " << vhsm::errorName(e.code()) << "\n";
    }
    return opened == data ? 0 : 1;
  } catch (const vhsm::Error& e) {
    std::cerr << "vhsm-demo: " << e.what() << "\n";
    return 1;
  }
}
