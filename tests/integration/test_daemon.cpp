// keyd as a process: concurrency, restarts, kill -9, hostile frames, fork, signals, and what
// reaches the disk.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

#include "protocol/frame.hpp"
#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

TEST_CASE("many clients at once all get correct results") {
  Keyd keyd;
  auto setup = keyd.newUser("alice", "pw");
  auto key = randomBytes(32);
  setup->keyImport("k", KeyType::HMAC, key);
  std::atomic<int> wrong{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      try {
        auto c = keyd.client();
        c->login("alice", "pw");
        for (int i = 0; i < 200; ++i) {
          auto data = randomBytes(size_t(t * 100 + i));
          if (c->hmac("k", HashAlgorithm::SHA1, data) != referenceHmac("SHA1", key, data)) ++wrong;
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(errors == 0);
}

TEST_CASE("one client shared by many threads serialises safely") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto key = randomBytes(16);
  alice->keyImport("k", KeyType::HMAC, key);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto data = randomBytes(64);
        if (alice->hmac("k", HashAlgorithm::SHA256, data) != referenceHmac("SHA256", key, data))
          ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

TEST_CASE("a slow or silent client does not stall the others") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("k", KeyType::HMAC);
  // A raw client that floods requests and never reads a reply.
  int hog = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, keyd.socket().c_str());
  REQUIRE(connect(hog, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  capnp::MallocMessageBuilder m;
  m.initRoot<proto::Request>().initDigest().setData(kj::heapArray<kj::byte>(200000));
  proto::OutgoingFrame frame({}, m);
  std::vector<iovec> iov;
  for (auto p : frame.pieces()) iov.push_back({const_cast<std::byte*>(p.data()), p.size()});
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  int sent = 0;
  while (sent < 200 && sendmsg(hog, &msg, MSG_DONTWAIT) > 0) ++sent;
  CHECK(sent > 0);
  for (int i = 0; i < 50; ++i) CHECK_NOTHROW(alice->hmac("k", HashAlgorithm::SHA1, bytesOf("x")));
  close(hog);
}

TEST_CASE("malformed and oversized frames get errors and keyd goes on serving") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("k", KeyType::HMAC);
  auto raw = keyd.client();
  auto errorOf = [](const Bytes& reply) {
    proto::FrameHeader h;
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(reply.data()),
                                     reply.size());
    REQUIRE(proto::decodeHeader(bytes, h) == proto::FrameError::none);
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(h.payloadLength / 8);
    memcpy(words.begin(), reply.data() + proto::kHeaderSize, h.payloadLength);
    return api(proto::openMessage(words)->getRoot<proto::Response>().getError());
  };
  CHECK(errorOf(raw->exchangeRaw(bytesOf("garbage"))) == ErrorCode::MALFORMED_FRAME);
  Bytes header(proto::kHeaderSize + 16, 0);
  proto::FrameHeader h;
  h.payloadLength = 16;
  proto::encodeHeader(h, std::span<std::byte, proto::kHeaderSize>(
                             reinterpret_cast<std::byte*>(header.data()), proto::kHeaderSize));
  header[4] = 99;  // version
  CHECK(errorOf(raw->exchangeRaw(header)) == ErrorCode::UNSUPPORTED_VERSION);
  header[4] = uint8_t(proto::kProtocolVersion);
  std::fill(header.begin() + proto::kHeaderSize, header.end(), 0xff);  // nonsense segment table
  CHECK(errorOf(raw->exchangeRaw(header)) == ErrorCode::MALFORMED_MESSAGE);
  Bytes huge(proto::kMaxFrame + 4096, 0);
  std::copy(header.begin(), header.begin() + proto::kHeaderSize, huge.begin());
  CHECK(errorOf(raw->exchangeRaw(huge)) == ErrorCode::FRAME_TOO_LARGE);
  // Everyone else is unaffected.
  CHECK_NOTHROW(alice->hmac("k", HashAlgorithm::SHA1, bytesOf("still here")));
  CHECK(keyd.root()->auditVerify().ok);
}

TEST_CASE("a client sending malformed frames without end is disconnected") {
  Keyd keyd;
  auto raw = keyd.client();
  int answered = 0;
  try {
    for (int i = 0; i < 100; ++i) {
      raw->exchangeRaw(bytesOf("garbage!"));
      ++answered;
    }
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::disconnected);
  }
  CHECK(answered > 0);
  CHECK(answered < 100);
}

