// The access rules in-process: a Service on a temporary store, sessions made here with the
// identities the transports would give, requests built from the schema. Each rule of
// docs/security-model.md is checked where it decides (service/access.cpp), without a keyd.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <string>

#include "keyd/service/init_store.hpp"
#include "keyd/service/service.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using keyd::Peer;
using keyd::Service;
using keyd::Session;
using Build = std::function<void(proto::Request::Builder)>;

namespace {

const NetnsIdentity kHost{1, 1}, kWeb{2, 2}, kOther{3, 3};

kj::ArrayPtr<const kj::byte> text(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

// One request through the service, as a transport hands it over: its error code.
proto::ErrorCode ask(Service& service, Session& session, const Build& build) {
  capnp::MallocMessageBuilder request, reply;
  build(request.initRoot<proto::Request>());
  service.handle(session, request.getRoot<proto::Request>().asReader(), reply, false);
  return reply.getRoot<proto::Response>().getError();
}

Build login(const std::string& user, const std::string& password) {
  return [=](proto::Request::Builder r) {
    auto l = r.initLogin();
    l.setUser(user);
    l.setPassword(text(password));
  };
}

Build createUser(const std::string& name, bool so, bool read, bool create,
                 const std::string& container = "host") {
  return [=](proto::Request::Builder r) {
    auto u = r.initUserCreate();
    auto info = u.initInfo();
    info.setName(name);
    info.setType(so ? proto::UserType::SO : proto::UserType::USER);
    info.initFlags().setRead(read);
    info.getFlags().setCreate(create);
    info.initContainers(1).set(0, container);
    u.setPassword(text(name + "-pw"));
  };
}

Build generateHmac(const std::string& id) {
  return [=](proto::Request::Builder r) {
    auto k = r.initKeyGenerate();
    k.setId(id);
    k.setType(proto::KeyType::HMAC);
  };
}

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Service> service;
  Fixture() {
    std::string root = "root-pw";
    keyd::initStore(dir.path() / "store", text(root), 1000);
    store = store::Store::open(dir.path() / "store");
    service = std::make_unique<Service>(*store, kHost);
  }
  Session session(NetnsIdentity from = kHost) { return Session(Peer{from, 1, 0}); }
};

}  // namespace

TEST_CASE("access: a request that needs a login is refused before one") {
  Fixture f;
  auto s = f.session();
  CHECK(ask(*f.service, s, [](auto r) { r.setKeyList(); }) == proto::ErrorCode::NOT_LOGGED_IN);
  CHECK(ask(*f.service, s, [](auto r) { r.setUserList(); }) == proto::ErrorCode::NOT_LOGGED_IN);
  CHECK(ask(*f.service, s, [](auto r) { r.setPing(); }) == proto::ErrorCode::OK);
}

TEST_CASE("access: security officers manage users but own no keys; users the reverse") {
  Fixture f;
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, root, generateHmac("k")) == proto::ErrorCode::PERMISSION_DENIED);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true)) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("reader", false, true, false)) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("so2", true, true, true)) == proto::ErrorCode::OK);

  auto alice = f.session();
  REQUIRE(ask(*f.service, alice, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, alice, generateHmac("k")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, alice, [](auto r) { r.setUserList(); }) ==
        proto::ErrorCode::PERMISSION_DENIED);
  // The create flag is what lets a user make keys.
  auto reader = f.session();
  REQUIRE(ask(*f.service, reader, login("reader", "reader-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, reader, generateHmac("k")) == proto::ErrorCode::PERMISSION_DENIED);
  // Only an SO with create_extended (root) makes SOs.
  auto so2 = f.session();
  REQUIRE(ask(*f.service, so2, login("so2", "so2-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, so2, createUser("so3", true, true, false)) ==
        proto::ErrorCode::PERMISSION_DENIED);
  CHECK(ask(*f.service, so2, createUser("bob", false, true, false)) == proto::ErrorCode::OK);
}

TEST_CASE("access: a user is refused from a container it is not bound to, like an unknown one") {
  Fixture f;
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, [](auto r) {
            auto c = r.initContainerAdd();
            c.setName("web");
            c.setNetnsInode(kWeb.inode);
            c.setNetnsCookie(kWeb.cookie);
          }) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true, "web")) ==
          proto::ErrorCode::OK);
  auto fromWeb = f.session(kWeb), fromHost = f.session(kHost), fromOther = f.session(kOther);
  CHECK(ask(*f.service, fromWeb, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, fromHost, login("alice", "alice-pw")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  CHECK(ask(*f.service, fromOther, login("alice", "alice-pw")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  CHECK(ask(*f.service, fromOther, login("nobody", "x")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  // Unbound while logged in: the session's next request is refused.
  REQUIRE(ask(*f.service, root, [](auto r) {
            auto m = r.initUserModify();
            m.setName("alice");
            m.setSetContainers(true);
            m.initContainers(1).set(0, "host");
          }) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, fromWeb, [](auto r) { r.setKeyList(); }) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);
}

TEST_CASE("access: a deleted user's session does not act as a new user of the same name") {
  Fixture f;
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true)) == proto::ErrorCode::OK);
  auto old = f.session();
  REQUIRE(ask(*f.service, old, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, [](auto r) { r.setUserDelete("alice"); }) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true)) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, old, generateHmac("planted")) == proto::ErrorCode::NOT_LOGGED_IN);
}

