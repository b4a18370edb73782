// vhsm-bench-client: ops/s, MB/s and latency of HMAC-SHA1 and -SHA256, SHA-256 and AES-256-GCM
// encryption and decryption through the client library and through the provider against a
// running keyd, with the references measured in the same run, interleaved: the raw SOCK_SEQPACKET
// round trip (same payload, no crypto, no Cap'n Proto), in-process OpenSSL, and SoftHSM2
// (in-process PKCS#11). Each figure is the median of --runs runs. --concurrency adds HMAC 64 B with
// 1, 2, 4, 8 client threads and processes. Pin client and keyd with taskset (bench/README.md): CPU
// placement changes a round trip five-fold on these machines.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <vector>

#include <vhsm/client.hpp>
#include "bench/measure.hpp"
#include "bench/softhsm.hpp"

namespace {

using namespace vhsm::bench;

// The IPC ceiling: an echo server in another process on a SEQPACKET socketpair.
Result rawRoundTrip(double seconds, size_t size, int serverCpu) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
  int big = 4 << 20;
  for (int fd : sv) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (serverCpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(serverCpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
    close(sv[0]);
    std::vector<char> buf(size + 64);
    ssize_t n;
    while ((n = recv(sv[1], buf.data(), buf.size(), 0)) > 0) send(sv[1], buf.data(), size_t(n), 0);
    _exit(0);
  }
  close(sv[1]);
  std::vector<char> out(size, 'x'), in(size + 64);
  auto r = measure(seconds, size, [&] {
    send(sv[0], out.data(), out.size(), 0);
    recv(sv[0], in.data(), in.size(), 0);
  });
  close(sv[0]);
  waitpid(pid, nullptr, 0);
  return r;
}

// One row of the table: a case measured in every run.
struct Case {
  std::string name;
  std::function<void()> op;
  std::vector<Result> runs;
};

void printRatioHeader() {
  std::printf("| %-36s | %8s | %10s | %9s | %8s | %8s | %9s | %9s | %9s |\n", "case", "bytes",
              "ops/s", "MB/s", "p50 us", "p99 us", "×ceiling", "×OpenSSL", "×SoftHSM2");
  std::printf(
      "|--------------------------------------|----------|------------|-----------|"
      "----------|----------|-----------|-----------|-----------|\n");
}

void printRow(const std::string& name, size_t size, const Result& r, double ceiling, double openssl,
              double softhsm) {
  auto ratio = [&](double reference) {
    static char buf[16];
    if (reference <= 0) return std::string("");
    std::snprintf(buf, sizeof buf, "%.2f", r.opsPerSecond / reference);
    return std::string(buf);
  };
  std::printf("| %-36s | %8zu | %10.0f | %9.1f | %8.1f | %8.1f | %9s | %9s | %9s |\n", name.c_str(),
              size, r.opsPerSecond, r.mbPerSecond, r.p50us, r.p99us, ratio(ceiling).c_str(),
              ratio(openssl).c_str(), ratio(softhsm).c_str());
}

// HMAC-SHA1 64 B (a cached key) and keyInfo (a store lookup each time) with the user's store
// at about 10 keys, then again once it holds `keys` keys; creating and listing them timed too.
// small: a client of a second keyd whose store stays at about 10 keys; with it, the operations
// at `keys` are also compared with the small store's in alternating blocks (the two measured
// a minute and a half apart differ by as much as this machine drifts).
void storeScale(vhsm::Client& client, size_t keys, double seconds, int runs, vhsm::Client* small) {
  std::vector<uint8_t> data(64, 0x5a), material(32, 0x33);
  auto grow = [&](vhsm::Client& c, size_t target) {
    char id[32];
    for (size_t i = c.keyList().size(); i < target; ++i) {
      std::snprintf(id, sizeof id, "scale-%07zu", i);
      c.keyImport(id, vhsm::KeyType::HMAC, material);
    }
  };
  auto hmacWith = [&](vhsm::Client& c) {
    return [&] { c.hmac("bench-hmac", vhsm::HashAlgorithm::SHA1, data); };
  };
  auto infoWith = [&](vhsm::Client& c) { return [&] { c.keyInfo("bench-hmac"); }; };
  auto measureAt = [&](size_t count) {
    std::vector<Result> hmac, info;
    for (int r = 0; r < runs; ++r) {
      hmac.push_back(measure(seconds, data.size(), hmacWith(client)));
      info.push_back(measure(seconds, 0, infoWith(client)));
    }
    auto h = medianOf(hmac), i = medianOf(info);
    std::printf("| %zu | %.0f | %.1f | %.1f | %.0f | %.1f |\n", count, h.opsPerSecond, h.p50us,
                h.p99us, i.opsPerSecond, i.p50us);
    return h.p50us;
  };
  std::printf(
      "\n| keys in the store | HMAC-SHA1 64 B ops/s | p50 us | p99 us | keyInfo ops/s | p50 us "
      "|\n|---|---|---|---|---|---|\n");
  grow(client, 10);
  size_t before = client.keyList().size();
  double smallP50 = measureAt(before);
  auto t0 = Clock::now();
  grow(client, keys);
  double created = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  size_t listed = client.keyList().size();
  double listing = std::chrono::duration<double>(Clock::now() - t0).count();
  double largeP50 = measureAt(keys);
  std::printf(
      "\nCreated %zu keys in %.1f s (%.0f keys/s, one keyImport each); listed %zu in %.0f ms "
      "(pages of 1000); HMAC p50 at %zu keys vs %zu: %.2f\n",
      keys - before, created, double(keys - before) / created, listed, listing * 1000, keys, before,
      largeP50 / smallP50);
  if (!small) return;
  grow(*small, before);
  // Blocks of about 4 ms.
  auto hmac = pairedRates(2 * seconds * runs, 200, hmacWith(*small), hmacWith(client));
  auto info = pairedRates(2 * seconds * runs, 200, infoWith(*small), infoWith(client));
  std::printf(
      "\nAgainst a keyd whose store has %zu keys, in alternating blocks: mean latency at %zu keys "
      "over %zu, HMAC-SHA1 64 B %.2f (%.1f vs %.1f us), keyInfo %.2f (%.1f vs %.1f us)\n",
      small->keyList().size(), listed, before, hmac.a / hmac.b, 1e6 / hmac.b, 1e6 / hmac.a,
      info.a / info.b, 1e6 / info.b, 1e6 / info.a);
}

// A library context loaded from path, or exit with OpenSSL's reason: a table of rows that
// measured a failed fetch is worse than none.
OSSL_LIB_CTX* loadConfig(const std::string& path) {
  OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
  if (!ctx || !OSSL_LIB_CTX_load_config(ctx, path.c_str())) {
    std::fprintf(stderr, "vhsm-bench-client: cannot load %s\n", path.c_str());
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-bench-client"};
  vhsm::ClientOptions options;
  std::string user = "bench", password = "bench-password", providerConfig;
  double seconds = 2;
  int rawServerCpu = -1, runs = 1;
  bool concurrency = false;
  std::vector<size_t> sizes = {64, 4096, 65536, size_t(1) << 20};
  app.add_option("--socket", options.socketPath)->required();
  app.add_option("--user", user);
  app.add_option("--password", password);
  app.add_option("--seconds", seconds, "per case and run");
  app.add_option("--runs", runs, "runs per case; the median is reported");
  app.add_option("--sizes", sizes, "message sizes in bytes");
  app.add_option("--raw-server-cpu", rawServerCpu, "pin the raw echo server (keyd's CPU)");
  app.add_option("--provider-config", providerConfig,
                 "openssl.cnf loading vhsm.so as the bench user");
  app.add_flag("--concurrency", concurrency, "HMAC 64 B with 1, 2, 4, 8 threads and processes");
  bool concurrencyOnly = false;
  app.add_flag("--concurrency-only", concurrencyOnly,
               "only the concurrency cases (run them unpinned, so clients can spread)");
  size_t scaleKeys = 0;
  std::string smallStoreSocket;
  app.add_option("--scale-keys", scaleKeys,
                 "grow the bench user's store to this many keys and compare with 10 keys");
  app.add_option("--small-store-socket", smallStoreSocket,
                 "with --scale-keys: a keyd whose store stays at 10 keys, compared with in "
                 "alternating blocks");
  std::string passthroughConfig;
  app.add_option("--passthrough-config", passthroughConfig,
                 "openssl.cnf with default_properties = ?provider=vhsm: plain keys through vhsm");
  std::string only;
  app.add_option(
      "--only", only,
      "only the size cases whose name contains this (and the ceiling), e.g. \"GCM enc\"");
  CLI11_PARSE(app, argc, argv);

  vhsm::Client client(options);
  auto t0 = Clock::now();
  client.login(user, password);
  double loginMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<uint8_t> hmacKey(20, 0x0b), aesKey(32, 0x42);
  for (auto [id, type, key] : {std::tuple{"bench-hmac", vhsm::KeyType::HMAC, &hmacKey},
                               std::tuple{"bench-aes", vhsm::KeyType::AES, &aesKey}}) {
    try {
      client.keyImport(id, type, *key);
    } catch (const vhsm::Error& e) {
      if (e.code() != vhsm::ErrorCode::KEY_EXISTS) throw;
    }
  }
  std::printf("login (PBKDF2 at the store's iteration count): %.1f ms\n\n", loginMs);

  OSSL_LIB_CTX* libctx = nullptr;
  EVP_MAC* providerHmac = nullptr;
  EVP_CIPHER* providerGcm = nullptr;
  if (!providerConfig.empty()) {
    libctx = loadConfig(providerConfig);
    providerHmac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
    providerGcm = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
    if (!providerHmac || !providerGcm) {
      std::fprintf(stderr, "vhsm-bench-client: %s does not give vhsm's HMAC and AES-GCM\n",
                   providerConfig.c_str());
      ERR_print_errors_fp(stderr);
      return 1;
    }
  }
  EVP_CIPHER* localGcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", "provider=default");
  vhsm::bench::SoftHsm softhsm;
  OSSL_PARAM sha1Params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA1"), 0),
      OSSL_PARAM_construct_end()};
  OSSL_PARAM sha256Params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  std::vector<uint8_t> iv(12, 1), mac(EVP_MAX_MD_SIZE);

  if (concurrencyOnly) {
    concurrency = true;
    sizes.clear();
    passthroughConfig.clear();
  }
  if (scaleKeys) {
    std::optional<vhsm::Client> small;
    if (!smallStoreSocket.empty()) {
      auto smallOptions = options;
      smallOptions.socketPath = smallStoreSocket;
      small.emplace(smallOptions);
      small->login(user, password);
    }
    storeScale(client, scaleKeys, seconds, runs, small ? &*small : nullptr);
    return 0;
  }
  if (!sizes.empty()) printRatioHeader();
  for (size_t size : sizes) {
    std::vector<uint8_t> data(size, 0x5a), out(size + 16), tag(16);
    // One datagram per round trip, as large as a socket buffer allows.
    size_t rawSize = std::min(size, size_t(200000));
    auto gcmEvp = [&](EVP_CIPHER* cipher, const unsigned char* key) {
      EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
      int n = 0;
      EVP_EncryptInit_ex2(ctx, cipher, key, iv.data(), nullptr);
      EVP_EncryptUpdate(ctx, out.data(), &n, data.data(), int(data.size()));
      EVP_EncryptFinal_ex(ctx, out.data() + n, &n);
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
      EVP_CIPHER_CTX_free(ctx);
    };
    // Every decryption case opens this message (same key and IV everywhere).
    gcmEvp(localGcm, aesKey.data());
    std::vector<uint8_t> ciphertext(out.begin(), out.begin() + ptrdiff_t(size)), sealedTag = tag;
    std::vector<uint8_t> sealed = ciphertext;
    sealed.insert(sealed.end(), tag.begin(), tag.end());
    auto gcmOpenEvp = [&](EVP_CIPHER* cipher, const unsigned char* key) {
      EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
      int n = 0;
      EVP_DecryptInit_ex2(ctx, cipher, key, iv.data(), nullptr);
      EVP_DecryptUpdate(ctx, out.data(), &n, ciphertext.data(), int(ciphertext.size()));
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, sealedTag.data());
      if (EVP_DecryptFinal_ex(ctx, out.data() + n, &n) != 1)
        throw std::runtime_error("AES-GCM decryption failed in the bench");
      EVP_CIPHER_CTX_free(ctx);
    };
    auto evpMac = [&](EVP_MAC* hmac, const void* key, size_t keyLength, OSSL_PARAM* params) {
      EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac);
      size_t n = 0;
      EVP_MAC_init(ctx, static_cast<const unsigned char*>(key), keyLength, params);
      EVP_MAC_update(ctx, data.data(), data.size());
      EVP_MAC_final(ctx, mac.data(), &n, mac.size());
      EVP_MAC_CTX_free(ctx);
    };
    unsigned char keyRef[32] = "vhsm:bench-aes";
    std::vector<Case> cases = {
        {"raw SEQPACKET round trip (ceiling)", {}, {}},
        {"HMAC-SHA1 in-process OpenSSL",
         [&] {
           unsigned len = 0;
           HMAC(EVP_sha1(), hmacKey.data(), int(hmacKey.size()), data.data(), data.size(),
                mac.data(), &len);
         },
         {}},
        {"HMAC-SHA1 SoftHSM2", [&] { softhsm.hmacSha1(data); }, {}},
        {"HMAC-SHA1 vhsm client library",
         [&] { client.hmac("bench-hmac", vhsm::HashAlgorithm::SHA1, data); },
         {}},
        {"HMAC-SHA1 vhsm provider (EVP_MAC)",
         [&] { evpMac(providerHmac, "vhsm:bench-hmac", 15, sha1Params); },
         {}},
        {"HMAC-SHA256 in-process OpenSSL",
         [&] {
           unsigned len = 0;
           HMAC(EVP_sha256(), hmacKey.data(), int(hmacKey.size()), data.data(), data.size(),
                mac.data(), &len);
         },
         {}},
        {"HMAC-SHA256 SoftHSM2", [&] { softhsm.hmacSha256(data); }, {}},
        {"HMAC-SHA256 vhsm client library",
         [&] { client.hmac("bench-hmac", vhsm::HashAlgorithm::SHA256, data); },
         {}},
        {"HMAC-SHA256 vhsm provider (EVP_MAC)",
         [&] { evpMac(providerHmac, "vhsm:bench-hmac", 15, sha256Params); },
         {}},
        {"SHA-256 in-process OpenSSL",
         [&] { EVP_Digest(data.data(), data.size(), mac.data(), nullptr, EVP_sha256(), nullptr); },
         {}},
        {"SHA-256 SoftHSM2", [&] { softhsm.sha256(data); }, {}},
        {"SHA-256 vhsm client library",
         [&] { client.digest(vhsm::HashAlgorithm::SHA256, data); },
         {}},
        {"AES-256-GCM enc in-process OpenSSL", [&] { gcmEvp(localGcm, aesKey.data()); }, {}},
        {"AES-256-GCM enc SoftHSM2", [&] { softhsm.aesGcmEncrypt(data); }, {}},
        {"AES-256-GCM enc vhsm client library",
         [&] { client.gcmEncrypt("bench-aes", iv, {}, data); },
         {}},
        {"AES-256-GCM enc vhsm provider", [&] { gcmEvp(providerGcm, keyRef); }, {}},
        {"AES-256-GCM dec in-process OpenSSL", [&] { gcmOpenEvp(localGcm, aesKey.data()); }, {}},
        {"AES-256-GCM dec SoftHSM2", [&] { softhsm.aesGcmDecrypt(sealed); }, {}},
        {"AES-256-GCM dec vhsm client library",
         [&] { client.gcmDecrypt("bench-aes", iv, {}, ciphertext, sealedTag); },
         {}},
        {"AES-256-GCM dec vhsm provider", [&] { gcmOpenEvp(providerGcm, keyRef); }, {}},
    };
    std::erase_if(cases, [&](const Case& c) {
      bool ceiling = !c.op;
      return (!libctx && c.name.find("provider") != std::string::npos) ||
             (!ceiling && c.name.find(only) == std::string::npos);
    });
    // Warm-up, untimed: the provider's first use logs in (PBKDF2), caches fill.
    for (auto& c : cases)
      if (c.op) c.op();
    for (int run = 0; run < runs; ++run)
      for (auto& c : cases)
        c.runs.push_back(c.op ? measure(seconds, size, c.op)
                              : rawRoundTrip(seconds, rawSize, rawServerCpu));
    double ceiling = medianOf(cases[0].runs).opsPerSecond;
    printRow(cases[0].name, rawSize, medianOf(cases[0].runs), 0, 0, 0);
    double openssl = 0, soft = 0;
    for (size_t i = 1; i < cases.size(); ++i) {
      auto r = medianOf(cases[i].runs);
      const auto& name = cases[i].name;
      if (name.find("OpenSSL") != std::string::npos) openssl = r.opsPerSecond;
      if (name.find("SoftHSM2") != std::string::npos) soft = r.opsPerSecond;
      bool isVhsm = name.find("vhsm") != std::string::npos;
      printRow(name, size, r, isVhsm ? ceiling : 0, isVhsm ? openssl : 0, isVhsm ? soft : 0);
    }
  }
  if (!passthroughConfig.empty()) {
    // Plain keys with vhsm preferred for everything: what libssl's own HMACs and record
    // encryption cost when the global preference is set, against the default provider.
    OSSL_LIB_CTX* preferring = loadConfig(passthroughConfig);
    std::printf(
        "\n| plain key, default provider vs under ?provider=vhsm | bytes | default ops/s | "
        "via vhsm ops/s | ratio (alternating blocks) |\n|---|---|---|---|---|\n");
    for (bool isMac : {true, false}) {
      size_t size = isMac ? 64 : 16384;
      std::vector<uint8_t> data(size, 0x5a), out(size + 16), tag(16), key(32, 0x11);
      OSSL_PARAM sha256Params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
          OSSL_PARAM_construct_end()};
      // The operation through the implementations fetched from ctx.
      std::vector<std::pair<EVP_MAC*, EVP_CIPHER*>> fetched;
      auto operation = [&](OSSL_LIB_CTX* ctx, const char* propq) -> std::function<void()> {
        EVP_MAC* hmac = EVP_MAC_fetch(ctx, "HMAC", propq);
        EVP_CIPHER* gcm = EVP_CIPHER_fetch(ctx, "AES-256-GCM", propq);
        fetched.push_back({hmac, gcm});
        return [&, hmac, gcm] {
          if (isMac) {
            EVP_MAC_CTX* m = EVP_MAC_CTX_new(hmac);
            size_t n = 0;
            EVP_MAC_init(m, key.data(), key.size(), sha256Params);
            EVP_MAC_update(m, data.data(), data.size());
            EVP_MAC_final(m, mac.data(), &n, mac.size());
            EVP_MAC_CTX_free(m);
          } else {
            EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
            int n = 0;
            EVP_EncryptInit_ex2(c, gcm, key.data(), iv.data(), nullptr);
            EVP_EncryptUpdate(c, out.data(), &n, data.data(), int(data.size()));
            EVP_EncryptFinal_ex(c, out.data() + n, &n);
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
            EVP_CIPHER_CTX_free(c);
          }
        };
      };
      auto direct = operation(nullptr, "provider=default");
      auto viaVhsm = operation(preferring, nullptr);
      // Blocks of about 2 ms each.
      auto rates = pairedRates(2 * seconds * runs, isMac ? 1000 : 300, direct, viaVhsm);
      for (auto [hmac, gcm] : fetched) {
        EVP_MAC_free(hmac);
        EVP_CIPHER_free(gcm);
      }
      std::printf("| %s | %zu | %.0f | %.0f | %.2f |\n", isMac ? "HMAC-SHA256" : "AES-256-GCM",
                  size, rates.a, rates.b, rates.b / rates.a);
    }
    OSSL_LIB_CTX_free(preferring);
  }
  if (concurrency) {
    std::vector<uint8_t> data(64, 0x5a);
    printConcurrencyHeader("HMAC-SHA1 64 B");
    printConcurrencyRows("HMAC-SHA1 64 B", seconds, [&](const auto& ready) {
      vhsm::Client c(options);
      c.login(user, password);
      auto end = ready();
      uint64_t n = 0;
      for (; Clock::now() < end; ++n) c.hmac("bench-hmac", vhsm::HashAlgorithm::SHA1, data);
      return n;
    });
  }
  return 0;
}
