// The isolation holes of the security review, each played as the attacker would: a fresh
// namespace, another local uid, a recycled user name, racing threads. Every case failed against
// the keyd before the fix it names.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "protocol/frame.hpp"
#include "protocol/identity.hpp"
#include "store/store.hpp"
#include "tests/integration/helpers.hpp"
#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::test;
using namespace std::string_literals;

namespace {

constexpr uid_t kNobody = 65534;

// Runs body in a child as uid/gid 65534 (optionally in new user and network namespaces, as
// `unshare -Urn` would make them); returns its exit code.
int asNobody(const std::function<int()>& body, bool ownNamespaces = false) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(200);
    if (ownNamespaces && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) _exit(201);
    int rc = 202;
    try {
      rc = body();
    } catch (...) {
    }
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("namespace identity: an inode alone never names a container") {
  // The kernel hands a dead namespace's inode to the next one made: a registration without
  // the cookie would pass to it.
  CHECK_FALSE(proto::sameNamespace({4026532000, 0}, {4026532000, 77}));
  CHECK_FALSE(proto::sameNamespace({4026532000, 0}, {4026532000, 0}));
  CHECK_FALSE(proto::sameNamespace({4026532000, 76}, {4026532000, 77}));
  CHECK(proto::sameNamespace({4026532000, 77}, {4026532000, 77}));

  Keyd keyd;
  auto root = keyd.root();
  CHECK(refusalOf([&] {
          root->containerAdd("web", {4026532000, 0});
        }) == ErrorCode::INVALID_ARGUMENT);
}

TEST_CASE("keyd reads a registration's namespace itself whatever the admin tool may read") {
  Keyd keyd(1000, Keyd::MemoryLocking::inherited, {"--socket-mode", "0666"});
  auto root = keyd.root();
  root->userCreate(keyUser("so2", {"host"}), "so2-pw");
  // vhsm-admin run by a user who cannot open other processes' namespaces (uid 65534): it
  // used to store cookie 0; now keyd resolves the pid itself.
  int ready[2], done[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(done) == 0);
  pid_t target = fork();
  if (target == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
    [[maybe_unused]] auto w = write(ready[1], &c, 1);
    [[maybe_unused]] auto r = read(done[0], &c, 1);
    _exit(0);
  }
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  auto expected = netnsOf(target);
  TempDir dir;
  auto pw = (dir.path() / "pw").string();
  std::ofstream(pw) << Keyd::kRootPassword << "\n";
  chmod(dir.path().c_str(), 0755);
  chmod(pw.c_str(), 0644);
  int rc = asNobody([&] {
    auto r = runCommand({adminBinary(), "--socket", keyd.socket(), "--password-file", pw,
                         "container", "add", "web", "--pid", std::to_string(target)});
    return r.status;
  });
  // The same namespace through its file: keyd pins it to the same identity, so it is taken.
  auto again = refusalOf(
      [&] { root->containerAddPath("web2", "/proc/" + std::to_string(target) + "/ns/net"); });
  [[maybe_unused]] auto w = write(done[1], "g", 1);
  waitpid(target, nullptr, 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);
  CHECK(rc == 0);
  CHECK(again == ErrorCode::CONTAINER_EXISTS);
  bool found = false;
  for (const auto& entry : root->containerList())
    if (entry.name == "web") {
      found = true;
      CHECK(entry.netns == expected);
      CHECK(entry.netns.cookie != 0);
    }
  CHECK(found);
  // A path that is not a namespace file is refused before keyd reads from it.
  CHECK(refusalOf([&] { root->containerAddPath("fifo", "/dev/null"); }) ==
        ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { root->containerAddPath("rel", "run/netns/x"); }) ==
        ErrorCode::INVALID_ARGUMENT);
}

