// Load and leaks: client processes × threads run mixed operations (HMAC, digests, AES-GCM
// one-shot and streamed, signatures, key listings, logins) against one keyd; no operation
// fails, and keyd's resident memory is flat after warm-up. VHSM_LOAD_SECONDS sets the length
// (default 6; the soak label runs minutes).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;
using Clock = std::chrono::steady_clock;

namespace {

double loadSeconds() {
  const char* s = std::getenv("VHSM_LOAD_SECONDS");
  return s ? std::atof(s) : 6.0;
}

// One worker thread's mix; returns the number of failed operations.
uint64_t mixedOperations(const std::string& socket, const Bytes& hmacKey, double seconds,
                         uint64_t& done) {
  ClientOptions o;
  o.socketPath = socket;
  Client c(o);
  c.login("alice", "pw");
  uint64_t failures = 0;
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (unsigned i = 0; Clock::now() < end; ++i) {
    try {
      auto data = randomBytes(1 + i % 5000);
      switch (i % 7) {
        case 0:
          failures +=
              c.hmac("h", HashAlgorithm::SHA256, data) != referenceHmac("SHA256", hmacKey, data);
          break;
        case 1:
          failures += c.digest(HashAlgorithm::SHA512, data) != referenceDigest("SHA512", data);
          break;
        case 2: {
          auto sealed = c.gcmEncrypt("a", {}, {}, data);
          failures += c.gcmDecrypt("a", sealed.iv, {}, sealed.ciphertext, sealed.tag) != data;
          break;
        }
        case 3: {
          auto s = c.hmacStream("h", HashAlgorithm::SHA1);
          auto big = randomBytes(400000 + i % 1000);
          s.update(big);
          failures += s.final() != referenceHmac("SHA1", hmacKey, big);
          break;
        }
        case 4: c.sign("e", {}, referenceDigest("SHA256", data)); break;
        case 5: failures += c.keyList().size() != 3; break;
        case 6: {
          Client fresh(o);  // a new connection and login, now and then
          fresh.login("alice", "pw");
          fresh.ping();
          break;
        }
      }
      ++done;
    } catch (const Error& e) {
      std::cerr << "load: " << e.what() << "\n";
      ++failures;
    }
  }
  return failures;
}

}  // namespace

TEST_CASE("processes × threads of mixed operations: no errors, keyd's memory flat") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto hmacKey = randomBytes(32);
  alice->keyImport("h", KeyType::HMAC, hmacKey);
  alice->keyGenerate("a", KeyType::AES);
  alice->keyGenerate("e", KeyType::EC_P256);
  double seconds = loadSeconds();
  constexpr int kProcesses = 4, kThreads = 2;

  // Warm-up: every code path once, so allocator pools and caches are in place.
  uint64_t warm = 0;
  REQUIRE(mixedOperations(keyd.socket(), hmacKey, 1.0, warm) == 0);
  size_t rssWarm = residentKb(keyd.pid()), rssPeak = rssWarm;

  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      std::atomic<uint64_t> failures{0}, done{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
          uint64_t mine = 0;
          failures += mixedOperations(keyd.socket(), hmacKey, seconds, mine);
          done += mine;
        });
      for (auto& t : threads) t.join();
      _exit(failures == 0 && done > 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  std::atomic<bool> running{true};
  std::thread sampler([&] {
    while (running) {
      rssPeak = std::max(rssPeak, residentKb(keyd.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  int failedProcesses = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    failedProcesses += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  running = false;
  sampler.join();
  size_t rssEnd = residentKb(keyd.pid());
  std::cout << "load, " << kProcesses << " processes × " << kThreads << " threads, " << seconds
            << " s: keyd RSS after warm-up " << rssWarm << " kB, peak " << rssPeak
            << " kB, at the end " << rssEnd << " kB" << std::endl;
  CHECK(failedProcesses == 0);
  // Flat: what the connections and streams in flight need, not growth with time.
  CHECK(rssEnd < rssWarm + memoryAllowanceKb(32 * 1024));
  CHECK(rssPeak < rssWarm + memoryAllowanceKb(64 * 1024));
  CHECK(keyd.root()->auditVerify().ok);
}
