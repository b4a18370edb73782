// Container binding (docs/security-model.md) with real network namespaces: a user bound to
// container A works from A, is refused from B and from the host, whatever its password; unlock lets
// A use the user's keys with no password at all. Needs root (CI runs as root).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "protocol/frame.hpp"
#include "tests/integration/helpers.hpp"
#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::test;

TEST_CASE("a user bound to container A works from A only") {
  Keyd keyd;
  auto root = keyd.root();
  std::string socket = keyd.socket();
  auto useKeys = [&](const std::string& password) {
    return outcome([&] {
      auto c = clientAt(socket);
      c->login("alice", password);
      c->keyGenerate("k" + std::to_string(getpid()), KeyType::HMAC);
      c->hmac("k" + std::to_string(getpid()), HashAlgorithm::SHA256, bytesOf("from A"));
    });
  };

  CHECK(inNewNetns([&] { return useKeys("pw"); },
                   [&](pid_t child) {
                     root->containerAdd("web", netnsOf(child));
                     root->userCreate(keyUser("alice", {"web"}), "pw");
                   }) == 0);

  // From the host: refused for the container, even with the right password, and audited.
  auto host = keyd.client();
  CHECK(refusalOf([&] { host->login("alice", "pw"); }) == ErrorCode::CONTAINER_NOT_ALLOWED);
  bool audited = false;
  for (const auto& r : root->auditList())
    audited |= r.action == "login" && r.result == ErrorCode::CONTAINER_NOT_ALLOWED &&
               r.container == "host" && r.target == "alice";
  CHECK(audited);

  // From another, unregistered namespace B: refused before any password is tried.
  CHECK(inNewNetns([&] { return useKeys("pw"); }) == refused(ErrorCode::CONTAINER_NOT_ALLOWED));
  CHECK(inNewNetns([&] { return useKeys("wrong"); }) == refused(ErrorCode::CONTAINER_NOT_ALLOWED));

  // From B registered under another name: still refused.
  CHECK(inNewNetns([&] { return useKeys("pw"); },
                   [&](pid_t child) { root->containerAdd("db", netnsOf(child)); }) ==
        refused(ErrorCode::CONTAINER_NOT_ALLOWED));
}

// What a PKCS#11 module lists as its slots: keyd names the key users bound to the asking
// process's own container, and no one else's.
TEST_CASE("a container learns the key users bound to it, and only those") {
  Keyd keyd;
  auto root = keyd.root();
  std::string socket = keyd.socket();
  root->userCreate(keyUser("carol", {"host"}), "pw");
  auto namesFrom = [&](const std::vector<std::string>& expected) {
    return [&, expected] {
      auto names = clientAt(socket)->boundUsers();  // no login
      return names == expected ? 0 : 1;
    };
  };
  CHECK(inNewNetns(namesFrom({"alice", "bob"}), [&](pid_t child) {
          root->containerAdd("web", netnsOf(child));
          root->userCreate(keyUser("bob", {"host", "web"}), "pw");
          root->userCreate(keyUser("alice", {"web"}), "pw");
          root->userCreate({"officer", true, {true, false, false, false, false}, {"web"}}, "pw");
        }) == 0);
  CHECK(inNewNetns(namesFrom({})) == 0);  // unregistered: nothing
  CHECK(keyd.client()->boundUsers() == std::vector<std::string>{"bob", "carol"});
}

// keyd holds a namespace open while it has connections from it (so that its inode, which
// identifies the next connection from it, cannot name another namespace meanwhile) — and only
// while: a container that is gone must not be kept alive by keyd.
TEST_CASE("a container's further connections are identified too, and keyd lets it go after") {
  Keyd keyd;
  auto root = keyd.root();
  std::string socket = keyd.socket();
  pid_t keydPid = keyd.pid();
  int rc = inNewNetns(
      [&] {
        auto link = "net:[" + std::to_string(netnsOf(getpid()).inode) + "]";
        auto heldByKeyd = [&] {
          int n = 0;
          for (const auto& fd :
               std::filesystem::directory_iterator("/proc/" + std::to_string(keydPid) + "/fd")) {
            std::error_code ec;
            n += std::filesystem::read_symlink(fd.path(), ec).string() == link;
          }
          return n;
        };
        int result = 0;
        {
          auto first = clientAt(socket), second = clientAt(socket);
          if (outcome([&] { first->login("alice", "pw"); }) != 0) result |= 1;
          if (outcome([&] { second->login("alice", "pw"); }) != 0) result |= 2;
          if (heldByKeyd() != 1) result |= 4;
        }
        bool released = false;
        for (int i = 0; i < 100 && !released; ++i) {
          released = heldByKeyd() == 0;
          if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!released) result |= 8;
        return result;
      },
      [&](pid_t child) {
        root->containerAdd("web", netnsOf(child));
        root->userCreate(keyUser("alice", {"web"}), "pw");
      });
  CHECK(rc == 0);
  // The host is still the host, while and after.
  CHECK(refusalOf([&] { keyd.client()->login("alice", "pw"); }) ==
        ErrorCode::CONTAINER_NOT_ALLOWED);
}