TEST_CASE("keys survive a restart, and clients reconnect and log in again by themselves") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("k", KeyType::HMAC);
  auto before = alice->hmac("k", HashAlgorithm::SHA512, bytesOf("x"));
  keyd.stop();
  keyd.start();
  CHECK(alice->hmac("k", HashAlgorithm::SHA512, bytesOf("x")) == before);
  CHECK(alice->keyList().size() == 1);
}

namespace {

// A ping through these options fails at once as unreachable, with text naming the cause.
void checkUnreachable(const ClientOptions& options, const std::string& cause) {
  Client c(options);
  try {
    c.ping();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unreachable);
    CHECK(std::string(e.what()).find(cause) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("a keyd that is not there gives a prompt, specific error") {
  TempDir dir;
  ClientOptions o;
  o.socketPath = (dir.path() / "no.sock").string();
  checkUnreachable(o, "cannot reach vhsm-keyd");
}

// A keyd that stopped accepting, its backlog full (a neighbour flooding it with connections it
// never uses): a new client gives up after its timeout, rather than blocking in connect for
// ever, and says it could not reach keyd. Without the timeout set before connect, this hangs.
TEST_CASE("a keyd whose backlog is full is given up on, not waited for for ever") {
  TempDir dir;
  auto path = (dir.path() / "stuck.sock").string();
  int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(listener, 0) == 0);
  std::vector<int> flood;  // fills the backlog: connects that are never accepted
  for (int i = 0; i < 64; ++i) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(s);
      break;
    }
    flood.push_back(s);
  }
  REQUIRE(!flood.empty());
  ClientOptions o;
  o.socketPath = path;
  o.timeout = std::chrono::milliseconds(200);
  checkUnreachable(o, "cannot reach vhsm-keyd");
  for (int s : flood) close(s);
  close(listener);
}

// This host's kernel has no vhsm_transport (the module's own tests run in a VM): both ends
// must say so rather than fail obscurely. With the module loaded but no keyd, they name that.
TEST_CASE("netlink without a usable vhsm_transport gives a specific error at both ends") {
  ClientOptions o;
  o.transport = Transport::netlink;
  checkUnreachable(o, "vhsm_transport");
  TempDir dir;
  auto store = dir.path().string();
  REQUIRE(runCommand({keydBinary(), "--init", "--store", store, "--kdf-iterations", "1000"}, "pw")
              .status == 0);
  auto r = runCommand({keydBinary(), "--store", store, "--netlink", "--no-socket"});
  CHECK(r.status == 1);
  CHECK(r.err.find("vhsm_transport") != std::string::npos);
  CHECK(transportNamed("netlink") == Transport::netlink);
  CHECK(transportNamed("unix") == Transport::unixSocket);
  CHECK_THROWS_AS(transportNamed("tcp"), Error);
}

TEST_CASE("after fork the child uses its own connection and both keep working") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto key = randomBytes(32);
  alice->keyImport("k", KeyType::HMAC, key);
  auto data = bytesOf("fork");
  auto expected = referenceHmac("SHA256", key, data);
  CHECK(alice->hmac("k", HashAlgorithm::SHA256, data) == expected);
  auto generation = alice->connectionGeneration();
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = true;
    try {
      for (int i = 0; i < 50; ++i) ok &= alice->hmac("k", HashAlgorithm::SHA256, data) == expected;
      ok &= alice->connectionGeneration() == generation + 1;
    } catch (...) {
      ok = false;
    }
    _exit(ok ? 0 : 1);
  }
  for (int i = 0; i < 50; ++i) CHECK(alice->hmac("k", HashAlgorithm::SHA256, data) == expected);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(alice->connectionGeneration() == generation);
}