namespace {

Build bindWeb(std::optional<NetnsIdentity> netns) {
  return [=](proto::Request::Builder r) {
    auto c = r.initContainerAdd();
    c.setName("web");
    c.setBind(true);
    if (netns) {
      c.setNetnsInode(netns->inode);
      c.setNetnsCookie(netns->cookie);
    }
  };
}

}  // namespace

TEST_CASE("access: a container name bound, rebound and unbound follows its namespace only") {
  Fixture f;
  const NetnsIdentity kWebAgain{4, 4};  // the same container restarted: a new namespace
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  // Unbound first, so that a user can be bound to the name before the container runs.
  REQUIRE(ask(*f.service, root, bindWeb(std::nullopt)) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true, "web")) ==
          proto::ErrorCode::OK);
  auto early = f.session(kWeb);
  CHECK(ask(*f.service, early, login("alice", "alice-pw")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);

  REQUIRE(ask(*f.service, root, bindWeb(kWeb)) == proto::ErrorCode::OK);
  auto first = f.session(kWeb);
  REQUIRE(ask(*f.service, first, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  // Restarted: one bind replaces the namespace; a session from the old one ends at once.
  REQUIRE(ask(*f.service, root, bindWeb(kWebAgain)) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, first, generateHmac("k")) == proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  auto second = f.session(kWebAgain);
  REQUIRE(ask(*f.service, second, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  // Stopped: unbound, the name vouches for no namespace, and alice stays bound to it.
  REQUIRE(ask(*f.service, root, bindWeb(std::nullopt)) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, second, generateHmac("k")) == proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  auto lingering = f.session(kWebAgain);
  CHECK(ask(*f.service, lingering, login("alice", "alice-pw")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);

  // Binding is an SO's act, never onto the host's namespace or another container's.
  REQUIRE(ask(*f.service, root, [](auto r) {
            auto c = r.initContainerAdd();
            c.setName("db");
            c.setNetnsInode(kOther.inode);
            c.setNetnsCookie(kOther.cookie);
          }) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, root, bindWeb(kOther)) == proto::ErrorCode::CONTAINER_EXISTS);
  CHECK(ask(*f.service, root, bindWeb(kHost)) == proto::ErrorCode::CONTAINER_EXISTS);
  auto alice = f.session(kWebAgain);
  REQUIRE(ask(*f.service, root, bindWeb(kWebAgain)) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, alice, login("alice", "alice-pw")) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, alice, bindWeb(kWeb)) == proto::ErrorCode::PERMISSION_DENIED);
}

namespace {

Build bindIf(const std::string& name, std::optional<NetnsIdentity> netns, uint64_t expected) {
  return [=](proto::Request::Builder r) {
    auto c = r.initContainerAdd();
    c.setName(name);
    c.setBind(true);
    c.setConditional(true);
    c.setExpectedCookie(expected);
    if (netns) {
      c.setNetnsInode(netns->inode);
      c.setNetnsCookie(netns->cookie);
    }
  };
}

Build unlockFor(const std::string& user, const std::string& container) {
  return [=](proto::Request::Builder r) {
    auto u = r.initUnlock();
    u.setUser(user);
    u.setContainer(container);
    u.setTtlSeconds(3600);
    u.setPassword(text(user + "-pw"));
  };
}

Build loginUnlocked(const std::string& user) {
  return [=](proto::Request::Builder r) { r.initLogin().setUser(user); };
}

}  // namespace

TEST_CASE("access: a conditional bind never takes a name another namespace holds") {
  Fixture f;
  const NetnsIdentity kIntruder{5, 5};
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, bindIf("web", kWeb, 0)) == proto::ErrorCode::OK);
  // A second container with the same annotation: the name is held, by cookie kWeb.cookie.
  CHECK(ask(*f.service, root, bindIf("web", kIntruder, 0)) == proto::ErrorCode::CONTAINER_EXISTS);
  CHECK(ask(*f.service, root, bindIf("web", std::nullopt, kIntruder.cookie)) ==
        proto::ErrorCode::CONTAINER_EXISTS);
  // The holder itself may move it (a restart that missed its poststop) and let it go.
  CHECK(ask(*f.service, root, bindIf("web", kOther, kWeb.cookie)) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, root, bindIf("web", std::nullopt, kOther.cookie)) == proto::ErrorCode::OK);
  CHECK(ask(*f.service, root, bindIf("web", kIntruder, 0)) == proto::ErrorCode::OK);
}

