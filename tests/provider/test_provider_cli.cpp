// The real `openssl` binary with a generated openssl.cnf loading vhsm.so against a real keyd:
// every HMAC route of docs/provider.md and digests compared with the default provider's output for
// the same raw key, errors as openssl prints them, and the global preference leaving ordinary work
// (openssl speed, a TLS 1.3 exchange) to the default implementations.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "tests/provider/provider_env.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// The hex digest in `openssl dgst -r` / `openssl mac` output.
std::string hexOf(const CommandResult& r) {
  auto s = lower(r.out);
  return s.substr(0, s.find_first_of(" \n"));
}

}  // namespace

TEST_CASE("openssl list shows what vhsm offers, whether or not keyd is up") {
  ProviderEnv env;
  auto down = env.writeConfig({}, "/nonexistent/keyd.sock");
  for (const auto& config : {env.config(), down}) {
    auto r = openssl(config, {"list", "-providers", "-mac-algorithms", "-cipher-algorithms",
                              "-digest-algorithms", "-provider", "vhsm", "-verbose"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("HMAC @ vhsm") != std::string::npos);
    CHECK(r.out.find("id-aes256-GCM } @ vhsm") != std::string::npos);
    CHECK(r.out.find("id-aes128-GCM } @ vhsm") != std::string::npos);
    CHECK(r.out.find("SHA2-256, SHA256 } @ vhsm") != std::string::npos);
    CHECK(r.out.find("SHA1, SSL3-SHA1 } @ vhsm") != std::string::npos);
    CHECK(r.out.find("status: active") != std::string::npos);
  }
}

TEST_CASE("every HMAC route of the openssl CLI equals the default provider with the raw key") {
  ProviderOptions explicitOnly;
  explicitOnly.globalPreference = false;
  ProviderEnv env;
  auto noPreference = env.writeConfig(explicitOnly, env.keyd().socket());
  TempDir dir;
  auto key = randomBytes(32);
  env.alice().keyImport("k1", KeyType::HMAC, key);
  auto file = writeFile(dir, "data", randomBytes(100000));
  for (const char* digest : {"SHA1", "SHA256", "SHA384", "SHA512"}) {
    INFO(digest);
    std::string flag = "-" + lower(digest);
    auto reference = runCommand({opensslBinary(), "dgst", flag, "-r", "-mac", "HMAC", "-macopt",
                                 "hexkey:" + toHex(key), file},
                                "", {"OPENSSL_CONF=/dev/null"});
    REQUIRE(reference.status == 0);
    auto expected = hexOf(reference);
    REQUIRE(expected.size() >= 40);

    auto mac = openssl(noPreference, {"mac", "-propquery", "provider=vhsm", "-digest", digest,
                                      "-macopt", "key:vhsm:k1", "-in", file, "HMAC"});
    INFO(mac.err);
    CHECK(mac.status == 0);
    CHECK(hexOf(mac) == expected);

    auto dgstMac =
        openssl(env.config(), {"dgst", flag, "-r", "-mac", "HMAC", "-macopt", "key:vhsm:k1", file});
    INFO(dgstMac.err);
    CHECK(dgstMac.status == 0);
    CHECK(hexOf(dgstMac) == expected);

    auto dgstHmac = openssl(env.config(), {"dgst", flag, "-r", "-hmac", "vhsm:k1", file});
    INFO(dgstHmac.err);
    CHECK(dgstHmac.status == 0);
    CHECK(hexOf(dgstHmac) == expected);
  }
}

TEST_CASE("openssl dgst fetched from vhsm computes in keyd and equals the default") {
  ProviderOptions explicitOnly;
  explicitOnly.globalPreference = false;
  ProviderEnv env(explicitOnly);
  TempDir dir;
  auto file = writeFile(dir, "data", randomBytes(3 << 20));
  for (const char* digest : {"-sha1", "-sha256", "-sha384", "-sha512"}) {
    auto reference =
        runCommand({opensslBinary(), "dgst", digest, "-r", file}, "", {"OPENSSL_CONF=/dev/null"});
    auto vhsm = openssl(env.config(), {"dgst", digest, "-r", "-provider", "vhsm", "-propquery",
                                       "provider=vhsm", file});
    INFO(vhsm.err);
    CHECK(vhsm.status == 0);
    CHECK(hexOf(vhsm) == hexOf(reference));
  }
}

TEST_CASE("openssl prints vhsm's specific errors") {
  ProviderEnv env;
  env.alice().keyGenerate("a1", KeyType::AES);
  TempDir dir;
  auto file = writeFile(dir, "data", bytesOf("x"));
  auto unknown = openssl(env.config(), {"dgst", "-sha256", "-hmac", "vhsm:nope", file});
  CHECK(unknown.status != 0);
  CHECK(unknown.err.find("vhsm") != std::string::npos);
  CHECK(unknown.err.find("unknown key") != std::string::npos);

  auto mismatch = openssl(env.config(), {"dgst", "-sha256", "-hmac", "vhsm:a1", file});
  CHECK(mismatch.status != 0);
  CHECK(mismatch.err.find("key usage not permitted") != std::string::npos);

  auto down = env.writeConfig({}, "/nonexistent/keyd.sock");
  auto start = std::chrono::steady_clock::now();
  auto unreachable = openssl(down, {"dgst", "-sha256", "-hmac", "vhsm:a1", file});
  CHECK(unreachable.status != 0);
  CHECK(unreachable.err.find("vhsm-keyd unreachable") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));

  auto wrongUser = env.writeConfig({}, env.keyd().socket(), "mallory");
  auto refused = openssl(wrongUser, {"dgst", "-sha256", "-hmac", "vhsm:a1", file});
  CHECK(refused.status != 0);
  // keyd does not tell a container which user names exist.
  CHECK(refused.err.find("container not allowed") != std::string::npos);
}

