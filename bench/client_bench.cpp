// vhsm-bench-client: ops/s and latency through the client library against a running keyd, with
// the references measured in the same run: the raw SOCK_SEQPACKET round trip (same payload, no
// crypto, no Cap'n Proto) and in-process OpenSSL. Pin client and keyd with taskset (see
// bench/README.md): CPU placement changes a round trip five-fold on these machines.
#include <openssl/core_names.h>
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
#include <functional>
#include <vector>

#include "measure.hpp"
#include "vhsm/client.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-bench-client"};
  vhsm::ClientOptions options;
  std::string user = "bench", password = "bench-password", providerConfig;
  double seconds = 2;
  int rawServerCpu = -1;
  app.add_option("--socket", options.socketPath)->required();
  app.add_option("--user", user);
  app.add_option("--password", password);
  app.add_option("--seconds", seconds, "per case");
  app.add_option("--raw-server-cpu", rawServerCpu, "pin the raw echo server (keyd's CPU)");
  app.add_option("--provider-config", providerConfig,
                 "openssl.cnf loading vhsm.so as the bench user");
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
  printHeader();

  OSSL_LIB_CTX* libctx = nullptr;
  EVP_MAC* providerHmac = nullptr;
  EVP_CIPHER* providerGcm = nullptr;
  OSSL_PARAM sha1Params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA1"), 0),
      OSSL_PARAM_construct_end()};
  if (!providerConfig.empty()) {
    libctx = OSSL_LIB_CTX_new();
    OSSL_LIB_CTX_load_config(libctx, providerConfig.c_str());
    providerHmac = EVP_MAC_fetch(libctx, "HMAC", "provider=vhsm");
    providerGcm = EVP_CIPHER_fetch(libctx, "AES-256-GCM", "provider=vhsm");
  }
  for (size_t size : {size_t(64), size_t(4096), size_t(65536), size_t(1) << 20}) {
    std::vector<uint8_t> data(size, 0x5a), mac(EVP_MAX_MD_SIZE);
    // One datagram per round trip, as large as a socket buffer allows.
    size_t rawSize = std::min(size, size_t(200000));
    auto raw = rawRoundTrip(seconds, rawSize, rawServerCpu);
    auto vhsmHmac =
        measure(seconds, size, [&] { client.hmac("bench-hmac", vhsm::HashAlgorithm::SHA1, data); });
    auto openssl = measure(seconds, size, [&] {
      unsigned len = 0;
      HMAC(EVP_sha1(), hmacKey.data(), int(hmacKey.size()), data.data(), data.size(), mac.data(),
           &len);
    });
    std::vector<uint8_t> iv(12, 1);
    auto vhsmGcm = measure(seconds, size, [&] { client.gcmEncrypt("bench-aes", iv, {}, data); });
    Result viaProvider{}, gcmProvider{};
    if (libctx) {
      viaProvider = measure(seconds, size, [&] {
        EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(providerHmac);
        size_t n = 0;
        EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>("vhsm:bench-hmac"), 15,
                     sha1Params);
        EVP_MAC_update(ctx, data.data(), data.size());
        EVP_MAC_final(ctx, mac.data(), &n, mac.size());
        EVP_MAC_CTX_free(ctx);
      });
      std::vector<uint8_t> out(size + 16), tag(16);
      unsigned char key[32] = "vhsm:bench-aes";
      gcmProvider = measure(seconds, size, [&] {
        EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
        int n = 0;
        EVP_EncryptInit_ex2(ctx, providerGcm, key, iv.data(), nullptr);
        EVP_EncryptUpdate(ctx, out.data(), &n, data.data(), int(data.size()));
        EVP_EncryptFinal_ex(ctx, out.data() + n, &n);
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
        EVP_CIPHER_CTX_free(ctx);
      });
    }
    print("raw SEQPACKET round trip (ceiling)", rawSize, raw, 0);
    print("HMAC-SHA1 vhsm client library", size, vhsmHmac, raw.opsPerSecond);
    print("HMAC-SHA1 in-process OpenSSL", size, openssl, 0);
    std::printf("| %-36s | %8zu | vhsm/OpenSSL MB/s ratio: %.3f |\n", "", size,
                vhsmHmac.mbPerSecond / openssl.mbPerSecond);
    print("AES-256-GCM encrypt vhsm client", size, vhsmGcm, raw.opsPerSecond);
    if (libctx) {
      print("HMAC-SHA1 vhsm provider (EVP_MAC)", size, viaProvider, raw.opsPerSecond);
      print("AES-256-GCM encrypt vhsm provider", size, gcmProvider, raw.opsPerSecond);
    }
  }
  return 0;
}