TEST_CASE("a client that forges the header's container identity is still seen as itself") {
  Keyd keyd;
  auto root = keyd.root();
  root->userCreate(keyUser("hostuser", {"host"}), "pw");
  auto hostNetns = proto::netnsIdentity("/proc/self/ns/net");
  std::string socket = keyd.socket();
  int rc = inNewNetns([&] {
    capnp::MallocMessageBuilder m;
    auto login = m.initRoot<proto::Request>().initLogin();
    login.setUser("hostuser");
    login.setPassword(kj::StringPtr("pw").asBytes());
    proto::FrameHeader header;
    header.requestId = 1;
    header.containerId = hostNetns.cookie;  // claims to be the host
    header.clientPort = 1;
    proto::OutgoingFrame frame(header, m);
    Bytes raw;
    for (auto piece : frame.pieces())
      raw.insert(raw.end(), reinterpret_cast<const uint8_t*>(piece.data()),
                 reinterpret_cast<const uint8_t*>(piece.data()) + piece.size());
    auto reply = clientAt(socket)->exchangeRaw(raw);
    kj::Array<capnp::word> words =
        kj::heapArray<capnp::word>((reply.size() - proto::kHeaderSize) / 8);
    memcpy(words.begin(), reply.data() + proto::kHeaderSize, words.size() * 8);
    auto message = proto::openMessage(words);
    return 10 + int(message->getRoot<proto::Response>().getError());
  });
  CHECK(rc == refused(ErrorCode::CONTAINER_NOT_ALLOWED));
}

TEST_CASE("unlock lets the bound container use keys with no password; lock ends it") {
  Keyd keyd;
  auto root = keyd.root();
  std::string socket = keyd.socket();
  auto data = bytesOf("message");

  auto owner = keyd.newUser("carol", "carol-pw", {"host"});
  owner->keyImport("k", KeyType::HMAC, bytesOf("0123456789abcdef0123456789abcdef"));
  Bytes expected = owner->hmac("k", HashAlgorithm::SHA256, data);

  // Child and parent take turns: the child reports each step's outcome, the parent acts.
  int toParent[2], toChild[2];
  REQUIRE(pipe(toParent) == 0);
  REQUIRE(pipe(toChild) == 0);
  auto report = [&](int value) {
    char c = char(value);
    return write(toParent[1], &c, 1) == 1;
  };
  auto awaitTurn = [&] {
    char c;
    return read(toChild[0], &c, 1) == 1;
  };
  int childRc = -1;
  pid_t childPid = 0;
  std::thread child([&] {
    childRc = inNewNetns(
        [&] {
          auto c = clientAt(socket);
          report(outcome([&] { c->login("carol", ""); }));  // 1: not unlocked yet
          awaitTurn();
          report(outcome([&] {  // 2: unlocked
            c->login("carol", "");
            if (c->hmac("k", HashAlgorithm::SHA256, data) != expected)
              throw std::runtime_error("wrong MAC");
          }));
          awaitTurn();
          report(outcome([&] { c->hmac("k", HashAlgorithm::SHA256, data); }));  // 3: locked
          return 0;
        },
        [&](pid_t pid) {
          childPid = pid;
          root->containerAdd("app", netnsOf(pid));
          root->userModify("carol", std::nullopt, std::vector<std::string>{"host", "app"});
        });
  });
  auto next = [&] {
    char c = 0;
    return read(toParent[0], &c, 1) == 1 ? int(c) : -1;
  };
  CHECK(next() == refused(ErrorCode::NOT_UNLOCKED));
  CHECK(refusalOf([&] { root->unlock("carol", "wrong", "app", 60); }) == ErrorCode::WRONG_PASSWORD);
  CHECK(refusalOf([&] { root->unlock("carol", "carol-pw", "nowhere", 60); }) ==
        ErrorCode::UNKNOWN_CONTAINER);
  root->unlock("carol", "carol-pw", "app", 60);
  REQUIRE(write(toChild[1], "g", 1) == 1);
  CHECK(next() == 0);
  // Unlocked for "app" only: the host still needs the password.
  CHECK(refusalOf([&] { keyd.client()->login("carol", ""); }) == ErrorCode::NOT_UNLOCKED);
  root->lock("carol", "app");
  REQUIRE(write(toChild[1], "g", 1) == 1);
  CHECK(next() == refused(ErrorCode::NOT_UNLOCKED));  // the live session ended with the unlock
  child.join();
  CHECK(childRc == 0);
  for (int fd : {toParent[0], toParent[1], toChild[0], toChild[1]}) close(fd);
}

TEST_CASE("container names and identities are unique and host is built in") {
  Keyd keyd;
  auto root = keyd.root();
  auto self = proto::netnsIdentity("/proc/self/ns/net");
  CHECK(self.cookie != 0);
  CHECK(refusalOf([&] { root->containerAdd("host", {12345, 0}); }) == ErrorCode::CONTAINER_EXISTS);
  CHECK(refusalOf([&] { root->containerAdd("again", self); }) == ErrorCode::CONTAINER_EXISTS);
  CHECK(refusalOf([&] { root->containerAdd("none", {0, 0}); }) == ErrorCode::INVALID_ARGUMENT);
  // An inode alone may name a later namespace: a registration without a cookie is refused.
  CHECK(refusalOf([&] { root->containerAdd("c0", {4242, 0}); }) == ErrorCode::INVALID_ARGUMENT);
  CHECK_NOTHROW(root->containerAdd("c1", {4242, 7}));
  CHECK(refusalOf([&] { root->containerAdd("c2", {4242, 7}); }) == ErrorCode::CONTAINER_EXISTS);
  auto list = root->containerList();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "host");
  CHECK(list[0].netns.inode == self.inode);
  CHECK(refusalOf([&] { root->containerRemove("nope"); }) == ErrorCode::UNKNOWN_CONTAINER);
  CHECK_NOTHROW(root->containerRemove("c1"));
}