TEST_CASE("under the global preference, openssl speed and a TLS 1.3 exchange work") {
  ProviderEnv env;
  auto speed =
      openssl(env.config(), {"speed", "-evp", "aes-256-gcm", "-seconds", "1", "-bytes", "16384"});
  INFO(speed.err);
  CHECK(speed.status == 0);
  CHECK(speed.out.find("AES-256-GCM") != std::string::npos);

  TempDir dir;
  auto keyFile = (dir.path() / "key.pem").string(), certFile = (dir.path() / "cert.pem").string();
  auto made = runCommand(
      {opensslBinary(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", keyFile, "-out", certFile, "-subj", "/CN=localhost", "-days", "1"},
      "", {"OPENSSL_CONF=/dev/null"});
  REQUIRE(made.status == 0);
  std::mt19937 random(std::random_device{}());
  std::string port = std::to_string(20000 + random() % 20000);
  pid_t server = fork();
  if (server == 0) {
    auto environment =
        providerProcessEnv(env.config());  // putenv keeps the pointers: keep the strings
    for (auto& e : environment) putenv(e.data());
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    execl(opensslBinary().c_str(), "openssl", "s_server", "-accept", ("127.0.0.1:" + port).c_str(),
          "-key", keyFile.c_str(), "-cert", certFile.c_str(), "-tls1_3", "-www", "-naccept", "1",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  CommandResult client;
  for (int attempt = 0; attempt < 50; ++attempt) {
    client = runCommand({opensslBinary(), "s_client", "-connect", "127.0.0.1:" + port, "-tls1_3",
                         "-CAfile", certFile, "-ign_eof"},
                        "GET / HTTP/1.0\r\n\r\n", providerProcessEnv(env.config()));
    if (client.out.find("TLSv1.3") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  INFO(client.err);
  CHECK(client.out.find("Protocol  : TLSv1.3") != std::string::npos);
  CHECK(client.out.find("Verify return code: 0 (ok)") != std::string::npos);
  CHECK(client.out.find("HTTP/1.0 200 ok") != std::string::npos);  // the page came through
}
