// Roles and flags (docs/security-model.md): each allowed and each refused with its specific error.
#include <catch2/catch.hpp>

#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

UserInfo userInfo(const std::string& name, UserFlags flags, bool so = false) {
  UserInfo u;
  u.name = name;
  u.isSo = so;
  u.flags = flags;
  u.containers = {"host"};
  return u;
}

const UserFlags kAll{true, true, true, true, false};

}  // namespace

TEST_CASE("nothing but ping and digests works before login") {
  Keyd keyd;
  auto c = keyd.client();
  CHECK_NOTHROW(c->ping());
  CHECK(refusalOf([&] { c->whoami(); }) == ErrorCode::NOT_LOGGED_IN);
  CHECK(refusalOf([&] { c->keyList(); }) == ErrorCode::NOT_LOGGED_IN);
  CHECK(refusalOf([&] { c->userList(); }) == ErrorCode::NOT_LOGGED_IN);
  CHECK(refusalOf([&] { c->hmac("k", HashAlgorithm::SHA1, bytesOf("x")); }) ==
        ErrorCode::NOT_LOGGED_IN);
}

TEST_CASE("logins: wrong password, unknown user, already logged in") {
  // An unknown user is answered like an existing one not bound to the caller's container:
  // the answer must not tell which user names exist.
  Keyd keyd;
  keyd.newUser("alice", "pw");
  auto c = keyd.client();
  CHECK(refusalOf([&] { c->login("alice", "nope"); }) == ErrorCode::WRONG_PASSWORD);
  CHECK(refusalOf([&] { c->login("nobody", "pw"); }) == ErrorCode::CONTAINER_NOT_ALLOWED);
  CHECK(refusalOf([&] { c->login("bad name", "pw"); }) == ErrorCode::INVALID_ARGUMENT);
  c->login("alice", "pw");
  CHECK(c->whoami().name == "alice");
  CHECK(refusalOf([&] {
          ClientInternals::call(*c, [](proto::Request::Builder r) {
            auto l = r.initLogin();
            l.setUser("root");
            l.setPassword(kj::StringPtr("x").asBytes());
          });
        }) == ErrorCode::ALREADY_LOGGED_IN);
}

TEST_CASE("failed logins are throttled per user and audited") {
  Keyd keyd;
  keyd.newUser("alice", "pw");
  auto c = keyd.client();
  for (int i = 0; i < 3; ++i)
    CHECK(refusalOf([&] { c->login("alice", "nope"); }) == ErrorCode::WRONG_PASSWORD);
  // Throttled now, even with the right password, until the delay has passed.
  try {
    c->login("alice", "pw");
    FAIL("login was not throttled");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::LOGIN_THROTTLED);
    CHECK(e.retryAfterMillis() > 0);
  }
  // Another user is unaffected.
  CHECK_NOTHROW(keyd.root());
  size_t throttled = 0, wrong = 0;
  for (const auto& r : keyd.root()->auditList()) {
    throttled += r.result == ErrorCode::LOGIN_THROTTLED;
    wrong += r.result == ErrorCode::WRONG_PASSWORD;
  }
  CHECK(wrong == 3);
  CHECK(throttled == 1);
}

TEST_CASE("security officers manage users but cannot own or use keys") {
  Keyd keyd;
  auto root = keyd.root();
  CHECK(refusalOf([&] { root->keyGenerate("k", KeyType::HMAC); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { root->keyList(); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { root->hmac("k", HashAlgorithm::SHA1, bytesOf("x")); }) ==
        ErrorCode::PERMISSION_DENIED);
  CHECK_NOTHROW(root->userCreate(userInfo("alice", kAll), "pw"));
  CHECK(refusalOf([&] { root->userCreate(userInfo("alice", kAll), "pw"); }) ==
        ErrorCode::USER_EXISTS);
  CHECK(root->userList().size() == 2);
}

TEST_CASE("an SO's flags limit what it manages; only create_extended makes SOs") {
  Keyd keyd;
  auto root = keyd.root();
  root->userCreate(userInfo("so1", {false, true, false, false, false}, true), "pw");
  auto so1 = keyd.client();
  so1->login("so1", "pw");
  CHECK_NOTHROW(so1->userCreate(userInfo("bob", kAll), "pw"));
  CHECK(refusalOf([&] { so1->userCreate(userInfo("so2", {}, true), "pw"); }) ==
        ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { so1->userDelete("bob"); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { so1->userModify("bob", UserFlags{}, std::nullopt); }) ==
        ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { so1->unlock("bob", "pw", "host", 60); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] {
          root->userCreate(userInfo("x", {false, false, false, false, true}), "pw");
        }) == ErrorCode::INVALID_ARGUMENT);
  CHECK(refusalOf([&] { root->userDelete("root"); }) == ErrorCode::INVALID_ARGUMENT);
}

TEST_CASE("key users need their flags and cannot manage users") {
  Keyd keyd;
  auto reader = keyd.newUser("reader", "pw", {"host"}, {true, false, false, false, false});
  CHECK(refusalOf([&] { reader->keyGenerate("k", KeyType::HMAC); }) ==
        ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { reader->userList(); }) == ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { reader->userCreate(userInfo("x", kAll), "pw"); }) ==
        ErrorCode::PERMISSION_DENIED);
  auto creator = keyd.newUser("creator", "pw", {"host"}, {false, true, false, false, false});
  CHECK_NOTHROW(creator->keyGenerate("k", KeyType::HMAC));
  CHECK(refusalOf([&] { creator->hmac("k", HashAlgorithm::SHA1, bytesOf("x")); }) ==
        ErrorCode::PERMISSION_DENIED);
  CHECK(refusalOf([&] { creator->keyDelete("k"); }) == ErrorCode::PERMISSION_DENIED);
  // Flags granted later take effect on the live session.
  keyd.root()->userModify("creator", UserFlags{true, true, false, true, false}, std::nullopt);
  CHECK_NOTHROW(creator->hmac("k", HashAlgorithm::SHA1, bytesOf("x")));
  CHECK_NOTHROW(creator->keyDelete("k"));
}