TEST_CASE("access: an unlock ends when its container name names another namespace") {
  Fixture f;
  const NetnsIdentity kNext{5, 5};
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, bindWeb(kWeb)) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true, "web")) ==
          proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, unlockFor("alice", "web")) == proto::ErrorCode::OK);
  auto before = f.session(kWeb);
  CHECK(ask(*f.service, before, loginUnlocked("alice")) == proto::ErrorCode::OK);
  // Whoever the name names next, a restarted container or another claiming it, gets no unlock.
  REQUIRE(ask(*f.service, root, bindWeb(kNext)) == proto::ErrorCode::OK);
  auto after = f.session(kNext);
  CHECK(ask(*f.service, after, loginUnlocked("alice")) == proto::ErrorCode::NOT_UNLOCKED);
}

TEST_CASE("access: a registration from an earlier boot names nothing; keyd's names are its own") {
  Fixture f;
  // Net cookies count from 1 again at every boot: a record of the last boot's (inode, cookie)
  // could be met again by a namespace an attacker makes.
  f.store->write([](store::WriteTxn& t) {
    t.putContainer({"old", kOther.inode, kOther.cookie, "an-earlier-boot"});
  });
  auto root = f.session();
  REQUIRE(ask(*f.service, root, login("root", "root-pw")) == proto::ErrorCode::OK);
  REQUIRE(ask(*f.service, root, createUser("alice", false, true, true, "old")) ==
          proto::ErrorCode::OK);
  auto attacker = f.session(kOther);
  CHECK(ask(*f.service, attacker, login("alice", "alice-pw")) ==
        proto::ErrorCode::CONTAINER_NOT_ALLOWED);
  // Bound again in this boot, it names its namespace.
  REQUIRE(ask(*f.service, root, bindIf("old", kOther, 0)) == proto::ErrorCode::OK);
  auto fresh = f.session(kOther);
  CHECK(ask(*f.service, fresh, login("alice", "alice-pw")) == proto::ErrorCode::OK);

  CHECK(ask(*f.service, root, [](auto r) {
          auto c = r.initContainerAdd();
          c.setName("unregistered-netns-7");
          c.setNetnsInode(7);
          c.setNetnsCookie(7);
        }) == proto::ErrorCode::INVALID_ARGUMENT);
  CHECK(ask(*f.service, root, [](auto r) {
          auto c = r.initContainerAdd();
          c.setName("unregistered-netns-7");
          c.setBind(true);
        }) == proto::ErrorCode::INVALID_ARGUMENT);
}
