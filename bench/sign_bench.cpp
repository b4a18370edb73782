// vhsm-bench-sign: signatures per second for ECDSA P-256, Ed25519 and RSA-2048 (PKCS#1 v1.5,
// SHA-256) over a 64-byte message — through the client library and through the provider (a
// key loaded from vhsm:<id> with OSSL_STORE, signed with EVP_DigestSign), next to the two
// engines keyd could use, each in-process: OpenSSL's default provider and Crypto++ — the engine
// rows are how keyd's choice per algorithm (keyd/crypto/signing_key.hpp) was made — and SoftHSM2
// (in-process PKCS#11). Figures are medians of --runs interleaved runs. --concurrency-only: the
// client library's signatures from 1, 2, 4, 8 threads and processes.
#include <cryptopp/eccrypto.h>
#include <cryptopp/oids.h>
#include <cryptopp/osrng.h>
#include <cryptopp/rsa.h>
#include <cryptopp/xed25519.h>
#include <openssl/evp.h>
#include <openssl/store.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <string>

#include <vhsm/client.hpp>
#include "bench/measure.hpp"
#include "bench/softhsm.hpp"

namespace {

using namespace vhsm::bench;

const std::vector<uint8_t> kMessage(64, 0x5a);
// The cases of every algorithm, in the order they run; the first is the ratios' reference.
const char* const kCases[] = {" in-process OpenSSL", " in-process Crypto++", " SoftHSM2",
                              " vhsm client library", " vhsm provider (EVP)"};

std::vector<uint8_t> sha256(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(32);
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

// EVP_DigestSign of kMessage with pkey (SHA-256, or none for Ed25519) in libctx.
Result evpSign(double seconds, EVP_PKEY* pkey, OSSL_LIB_CTX* libctx, bool ed25519) {
  std::vector<uint8_t> signature(size_t(EVP_PKEY_get_size(pkey)));
  return measure(seconds, kMessage.size(), [&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t length = signature.size();
    if (EVP_DigestSignInit_ex(ctx, nullptr, ed25519 ? nullptr : "SHA256", libctx, nullptr, pkey,
                              nullptr) <= 0 ||
        EVP_DigestSign(ctx, signature.data(), &length, kMessage.data(), kMessage.size()) <= 0)
      throw std::runtime_error("EVP_DigestSign failed");
    EVP_MD_CTX_free(ctx);
  });
}

EVP_PKEY* loadFromStore(OSSL_LIB_CTX* libctx, const std::string& uri) {
  OSSL_STORE_CTX* store =
      OSSL_STORE_open_ex(uri.c_str(), libctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  EVP_PKEY* pkey = nullptr;
  while (store && !pkey && !OSSL_STORE_eof(store))
    if (OSSL_STORE_INFO* info = OSSL_STORE_load(store)) {
      if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
        pkey = OSSL_STORE_INFO_get1_PKEY(info);
      OSSL_STORE_INFO_free(info);
    }
  OSSL_STORE_close(store);
  if (!pkey) throw std::runtime_error("cannot load " + uri + " through the provider");
  return pkey;
}

struct Algorithm {
  const char* name;
  vhsm::KeyType type;
  const char* keyId;
  bool ed25519;
  vhsm::bench::SoftHsm::SignAlgorithm softhsm;
};

using SoftAlgorithm = vhsm::bench::SoftHsm::SignAlgorithm;
const Algorithm kAlgorithms[] = {
    {"ECDSA P-256", vhsm::KeyType::EC_P256, "bench-p256", false, SoftAlgorithm::ecdsaP256},
    {"Ed25519", vhsm::KeyType::ED25519, "bench-ed25519", true, SoftAlgorithm::ed25519},
    {"RSA-2048 PKCS#1", vhsm::KeyType::RSA, "bench-rsa", false, SoftAlgorithm::rsa2048}};

void ensureKey(vhsm::Client& client, const Algorithm& a) {
  try {
    client.keyGenerate(a.keyId, a.type);
  } catch (const vhsm::Error& e) {
    if (e.code() != vhsm::ErrorCode::KEY_EXISTS) throw;
  }
}

// What keyd signs for a: the message itself (Ed25519) or its SHA-256.
std::vector<uint8_t> signedInput(const Algorithm& a) {
  return a.ed25519 ? kMessage : sha256(kMessage);
}

// Signatures from 1, 2, 4, 8 client threads and processes at once, each its own connection.
void concurrentSignatures(const vhsm::ClientOptions& options, const std::string& user,
                          const std::string& password, vhsm::Client& client, double seconds) {
  printConcurrencyHeader("signatures, 64-byte message, client library");
  for (const auto& a : kAlgorithms) {
    ensureKey(client, a);
    auto input = signedInput(a);
    printConcurrencyRows(a.name, seconds, [&](const auto& ready) {
      vhsm::Client c(options);
      c.login(user, password);
      auto end = ready();
      uint64_t n = 0;
      for (; Clock::now() < end; ++n) c.sign(a.keyId, vhsm::SignOptions{}, input);
      return n;
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-bench-sign"};
  vhsm::ClientOptions options;
  std::string user = "bench", password = "bench-password", providerConfig;
  double seconds = 2;
  int runs = 1;
  app.add_option("--socket", options.socketPath)->required();
  app.add_option("--user", user);
  app.add_option("--password", password);
  app.add_option("--seconds", seconds, "per case and run");
  app.add_option("--runs", runs, "runs per case; the median is reported");
  app.add_option("--provider-config", providerConfig, "openssl.cnf loading vhsm.so as the user");
  std::string only;
  app.add_option("--only", only,
                 "only the cases whose name contains this, e.g. \"ECDSA P-256 vhsm\"");
  bool concurrencyOnly = false;
  app.add_flag("--concurrency-only", concurrencyOnly,
               "signatures from 1, 2, 4, 8 client threads and processes (run them unpinned)");
  CLI11_PARSE(app, argc, argv);

  vhsm::Client client(options);
  client.login(user, password);
  if (concurrencyOnly) {
    concurrentSignatures(options, user, password, client, seconds);
    return 0;
  }
  if (providerConfig.empty()) throw std::runtime_error("--provider-config is required");
  OSSL_LIB_CTX* libctx = OSSL_LIB_CTX_new();
  if (!OSSL_LIB_CTX_load_config(libctx, providerConfig.c_str()))
    throw std::runtime_error("cannot load " + providerConfig);
  CryptoPP::AutoSeededRandomPool rng;

  vhsm::bench::SoftHsm softhsm;
  printHeader();
  for (const auto& a : kAlgorithms) {
    auto selected = [&](const char* c) {
      return (a.name + std::string(c)).find(only) != std::string::npos;
    };
    // No key generation (an RSA key takes a second) for an algorithm --only leaves out.
    if (std::none_of(std::begin(kCases), std::end(kCases), selected)) continue;
    ensureKey(client, a);
    // The in-process references, with keys of their own.
    EVP_PKEY* local = a.type == vhsm::KeyType::EC_P256
                          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                      : a.ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048));
    EVP_PKEY* remote = loadFromStore(libctx, std::string("vhsm:") + a.keyId);
    vhsm::SignOptions sha256Options;
    auto digest = sha256(kMessage);
    auto toSign = signedInput(a);
    std::function<void()> cryptoppSign;
    CryptoPP::ECDSA<CryptoPP::ECP, CryptoPP::SHA256>::Signer ecdsa;
    CryptoPP::ed25519::Signer ed;
    CryptoPP::RSASS<CryptoPP::PKCS1v15, CryptoPP::SHA256>::Signer rsa;
    std::vector<uint8_t> signature(1024);
    if (a.type == vhsm::KeyType::EC_P256) {
      ecdsa.AccessKey().Initialize(rng, CryptoPP::ASN1::secp256r1());
      cryptoppSign = [&] {
        ecdsa.SignMessage(rng, kMessage.data(), kMessage.size(), signature.data());
      };
    } else if (a.ed25519) {
      ed.AccessPrivateKey().GenerateRandom(rng);
      cryptoppSign = [&] {
        ed.SignMessage(rng, kMessage.data(), kMessage.size(), signature.data());
      };
    } else {
      rsa.AccessKey().Initialize(rng, 2048);
      cryptoppSign = [&] {
        rsa.SignMessage(rng, kMessage.data(), kMessage.size(), signature.data());
      };
    }
    // SoftHSM2's ECDSA (CKM_ECDSA) signs a digest, like keyd's; the others hash themselves.
    auto softInput = a.type == vhsm::KeyType::EC_P256 ? digest : kMessage;
    std::function<Result()> measureCase[] = {
        [&] { return evpSign(seconds, local, nullptr, a.ed25519); },
        [&] { return measure(seconds, kMessage.size(), cryptoppSign); },
        [&] {
          return measure(seconds, kMessage.size(), [&] { softhsm.sign(a.softhsm, softInput); });
        },
        [&] {
          return measure(seconds, kMessage.size(),
                         [&] { client.sign(a.keyId, sha256Options, toSign); });
        },
        [&] { return evpSign(seconds, remote, libctx, a.ed25519); }};
    static_assert(std::size(measureCase) == std::size(kCases));
    std::vector<std::pair<std::string, std::function<Result()>>> cases;
    for (size_t i = 0; i < std::size(kCases); ++i)
      if (selected(kCases[i])) cases.emplace_back(kCases[i], measureCase[i]);
    for (auto& c : cases) c.second();  // warm-up: logins, caches
    std::vector<std::vector<Result>> results(cases.size());
    for (int run = 0; run < runs; ++run)
      for (size_t i = 0; i < cases.size(); ++i) results[i].push_back(cases[i].second());
    // Ratios are over in-process OpenSSL (1.00 when --only left it out).
    double openssl = cases[0].first == kCases[0] ? medianOf(results[0]).opsPerSecond : 0;
    for (size_t i = 0; i < cases.size(); ++i)
      print((a.name + cases[i].first).c_str(), kMessage.size(), medianOf(results[i]),
            i == 0 ? 0 : openssl);
    EVP_PKEY_free(local);
    EVP_PKEY_free(remote);
  }
  OSSL_LIB_CTX_free(libctx);
  return 0;
}