TEST_CASE("host is never keyd's own namespace by default") {
  // keyd started in a namespace of its own with no --host-netns: processes sharing keyd's
  // namespace used to become "host" whenever pid 1's namespace could not be read.
  TempDir dir;
  auto store = (dir.path() / "store").string(), socket = (dir.path() / "keyd.sock").string();
  REQUIRE(runCommand({keydBinary(), "--init", "--store", store, "--kdf-iterations", "1000"},
                     Keyd::kRootPassword)
              .status == 0);
  int toChild[2];
  REQUIRE(pipe(toChild) == 0);
  pid_t keyd = fork();
  if (keyd == 0) {
    int log = open((dir.path() / "keyd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 2);
    if (unshare(CLONE_NEWNET) != 0) _exit(200);
    execl(keydBinary().c_str(), keydBinary().c_str(), "--store", store.c_str(), "--socket",
          socket.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int rc = 99;
  for (int i = 0; i < 300 && rc == 99; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // A client inside keyd's own namespace.
    pid_t child = fork();
    if (child == 0) {
      int ns = open(("/proc/" + std::to_string(keyd) + "/ns/net").c_str(), O_RDONLY);
      if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(98);
      _exit(outcome([&] { clientAt(socket)->login("root", Keyd::kRootPassword); }));
    }
    int status = 0;
    waitpid(child, &status, 0);
    rc = WEXITSTATUS(status);
  }
  kill(keyd, SIGTERM);
  waitpid(keyd, nullptr, 0);
  close(toChild[0]);
  close(toChild[1]);
  CHECK(rc == refused(ErrorCode::CONTAINER_NOT_ALLOWED));
  std::stringstream log;
  log << std::ifstream(dir.path() / "keyd.log").rdbuf();
  // Either pid 1's namespace (not keyd's) is the host, or the host is disabled, and it says so.
  bool named = log.str().find("container host is the network namespace at /proc/1/ns/net") !=
               std::string::npos;
  bool disabled = log.str().find("container host is disabled") != std::string::npos;
  CHECK((named || disabled));

  // A path the operator names must work: keyd does not start on one it cannot read.
  auto r = runCommand(
      {keydBinary(), "--store", store, "--socket", socket + "2", "--host-netns", "/nonexistent"});
  CHECK(r.status != 0);
  CHECK(r.err.find("--host-netns /nonexistent") != std::string::npos);
}

TEST_CASE("a deleted user's session never acts as a new user of the same name") {
  Keyd keyd;
  auto root = keyd.root();
  auto old = keyd.newUser("alice", "pw");
  old->keyGenerate("k1", KeyType::HMAC);
  root->userDelete("alice");
  root->userCreate(keyUser("alice", {"host"}), "pw");
  // The old session may neither list nor plant keys of the new alice.
  CHECK(refusalOf([&] { old->keyList(); }) == ErrorCode::NOT_LOGGED_IN);
  CHECK(refusalOf([&] { old->keyGenerate("planted", KeyType::HMAC); }) == ErrorCode::NOT_LOGGED_IN);
  auto fresh = keyd.client();
  fresh->login("alice", "pw");
  CHECK(fresh->keyList().empty());
  // The same for security officers.
  root->userCreate(
      [] {
        UserInfo so;
        so.name = "so2";
        so.isSo = true;
        so.flags = {true, true, true, true, false};
        so.containers = {"host"};
        return so;
      }(),
      "so2-pw");
  auto so2 = keyd.client();
  so2->login("so2", "so2-pw");
  root->userDelete("so2");
  UserInfo again = keyUser("so2", {"host"});
  root->userCreate(again, "so2-pw");
  CHECK(refusalOf([&] { so2->userList(); }) == ErrorCode::NOT_LOGGED_IN);
}

TEST_CASE("an unlock ends when the user is unbound from its container or changes password") {
  Keyd keyd;
  auto root = keyd.root();
  root->userCreate(keyUser("alice", {"host"}), "pw");
  auto passwordless = [&] { return outcome([&] { keyd.client()->login("alice", ""); }); };

  root->unlock("alice", "pw", "host", 600);
  CHECK(passwordless() == 0);
  root->containerAdd("other", {4026532000, 5});
  root->userModify("alice", std::nullopt, std::vector<std::string>{"other"});
  root->userModify("alice", std::nullopt, std::vector<std::string>{"host"});
  CHECK(passwordless() == refused(ErrorCode::NOT_UNLOCKED));

  root->unlock("alice", "pw", "host", 600);
  CHECK(passwordless() == 0);
  root->userPasswd("alice", "pw", "new-pw");
  CHECK(passwordless() == refused(ErrorCode::NOT_UNLOCKED));
}

TEST_CASE("concurrent wrong passwords cannot outrun the login throttle") {
  // A slow PBKDF2 (as in production) gives racing guesses time to pass the check together.
  Keyd keyd(100000);
  keyd.root()->userCreate(keyUser("alice", {"host"}), "pw");
  std::atomic<int> wrong{0}, throttled{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto c = keyd.client();
      auto code = refusalOf([&] { c->login("alice", "guess"); });
      if (code == ErrorCode::WRONG_PASSWORD) ++wrong;
      if (code == ErrorCode::LOGIN_THROTTLED) ++throttled;
    });
  for (auto& t : threads) t.join();
  // Three failures are free; every further attempt waits for the delay the third imposed.
  CHECK(wrong.load() <= 3);
  CHECK(wrong.load() + throttled.load() == 8);
}

TEST_CASE("another local user cannot throttle root's login nor reach a default socket") {
  {
    Keyd keyd;  // the default mode: 0660, keyd's group
    struct stat st;
    REQUIRE(stat(keyd.socket().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    chmod(std::filesystem::path(keyd.socket()).parent_path().c_str(), 0755);
    CHECK(asNobody([&] { return outcome([&] { keyd.client()->ping(); }); }) == 99);
  }
  Keyd keyd(1000, Keyd::MemoryLocking::inherited, {"--socket-mode", "0666"});
  chmod(std::filesystem::path(keyd.socket()).parent_path().c_str(), 0755);
  // uid 65534, on the host and from namespaces of its own, guesses root's password.
  for (bool ownNamespaces : {false, true}) {
    int rc = asNobody(
        [&] {
          int last = 0;
          for (int i = 0; i < 5; ++i)
            last = outcome([&] { keyd.client()->login("root", "guess"); });
          return last;
        },
        ownNamespaces);
    CHECK(rc != 0);
  }
  // root, a different uid, is not slowed by them.
  CHECK(outcome([&] { keyd.root(); }) == 0);
}

TEST_CASE("an edited key usage field permits nothing and crashes nothing") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("h1", KeyType::HMAC);
  keyd.stop();
  // The usage field is outside the wrap's authentication: an edit to "encrypt" or to "sign"
  // (which once reached a signer that an HMAC key does not have, and crashed keyd).
  for (uint32_t forged : {2u, 4u, 7u}) {
    {
      auto store = store::Store::open(keyd.store());
      store->write([&](store::WriteTxn& txn) {
        auto key = txn.key("alice", "h1");
        REQUIRE(key);
        key->usage = forged;
        txn.putKey(*key, true);
      });
    }
    keyd.start();
    auto c = keyd.client();
    c->login("alice", "pw");
    CHECK(refusalOf([&] { c->gcmEncrypt("h1", Bytes(12, 1), {}, bytesOf("x")); }) ==
          ErrorCode::USAGE_NOT_PERMITTED);
    CHECK(refusalOf([&] { c->sign("h1", {}, bytesOf("x")); }) == ErrorCode::USAGE_NOT_PERMITTED);
    CHECK(c->keyInfo("h1").usage == KeyUsage::MAC);
    CHECK_NOTHROW(c->hmac("h1", HashAlgorithm::SHA256, bytesOf("x")));
    keyd.stop();
  }
  keyd.start();
}

TEST_CASE("client text in refusals is bounded before it reaches the audit chain") {
  Keyd keyd;
  auto root = keyd.root();
  auto size = [&] { return std::filesystem::file_size(keyd.store() / "data.mdb"); };
  auto before = size();
  std::string huge(400000, 'x');
  huge[10] = '\n';
  for (int i = 0; i < 25; ++i)
    CHECK(refusalOf([&] { keyd.client()->login(huge, "pw"); }) == ErrorCode::INVALID_ARGUMENT);
  // 25 x 400 KB used to grow the store by 8 MB and make `audit list` fail with frameTooLarge.
  CHECK(size() - before < 1024 * 1024);
  auto records = root->auditList(0, 0);
  REQUIRE_FALSE(records.empty());
  bool seen = false;
  for (const auto& r : records)
    if (r.action == "login" && r.result == ErrorCode::INVALID_ARGUMENT) {
      seen = true;
      CHECK(r.target.size() < 100);
      CHECK(r.target.find('\n') == std::string::npos);
      CHECK(r.target.find("400000 bytes") != std::string::npos);
    }
  CHECK(seen);
  auto listed = runCommand({adminBinary(), "--socket", keyd.socket(), "audit", "list"}, "",
                           {"VHSM_PASSWORD="s + Keyd::kRootPassword});
  CHECK(listed.status == 0);
  auto verified = runCommand({adminBinary(), "--socket", keyd.socket(), "audit", "verify"}, "",
                             {"VHSM_PASSWORD="s + Keyd::kRootPassword});
  CHECK(verified.out.find("audit records only") != std::string::npos);
}

namespace {

// One byte with room for one descriptor (SCM_RIGHTS), to send or to receive into.
struct FdMessage {
  char byte = 'f';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
};

void passFd(int via, int fd) {
  FdMessage m;
  cmsghdr* h = CMSG_FIRSTHDR(&m.msg);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(h), &fd, sizeof fd);
  [[maybe_unused]] auto n = sendmsg(via, &m.msg, 0);
}

int receiveFd(int via) {
  FdMessage m;
  if (recvmsg(via, &m.msg, 0) != 1) return -1;
  int fd = -1;
  if (cmsghdr* h = CMSG_FIRSTHDR(&m.msg)) std::memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

// A login request for root as one raw frame; returns the reply's error code (or -1 when keyd
// closed the connection).
int rawLogin(int fd, const std::string& password) {
  capnp::MallocMessageBuilder message;
  auto login = message.initRoot<proto::Request>().initLogin();
  login.setUser("root");
  login.setPassword(kj::StringPtr(password.c_str()).asBytes());
  auto frame = frameOf(message, 7);
  if (send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) < 0) return -1;
  std::vector<std::byte> reply(proto::kMaxFrame);
  ssize_t n = recv(fd, reply.data(), reply.size(), 0);
  if (n <= 0) return -1;
  auto payload = std::span(reply).subspan(proto::kHeaderSize, size_t(n) - proto::kHeaderSize);
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(payload.data()),
                                        payload.size() / sizeof(capnp::word));
  return int(proto::openMessage(words)->getRoot<proto::Response>().getError());
}

}  // namespace

// [serial]: it steers the next pid, which a test forking beside it would take.
TEST_CASE("a connection whose process exited before keyd accepted it is never the host",
          "[serial]") {
  // The attack: connect from an unregistered namespace, hand the socket on, exit, and have a
  // host process get the pid before keyd accepts; keyd then read the host's namespace for it.
  Keyd keyd;
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  kill(keyd.pid(), SIGSTOP);  // keyd accepts nothing until the stage is set
  pid_t connector = fork();
  if (connector == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(1);
    int fd = rawConnect(keyd.socket());
    if (fd < 0) _exit(2);
    passFd(pair[1], fd);
    _exit(0);
  }
  int fd = receiveFd(pair[0]);
  waitpid(connector, nullptr, 0);
  // A host process takes the connector's pid: the kernel hands out ns_last_pid + 1 next.
  pid_t impostor = -1;
  for (int attempt = 0; attempt < 20 && impostor != connector; ++attempt) {
    if (impostor > 0) {
      kill(impostor, SIGKILL);
      waitpid(impostor, nullptr, 0);
    }
    std::ofstream("/proc/sys/kernel/ns_last_pid") << connector - 1;
    impostor = fork();
    if (impostor == 0) {
      pause();
      _exit(0);
    }
  }
  kill(keyd.pid(), SIGCONT);
  bool recycled = impostor == connector;
  if (!recycled && impostor > 0) {  // a paused copy of this test would hold ctest's pipe
    kill(impostor, SIGKILL);
    waitpid(impostor, nullptr, 0);
  }
  REQUIRE(recycled);
  REQUIRE(fd >= 0);
  int code = rawLogin(fd, Keyd::kRootPassword);
  kill(impostor, SIGKILL);
  waitpid(impostor, nullptr, 0);
  close(fd);
  close(pair[0]);
  close(pair[1]);
  // Refused outright (the connection closed) — never logged in as root from "host".
  CHECK(code != int(ErrorCode::OK));
  CHECK(code != int(ErrorCode::LOGIN_THROTTLED));
}

TEST_CASE("connections that never log in or never read are closed after the login timeout") {
  Keyd keyd(1000, Keyd::MemoryLocking::inherited, {"--login-timeout", "1"});
  auto idle = keyd.client();
  idle->ping();
  auto active = keyd.root();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK_NOTHROW(active->whoami());  // logged in: kept
  // The idle one was closed; the client reconnects on its next call, so ask the raw socket.
  int fd = rawConnect(keyd.socket());
  REQUIRE(fd >= 0);
  pollfd p{fd, POLLIN, 0};
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    char b;
    closed = poll(&p, 1, 100) > 0 && recv(fd, &b, 1, MSG_DONTWAIT) == 0;
  }
  CHECK(closed);
  close(fd);
}

TEST_CASE("one local uid cannot take the host's connections") {
  Keyd keyd(1000, Keyd::MemoryLocking::inherited, {"--socket-mode", "0666"});
  chmod(std::filesystem::path(keyd.socket()).parent_path().c_str(), 0755);
  int held = asNobody([&] {
    // uid 65534 stays in the host's namespace, so it counts as container host.
    int open = connectionsKept(keyd.socket(), 200);
    // root logs in meanwhile (this child still holds its connections).
    return std::min(open, 250);
  });
  CHECK(held <= 64);
  CHECK(held > 0);
  CHECK(outcome([&] { keyd.root(); }) == 0);
}

TEST_CASE("a logged-in client that never reads its replies is closed after the timeout") {
  Keyd keyd(1000, Keyd::MemoryLocking::inherited, {"--login-timeout", "1"});
  int fd = rawConnect(keyd.socket());
  REQUIRE(fd >= 0);
  REQUIRE(rawLogin(fd, Keyd::kRootPassword) == int(ErrorCode::OK));
  // Requests without end, no reply read: keyd's send buffer fills, then it stops reading.
  auto ping = pingFrame();
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(15)) {
    if (send(fd, ping.data(), ping.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EPIPE)
      closed = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(closed);
  close(fd);
}

TEST_CASE("a registered container holds at most its own 256 connections; others keep theirs") {
  Keyd keyd;
  auto root = keyd.root();
  root->userCreate(keyUser("alice", {"host"}), "alice-pw");
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(go) == 0);
  int hostOutcome = -1;
  std::thread host([&] {
    char c;
    if (read(ready[0], &c, 1) != 1) return;
    // While the container holds everything it can: the host and its users still get in.
    hostOutcome = outcome([&] {
      keyd.root()->whoami();
      auto alice = keyd.client();
      alice->login("alice", "alice-pw");
      alice->whoami();
    });
    [[maybe_unused]] auto n = write(go[1], "g", 1);
  });
  int code = inNewNetns(
      [&] {
        int open = connectionsKept(keyd.socket(), 320);
        [[maybe_unused]] auto n = write(ready[1], "r", 1);
        char c;
        n = read(go[0], &c, 1);
        return open == 256 ? 0 : open < 256 ? 1 : 2;
      },
      [&](pid_t child) { root->containerAdd("web", netnsOf(child)); });
  host.join();
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
  CHECK(code == 0);  // exactly its share: 256 held, the rest closed
  CHECK(hostOutcome == 0);
}
