// vhsm-bench-pkcs11: one program, any PKCS#11 module. Each --module is loaded in this process
// and runs the same cases through its function list, each operation a C_*Init and its one-shot
// call as an application makes them: HMAC-SHA1 64 B, SHA-256 4 KiB, AES-256-GCM 4 KiB
// encryption, ECDSA P-256 (a SHA-256 digest), Ed25519 and RSA-2048 (SHA-256, PKCS#1 v1.5) over
// 64 bytes. Figures are medians of --runs interleaved runs (every module in turn per run).
// With --client-socket, vhsm's own client library runs the same case on the same key in
// alternating blocks with the first module (the module's overhead, a few percent at most).
// A case a module does not offer prints its return code instead of a figure.
#include <dlfcn.h>
#include <openssl/evp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <vhsm/client.hpp>
#include "bench/measure.hpp"
#include "pkcs11/cryptoki.hpp"

namespace {

using namespace vhsm::bench;
using Bytes = std::vector<uint8_t>;

struct Refused {
  CK_RV rv;
};

void check(CK_RV rv) {
  if (rv != CKR_OK) throw Refused{rv};
}

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, const void* value, CK_ULONG length) {
  return {type, const_cast<void*>(value), length};
}

enum class Case { hmac, sha256, gcm, ecdsa, ed25519, rsa };
struct CaseInfo {
  Case id;
  const char* name;
  const char* keyId;  // CKA_ID and CKA_LABEL of its key, and the client library's key id
  size_t bytes;
};
const CaseInfo kCases[] = {
    {Case::hmac, "HMAC-SHA1 64 B", "p11bench-hmac", 64},
    {Case::sha256, "SHA-256 4 KiB", "", 4096},
    {Case::gcm, "AES-256-GCM enc 4 KiB", "p11bench-aes", 4096},
    {Case::ecdsa, "ECDSA P-256 sign", "p11bench-p256", 64},
    {Case::ed25519, "Ed25519 sign", "p11bench-ed25519", 64},
    {Case::rsa, "RSA-2048 sign (SHA-256)", "p11bench-rsa", 64},
};