TEST_CASE("users cannot see or use each other's keys") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw-a");
  auto bob = keyd.newUser("bob", "pw-b");
  alice->keyGenerate("shared-name", KeyType::HMAC);
  alice->keyGenerate("alice-only", KeyType::HMAC);
  bob->keyGenerate("shared-name", KeyType::HMAC);
  auto data = bytesOf("data");
  CHECK(alice->hmac("shared-name", HashAlgorithm::SHA256, data) !=
        bob->hmac("shared-name", HashAlgorithm::SHA256, data));
  CHECK(refusalOf([&] { bob->hmac("alice-only", HashAlgorithm::SHA256, data); }) ==
        ErrorCode::UNKNOWN_KEY);
  CHECK(refusalOf([&] { bob->keyDelete("alice-only"); }) == ErrorCode::UNKNOWN_KEY);
  CHECK(bob->keyList().size() == 1);
  CHECK(alice->keyList().size() == 2);
}

TEST_CASE("a deleted key or user stops working at once on live sessions") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto other = keyd.client();
  other->login("alice", "pw");
  alice->keyGenerate("k", KeyType::HMAC);
  auto data = bytesOf("x");
  CHECK_NOTHROW(other->hmac("k", HashAlgorithm::SHA1, data));  // now cached in that session
  alice->keyDelete("k");
  CHECK(refusalOf([&] { other->hmac("k", HashAlgorithm::SHA1, data); }) == ErrorCode::UNKNOWN_KEY);
  keyd.root()->userDelete("alice");
  CHECK(refusalOf([&] { other->keyList(); }) != ErrorCode::OK);
}

TEST_CASE("passwords change for oneself and, with the old one, by an SO") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "old");
  alice->keyGenerate("k", KeyType::HMAC);
  auto before = alice->hmac("k", HashAlgorithm::SHA1, bytesOf("x"));
  CHECK(refusalOf([&] { alice->userPasswd("alice", "wrong", "new"); }) ==
        ErrorCode::WRONG_PASSWORD);
  alice->userPasswd("alice", "old", "new");
  auto fresh = keyd.client();
  CHECK(refusalOf([&] { fresh->login("alice", "old"); }) == ErrorCode::WRONG_PASSWORD);
  fresh->login("alice", "new");
  CHECK(fresh->hmac("k", HashAlgorithm::SHA1, bytesOf("x")) == before);  // keys survive
  keyd.root()->userPasswd("alice", "new", "newer");
  auto third = keyd.client();
  CHECK_NOTHROW(third->login("alice", "newer"));
  CHECK(refusalOf([&] { third->userPasswd("root", "x", "y"); }) == ErrorCode::PERMISSION_DENIED);
}

TEST_CASE("every management operation and refusal is audited in a verifying chain") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  alice->keyGenerate("k", KeyType::HMAC);
  refusalOf([&] { alice->keyGenerate("k", KeyType::HMAC); });
  alice->keyDelete("k");
  auto root = keyd.root();
  auto records = root->auditList();
  std::vector<std::string> actions;
  for (const auto& r : records) actions.push_back(r.action + ":" + errorName(r.result));
  auto has = [&](const std::string& a) {
    return std::find(actions.begin(), actions.end(), a) != actions.end();
  };
  CHECK(has("init:ok"));
  CHECK(has("userCreate:ok"));
  CHECK(has("keyGenerate:ok"));
  CHECK(has("keyGenerate:keyExists"));
  CHECK(has("keyDelete:ok"));
  auto verdict = root->auditVerify();
  CHECK(verdict.ok);
  CHECK(verdict.records == records.size());
  CHECK(refusalOf([&] { alice->auditList(); }) == ErrorCode::PERMISSION_DENIED);
}

TEST_CASE("logins, recorded after their replies, keep the order keyd answered and outlive a stop") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");  // the first login
  alice->keyGenerate("k", KeyType::HMAC);
  std::vector<std::unique_ptr<Client>> sessions;
  for (int i = 0; i < 20; ++i) {
    sessions.push_back(keyd.client());
    sessions.back()->login("alice", "pw");
  }
  keyd.stop();  // at once: records still queued are written on the way out
  keyd.start();
  auto root = keyd.root();
  auto records = root->auditList();
  std::vector<size_t> logins;
  size_t generated = records.size();
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.action == "login" && r.target == "alice" && r.result == ErrorCode::OK)
      logins.push_back(i);
    if (r.action == "keyGenerate" && r.target == "k") generated = i;
  }
  REQUIRE(logins.size() == 21);
  CHECK(logins.front() < generated);
  CHECK(generated < logins[1]);
  CHECK(root->auditVerify().ok);
}
