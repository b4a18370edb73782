// Where secrets must never be: keyd's memory swapped out or dumped, its log, its error
// messages; and how fast a password can be guessed online and offline.
#include <catch2/catch.hpp>
#include <fstream>
#include <iostream>
#include <thread>

#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;
using Clock = std::chrono::steady_clock;

namespace {

std::string procField(pid_t pid, const std::string& file, const std::string& prefix) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return line;
  return {};
}

bool contains(const std::string& haystack, const Bytes& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, uint8_t b) { return uint8_t(a) == b; }) != haystack.end();
}

std::string lowerHex(const Bytes& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

}  // namespace

TEST_CASE("keyd keeps secrets and all state made from them in locked memory, and dumps no core") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  // Key state in Crypto++'s and OpenSSL's own allocations: keyed HMAC pads, an AES key
  // schedule, parsed private keys.
  alice->keyGenerate("h", KeyType::HMAC);
  alice->keyGenerate("a", KeyType::AES, 256);
  alice->keyGenerate("e", KeyType::EC_P256);
  alice->keyGenerate("d", KeyType::ED25519);
  alice->hmac("h", HashAlgorithm::SHA1, bytesOf("x"));
  alice->gcmEncrypt("a", Bytes(12, 1), {}, bytesOf("x"));
  alice->sign("e", {}, referenceDigest("SHA256", bytesOf("m")));
  alice->sign("d", {}, bytesOf("m"));

  auto mappings = mappingsOf(keyd.pid());
  REQUIRE(mappings.size() > 10);
  size_t anonymousKb = 0, storeMappings = 0;
  for (const auto& m : mappings) {
    INFO(m.name << ": " << m.residentKb << " kB resident, " << m.lockedKb << " kB locked");
    if (m.name.empty() || m.name == "[heap]" || m.name == "[stack]") {
      anonymousKb += m.residentKb;
      // Under ASan mlock does nothing (its interceptor); the release build checks the locks.
      if (!kSanitizedBuild) CHECK(m.lockedKb == m.residentKb);
    } else if (m.name == (keyd.store() / "data.mdb").string()) {
      ++storeMappings;
      CHECK(m.lockedKb == 0);  // wrapped records only: evictable like any file
    }
  }
  CHECK(anonymousKb > 0);
  CHECK(storeMappings == 1);
  auto core = procField(keyd.pid(), "limits", "Max core file size");
  INFO(core);
  CHECK(core.find(" 0 ") != std::string::npos);
}

TEST_CASE("a keyd that may not lock its memory still serves, and warns what may be swapped") {
  Keyd keyd(1000, Keyd::MemoryLocking::restricted);
  auto alice = keyd.newUser("alice", "pw");
  alice->keyImport("h", KeyType::HMAC, bytesOf("key"));
  CHECK(alice->hmac("h", HashAlgorithm::SHA256, bytesOf("data")) ==
        referenceHmac("SHA256", bytesOf("key"), bytesOf("data")));
  std::ifstream logFile(keyd.logFile());
  std::string log(std::istreambuf_iterator<char>(logFile), {});
  CHECK(log.find("keyd lacks CAP_IPC_LOCK and an unlimited RLIMIT_MEMLOCK: keys are locked in "
                 "memory, but the HMAC, AES and private-key state made from them may be swapped "
                 "out") != std::string::npos);
  if (!kSanitizedBuild)
    CHECK(std::stoul(procField(keyd.pid(), "status", "VmLck:").substr(6)) <= 64);
}

TEST_CASE("private keys appear in neither keyd's log nor any error message") {
  Keyd keyd;  // logs at debug level
  auto alice = keyd.newUser("alice", "pw");
  std::vector<ReferenceKey> keys = {referenceKey("P-256"), referenceKey("ED25519"),
                                    referenceKey("RSA")};
  const KeyType types[] = {KeyType::EC_P256, KeyType::ED25519, KeyType::RSA};
  std::string messages;
  auto collect = [&](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      messages += e.what();
      messages += "\n";
    }
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    Bytes pem(keys[i].privatePem.begin(), keys[i].privatePem.end());
    std::string id = "k" + std::to_string(i);
    alice->keyImport(id, types[i], pem);
    alice->sign(
        id, {},
        types[i] == KeyType::ED25519 ? bytesOf("m") : referenceDigest("SHA256", bytesOf("m")));
    // Failures that handle the key: wrong type on import, bad digest length, wrong usage.
    collect([&] { alice->keyImport("x" + id, types[(i + 1) % 3], pem); });
    collect([&] { alice->keyImport(id, types[i], pem); });  // exists
    collect([&] { alice->sign(id, {}, bytesOf("short")); });
    collect([&] { alice->hmac(id, HashAlgorithm::SHA256, bytesOf("m")); });
  }
  CHECK(messages.size() > 100);  // the failures happened
  keyd.stop();
  std::ifstream logFile(keyd.logFile(), std::ios::binary);
  std::string log(std::istreambuf_iterator<char>(logFile), {});
  CHECK(log.size() > 100);  // debug logging was on
  for (const auto& key : keys) {
    Bytes head(key.secret.begin(), key.secret.begin() + 12);
    for (const auto& text : {log, messages}) {
      CHECK_FALSE(contains(text, head));
      CHECK(text.find(lowerHex(head)) == std::string::npos);
    }
    CHECK(log.find("PRIVATE KEY") == std::string::npos);
  }
  keyd.start();
}

TEST_CASE("password guessing: offline cost per guess, online guesses throttled") {
  // Offline: what one guess costs at keyd's default PBKDF2 iterations (reported, not asserted).
  {
    Keyd keyd(0);
    auto c = keyd.client();
    auto start = Clock::now();
    c->login("root", Keyd::kRootPassword);
    std::cout << "login at the default 600 000 PBKDF2-HMAC-SHA256 iterations: "
              << std::chrono::duration<double, std::milli>(Clock::now() - start).count() << " ms"
              << std::endl;
  }
  // Online: an attacker in the right container who honours every retry-after.
  Keyd keyd;
  keyd.newUser("alice", "pw");
  auto c = keyd.client();
  int evaluated = 0, throttled = 0;
  auto start = Clock::now(), end = start + std::chrono::seconds(4);
  while (Clock::now() < end) {
    try {
      c->login("alice", "guess" + std::to_string(evaluated));
    } catch (const Error& e) {
      if (e.code() == ErrorCode::WRONG_PASSWORD) ++evaluated;
      if (e.code() == ErrorCode::LOGIN_THROTTLED) {
        ++throttled;
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::min(e.retryAfterMillis(), 200u)));
      }
    }
  }
  double minutes = std::chrono::duration<double>(Clock::now() - start).count() / 60;
  std::cout << "online guessing against one user from its own container: " << evaluated
            << " passwords tried in " << minutes * 60 << " s (" << throttled
            << " attempts refused unevaluated); the delay doubles to 60 s, so at most ~1 guess "
               "per minute after the first few minutes"
            << std::endl;
  // 3 free failures, then 1 s and 2 s waits fit in 4 s: at most 6 passwords evaluated.
  CHECK(evaluated <= 6);
  CHECK(evaluated >= 3);
  CHECK(throttled > 0);
}