Bytes sha256(const Bytes& data) {
  Bytes out(32);
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

// One module: its first initialized token, one logged-in session, a key per case.
class Module {
 public:
  Module(std::string name, const std::string& path, const std::string& pin) : name_(name) {
    library_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library_) throw std::runtime_error("cannot load " + path + ": " + dlerror());
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library_, "C_GetFunctionList"));
    if (!get || get(&p_) != CKR_OK) throw std::runtime_error(path + ": no C_GetFunctionList");
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    check(p_->C_Initialize(&args));
    CK_ULONG n = 0;
    check(p_->C_GetSlotList(CK_TRUE, nullptr, &n));
    std::vector<CK_SLOT_ID> slots(n);
    check(p_->C_GetSlotList(CK_TRUE, slots.data(), &n));
    for (CK_ULONG i = 0; i < n && !session_; ++i) {
      CK_TOKEN_INFO info;
      if (p_->C_GetTokenInfo(slots[i], &info) != CKR_OK || !(info.flags & CKF_TOKEN_INITIALIZED))
        continue;
      check(p_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                              &session_));
      CK_RV rv =
          p_->C_Login(session_, CKU_USER,
                      reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(pin.data())), pin.size());
      if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) check(rv);
    }
    if (!session_) throw std::runtime_error(name_ + ": no initialized token");
  }
  ~Module() {
    p_->C_Finalize(nullptr);
    dlclose(library_);
  }
  const std::string& name() const { return name_; }

  // Makes the case's key; the return code when the module refuses it or its mechanism.
  std::optional<CK_RV> prepare(const CaseInfo& c) {
    try {
      switch (c.id) {
        case Case::hmac: key_[c.id] = secretKey(c, CKK_GENERIC_SECRET, 32); break;
        case Case::gcm: key_[c.id] = secretKey(c, CKK_AES, 32); break;
        case Case::sha256: break;
        case Case::ecdsa: key_[c.id] = keyPair(c, kP256, sizeof kP256, CKM_EC_KEY_PAIR_GEN); break;
        case Case::ed25519:
          key_[c.id] = keyPair(c, kEd25519, sizeof kEd25519, CKM_EC_EDWARDS_KEY_PAIR_GEN);
          break;
        case Case::rsa: key_[c.id] = keyPair(c, nullptr, 0, CKM_RSA_PKCS_KEY_PAIR_GEN); break;
      }
      run(c);  // the mechanism itself may be what is missing
      return std::nullopt;
    } catch (const Refused& r) {
      return r.rv;
    }
  }

  void run(const CaseInfo& c) {
    static const Bytes message(64, 0x5a), page(4096, 0x5a), digest = sha256(message);
    static uint8_t iv[12] = {1, 2, 3};
    static CK_GCM_PARAMS gcm = {iv, sizeof iv, sizeof iv * 8, nullptr, 0, 128};
    uint8_t out[4096 + 512];
    CK_ULONG length = sizeof out;
    auto* in = const_cast<uint8_t*>(c.bytes == 4096 ? page.data() : message.data());
    CK_MECHANISM m = {0, nullptr, 0};
    CK_OBJECT_HANDLE key = key_[c.id];
    switch (c.id) {
      case Case::sha256:
        m.mechanism = CKM_SHA256;
        check(p_->C_DigestInit(session_, &m));
        check(p_->C_Digest(session_, in, c.bytes, out, &length));
        return;
      case Case::gcm:
        m = {CKM_AES_GCM, &gcm, sizeof gcm};
        check(p_->C_EncryptInit(session_, &m, key));
        check(p_->C_Encrypt(session_, in, c.bytes, out, &length));
        return;
      case Case::hmac: m.mechanism = CKM_SHA_1_HMAC; break;
      case Case::ecdsa:
        m.mechanism = CKM_ECDSA;
        in = const_cast<uint8_t*>(digest.data());
        check(p_->C_SignInit(session_, &m, key));
        check(p_->C_Sign(session_, in, digest.size(), out, &length));
        return;
      case Case::ed25519: m.mechanism = CKM_EDDSA; break;
      case Case::rsa: m.mechanism = CKM_SHA256_RSA_PKCS; break;
    }
    check(p_->C_SignInit(session_, &m, key));
    check(p_->C_Sign(session_, in, c.bytes, out, &length));
  }

 private:
  static constexpr uint8_t kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static constexpr uint8_t kEd25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

  // A session object where the module keeps them (the fastest a software token gets); else a
  // token object (vhsm keeps every key in keyd).
  template <typename Make>
  CK_OBJECT_HANDLE either(Make make) {
    try {
      return make(CK_FALSE);
    } catch (const Refused&) {
      return make(CK_TRUE);
    }
  }

  CK_OBJECT_HANDLE secretKey(const CaseInfo& c, CK_KEY_TYPE type, CK_ULONG bytes) {
    return either([&](CK_BBOOL token) {
      CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
      CK_BBOOL yes = CK_TRUE;
      CK_ATTRIBUTE t[] = {attr(CKA_CLASS, &cls, sizeof cls),
                          attr(CKA_KEY_TYPE, &type, sizeof type),
                          attr(CKA_TOKEN, &token, sizeof token),
                          attr(CKA_VALUE_LEN, &bytes, sizeof bytes),
                          attr(CKA_ID, c.keyId, strlen(c.keyId)),
                          attr(CKA_LABEL, c.keyId, strlen(c.keyId)),
                          attr(type == CKK_AES ? CKA_ENCRYPT : CKA_SIGN, &yes, sizeof yes)};
      CK_MECHANISM m = {type == CKK_AES ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
      CK_OBJECT_HANDLE key = 0;
      check(p_->C_GenerateKey(session_, &m, t, sizeof t / sizeof t[0], &key));
      return key;
    });
  }

  CK_OBJECT_HANDLE keyPair(const CaseInfo& c, const uint8_t* params, size_t paramsLength,
                           CK_MECHANISM_TYPE mechanism) {
    return either([&](CK_BBOOL token) {
      CK_BBOOL yes = CK_TRUE;
      CK_ULONG bits = 2048;
      uint8_t exponent[] = {1, 0, 1};
      std::vector<CK_ATTRIBUTE> pub = {
          attr(CKA_TOKEN, &token, sizeof token), attr(CKA_VERIFY, &yes, sizeof yes),
          attr(CKA_ID, c.keyId, strlen(c.keyId)), attr(CKA_LABEL, c.keyId, strlen(c.keyId))};
      if (params) {
        pub.push_back(attr(CKA_EC_PARAMS, params, paramsLength));
      } else {
        pub.push_back(attr(CKA_MODULUS_BITS, &bits, sizeof bits));
        pub.push_back(attr(CKA_PUBLIC_EXPONENT, exponent, sizeof exponent));
      }
      CK_ATTRIBUTE priv[] = {
          attr(CKA_TOKEN, &token, sizeof token), attr(CKA_SIGN, &yes, sizeof yes),
          attr(CKA_SENSITIVE, &yes, sizeof yes), attr(CKA_ID, c.keyId, strlen(c.keyId)),
          attr(CKA_LABEL, c.keyId, strlen(c.keyId))};
      CK_MECHANISM m = {mechanism, nullptr, 0};
      CK_OBJECT_HANDLE publicKey = 0, privateKey = 0;
      check(p_->C_GenerateKeyPair(session_, &m, pub.data(), pub.size(), priv,
                                  sizeof priv / sizeof priv[0], &publicKey, &privateKey));
      return privateKey;
    });
  }

  std::string name_;
  void* library_ = nullptr;
  CK_FUNCTION_LIST* p_ = nullptr;
  CK_SESSION_HANDLE session_ = 0;
  std::map<Case, CK_OBJECT_HANDLE> key_;
};