TEST_CASE("kill -9 during key creation loses no acknowledged key and the audit verifies") {
  Keyd keyd;
  keyd.newUser("alice", "pw");
  std::mt19937 random(12345);
  std::vector<std::string> acknowledged;
  int next = 0;
  for (int round = 0; round < 5; ++round) {
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      auto c = keyd.client();
      try {
        c->login("alice", "pw");
        while (!stop) {
          std::string id = "key" + std::to_string(next++);
          c->keyGenerate(id, KeyType::AES);
          acknowledged.push_back(id);
        }
      } catch (const Error&) {
        // keyd died under us: whatever was not acknowledged may or may not be there.
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 150));
    keyd.kill9();
    stop = true;
    writer.join();
    keyd.start();
  }
  REQUIRE(acknowledged.size() > 10);
  auto alice = keyd.client();
  alice->login("alice", "pw");
  auto keys = alice->keyList();
  std::set<std::string> present;
  for (const auto& k : keys) present.insert(k.id);
  for (const auto& id : acknowledged) {
    INFO(id);
    CHECK(present.count(id) == 1);
  }
  // Every stored key is usable (no half-written record).
  for (const auto& k : keys)
    CHECK_NOTHROW(alice->gcmEncrypt(k.id, randomBytes(12), {}, bytesOf("x")));
  CHECK(keyd.root()->auditVerify().ok);
}

TEST_CASE("SIGTERM stops keyd cleanly and a stale socket file is replaced") {
  Keyd keyd;
  keyd.stop();  // throws unless the exit status is 0
  CHECK_FALSE(std::filesystem::exists(keyd.socket()));
  // A socket file left behind by a killed keyd does not prevent a start.
  keyd.start();
  keyd.kill9();
  CHECK(std::filesystem::exists(keyd.socket()));
  keyd.start();
  CHECK_NOTHROW(keyd.client()->ping());
  // A second keyd on the same store or socket refuses to start.
  auto second =
      runCommand({keydBinary(), "--store", keyd.store().string(), "--socket", keyd.socket() + "2"});
  CHECK(second.status == 1);
  CHECK(second.err.find("in use by another vhsm-keyd") != std::string::npos);
}

TEST_CASE("every keyd thread blocks the stop signals: SIGTERM always means a clean stop") {
  // A process-directed signal goes to any thread that does not block it; on one that is not
  // waiting for it, SIGTERM's default action ends keyd mid-write. The main thread takes them
  // in sigwait, which unblocks them while it waits.
  Keyd keyd;
  keyd.root()->ping();  // the login's audit record: every thread has started
  size_t threads = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(keyd.pid()) + "/task")) {
    if (task.path().filename() == std::to_string(keyd.pid())) continue;
    std::ifstream status(task.path() / "status");
    std::string line;
    uint64_t blocked = 0;
    while (std::getline(status, line))
      if (line.rfind("SigBlk:", 0) == 0) blocked = std::stoull(line.substr(7), nullptr, 16);
    INFO("thread " << task.path().filename().string());
    CHECK((blocked >> (SIGTERM - 1) & 1) == 1);
    CHECK((blocked >> (SIGINT - 1) & 1) == 1);
    ++threads;
  }
  CHECK(threads >= 5);  // the audit writer and 4 workers
}

TEST_CASE("imported key bytes never reach the store files or keyd's log") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "a-secret-password");
  Bytes hmacKey, aesKey;
  for (int i = 0; i < 32; ++i) {
    hmacKey.push_back(uint8_t(0x10 + i * 3));
    aesKey.push_back(uint8_t(0xc0 ^ (i * 7)));
  }
  alice->keyImport("h", KeyType::HMAC, hmacKey);
  alice->keyImport("a", KeyType::AES, aesKey);
  alice->hmac("h", HashAlgorithm::SHA1, bytesOf("use it"));
  keyd.stop();
  auto scan = [](const std::filesystem::path& file, const Bytes& needle) {
    std::ifstream in(file, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    return std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end(),
                       [](char a, uint8_t b) { return uint8_t(a) == b; }) != bytes.end();
  };
  for (const auto& file : {keyd.store() / "data.mdb", keyd.logFile()}) {
    INFO(file);
    CHECK_FALSE(scan(file, hmacKey));
    CHECK_FALSE(scan(file, Bytes(hmacKey.begin(), hmacKey.begin() + 8)));
    CHECK_FALSE(scan(file, aesKey));
    CHECK_FALSE(scan(file, Bytes(aesKey.begin(), aesKey.begin() + 8)));
    CHECK_FALSE(scan(file, bytesOf("a-secret-password")));
  }
  CHECK(scan(keyd.store() / "data.mdb", bytesOf("alice")));  // the scan works
}