// The same case through vhsm's client library, on the key the module made.
std::function<void()> clientCase(vhsm::Client& client, const CaseInfo& c) {
  static const Bytes message(64, 0x5a), page(4096, 0x5a), iv(12, 1);
  using vhsm::HashAlgorithm;
  switch (c.id) {
    case Case::hmac: return [&] { client.hmac(c.keyId, HashAlgorithm::SHA1, message); };
    case Case::sha256: return [&] { client.digest(HashAlgorithm::SHA256, page); };
    case Case::gcm: return [&] { client.gcmEncrypt(c.keyId, iv, {}, page); };
    case Case::ecdsa:
      return [&] {
        vhsm::SignOptions o;
        o.raw = true;
        client.sign(c.keyId, o, sha256(message));
      };
    case Case::ed25519: return [&] { client.sign(c.keyId, {}, message); };
    case Case::rsa: return [&] { client.sign(c.keyId, {}, sha256(message)); };
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"PKCS#11 modules, the same cases through each"};
  std::vector<std::string> specs;
  double seconds = 0.2;
  int runs = 10;
  std::string clientSocket, clientUser, clientPassword;
  app.add_option("--module", specs, "NAME=PATH[=PIN]; the first is the one the others are to")
      ->required();
  app.add_option("--seconds", seconds, "each run of each case");
  app.add_option("--runs", runs, "interleaved runs; the median is shown");
  app.add_option("--client-socket", clientSocket,
                 "compare the first module with vhsm's client library at this keyd");
  app.add_option("--client-user", clientUser);
  app.add_option("--client-password", clientPassword);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::unique_ptr<Module>> modules;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos) throw std::runtime_error("--module NAME=PATH[=PIN]");
    auto rest = spec.substr(eq + 1);
    auto pinAt = rest.find('=');
    modules.push_back(
        std::make_unique<Module>(spec.substr(0, eq), rest.substr(0, pinAt),
                                 pinAt == std::string::npos ? "" : rest.substr(pinAt + 1)));
  }
  std::unique_ptr<vhsm::Client> client;
  if (!clientSocket.empty()) {
    vhsm::ClientOptions options;
    options.socketPath = clientSocket;
    client = std::make_unique<vhsm::Client>(options);
    client->login(clientUser, clientPassword);
  }

  std::printf("| case |");
  for (const auto& m : modules) std::printf(" %s ops/s | p50 µs |", m->name().c_str());
  for (size_t i = 1; i < modules.size(); ++i)
    std::printf(" %s / %s |", modules[0]->name().c_str(), modules[i]->name().c_str());
  if (client) std::printf(" module / client library (alternating blocks) |");
  std::printf("\n|---|");
  for (size_t i = 0; i < modules.size() * 3 - 1 + (client ? 1 : 0); ++i) std::printf("---|");
  std::printf("\n");

  for (const auto& c : kCases) {
    std::vector<std::optional<CK_RV>> refused;
    for (auto& m : modules) refused.push_back(m->prepare(c));
    std::vector<std::vector<Result>> results(modules.size());
    for (int r = 0; r < runs; ++r)
      for (size_t i = 0; i < modules.size(); ++i)
        if (!refused[i])
          results[i].push_back(measure(seconds, c.bytes, [&] { modules[i]->run(c); }));
    std::vector<double> rate(modules.size(), 0);
    std::printf("| %s |", c.name);
    for (size_t i = 0; i < modules.size(); ++i) {
      if (refused[i]) {
        std::printf(" refused (0x%lx) | |", static_cast<unsigned long>(*refused[i]));
        continue;
      }
      Result median = medianOf(results[i]);
      rate[i] = median.opsPerSecond;
      std::printf(" %.0f | %.1f |", median.opsPerSecond, median.p50us);
    }
    for (size_t i = 1; i < modules.size(); ++i)
      rate[0] > 0 && rate[i] > 0 ? std::printf(" %.2f |", rate[0] / rate[i]) : std::printf(" |");
    if (client && !refused[0]) {
      auto paired = pairedRates(
          seconds * runs, 50, [&] { modules[0]->run(c); }, clientCase(*client, c));
      std::printf(" %.2f (%.0f vs %.0f) |", paired.a / paired.b, paired.a, paired.b);
    } else if (client) {
      std::printf(" |");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
