// The authorisation rules as one table: every request type × {not logged in, wrong password,
// key user, SO, root} × each flag set, from the container the user is bound to, gets exactly
// the expected outcome; and logins × {bound, other registered, unregistered, host} containers.
// The expectation is written here from docs/security-model.md, independently of keyd's code.
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <sstream>

#include "tests/integration/refusal_of.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

enum class Role { none, wrongPassword, user, so, root };
enum Need { kAnyone, kLogin, kUser, kSo };

struct Actor {
  Role role;
  UserFlags flags;
  std::string name;
};

// What a request needs (docs/security-model.md): nothing, a login, a key user with a flag, or an SO
// with one.
struct RequestRow {
  const char* name;
  Need need;
  bool UserFlags::*flag;  // nullptr: no flag
  std::function<void(Client&, const std::string& actor)> call;
};

std::string describe(const UserFlags& f) {
  std::string s;
  if (f.read) s += "r";
  if (f.create) s += "c";
  if (f.modify) s += "m";
  if (f.remove) s += "d";
  if (f.createExtended) s += "x";
  return s.empty() ? "-" : s;
}

ErrorCode expected(const Actor& a, const RequestRow& r) {
  bool loggedIn = a.role == Role::user || a.role == Role::so || a.role == Role::root;
  bool isSo = a.role == Role::so || a.role == Role::root;
  switch (r.need) {
    case kAnyone: return ErrorCode::OK;
    case kLogin: return loggedIn ? ErrorCode::OK : ErrorCode::NOT_LOGGED_IN;
    case kUser:
      if (!loggedIn) return ErrorCode::NOT_LOGGED_IN;
      if (isSo) return ErrorCode::PERMISSION_DENIED;  // SOs never own or use keys
      return !r.flag || a.flags.*(r.flag) ? ErrorCode::OK : ErrorCode::PERMISSION_DENIED;
    case kSo:
      if (!loggedIn) return ErrorCode::NOT_LOGGED_IN;
      if (!isSo) return ErrorCode::PERMISSION_DENIED;
      return !r.flag || a.flags.*(r.flag) ? ErrorCode::OK : ErrorCode::PERMISSION_DENIED;
  }
  return ErrorCode::INTERNAL_ERROR;
}

const UserFlags kFlagSets[] = {
    {false, false, false, false, false}, {true, false, false, false, false},
    {false, true, false, false, false},  {false, false, true, false, false},
    {false, false, false, true, false},  {true, true, true, true, false}};

// Each user's certificate for its key "n", which has none at setup.
std::map<std::string, Bytes>& certificates() {
  static std::map<std::string, Bytes> byUser;
  return byUser;
}

std::vector<RequestRow> requests(Bytes ecPem) {
  auto sha256 = referenceDigest("SHA256", bytesOf("m"));
  return {
      {"ping", kAnyone, nullptr, [](Client& c, auto&) { c.ping(); }},
      {"digest", kAnyone, nullptr,
       [](Client& c, auto&) { c.digest(HashAlgorithm::SHA256, bytesOf("m")); }},
      {"whoami", kLogin, nullptr, [](Client& c, auto&) { c.whoami(); }},
      {"boundUsers", kAnyone, nullptr, [](Client& c, auto&) { c.boundUsers(); }},
      {"keyGenerate", kUser, &UserFlags::create,
       [](Client& c, auto&) { c.keyGenerate("new", KeyType::AES); }},
      {"keyImport", kUser, &UserFlags::create,
       [ecPem](Client& c, auto&) { c.keyImport("imported", KeyType::EC_P256, ecPem); }},
      {"keyList", kUser, &UserFlags::read, [](Client& c, auto&) { c.keyList(); }},
      {"keyInfo", kUser, &UserFlags::read, [](Client& c, auto&) { c.keyInfo("h"); }},
      {"keyPublic", kUser, &UserFlags::read, [](Client& c, auto&) { c.keyPublic("e"); }},
      {"hmac", kUser, &UserFlags::read,
       [](Client& c, auto&) { c.hmac("h", HashAlgorithm::SHA1, bytesOf("m")); }},
      {"gcmEncrypt", kUser, &UserFlags::read,
       [](Client& c, auto&) { c.gcmEncrypt("a", randomBytes(12), {}, bytesOf("m")); }},
      {"sign", kUser, &UserFlags::read, [sha256](Client& c, auto&) { c.sign("e", {}, sha256); }},
      {"hmacStream", kUser, &UserFlags::read,
       [](Client& c, auto&) {
         auto s = c.hmacStream("h", HashAlgorithm::SHA256);
         s.update(randomBytes(300000));  // more than a chunk: the stream opens in keyd
         s.final();
       }},
      {"keyDelete", kUser, &UserFlags::remove, [](Client& c, auto&) { c.keyDelete("doomed"); }},
      {"keyCertificate", kUser, &UserFlags::read, [](Client& c, auto&) { c.keyCertificate("e"); }},
      {"keyCertificateSet", kUser, &UserFlags::create,
       [](Client& c, const std::string& actor) {
         c.keyCertificateSet("n", certificates()[actor]);  // a user with none sends an empty one
       }},
      // Removing a certificate is deleting an object: the delete flag. The key "c" has one.
      {"keyCertificateSet (remove)", kUser, &UserFlags::remove,
       [](Client& c, auto&) { c.keyCertificateSet("c", {}); }},
      {"userList", kSo, nullptr, [](Client& c, auto&) { c.userList(); }},
      {"userCreate", kSo, &UserFlags::create,
       [](Client& c, const std::string& actor) {
         c.userCreate({"new-" + actor, false, {true, false, false, false, false}, {"host"}}, "pw");
       }},
      {"userModify", kSo, &UserFlags::modify,
       [](Client& c, const std::string& actor) {
         c.userModify("target-" + actor, UserFlags{true, true, false, false, false}, std::nullopt);
       }},
      {"userDelete", kSo, &UserFlags::remove,
       [](Client& c, const std::string& actor) { c.userDelete("victim-" + actor); }},
      {"containerList", kSo, nullptr, [](Client& c, auto&) { c.containerList(); }},
      {"containerAdd", kSo, &UserFlags::create,
       [](Client& c, const std::string& actor) {
         c.containerAdd("c-" + actor, {std::hash<std::string>{}(actor) | 1, 7});
       }},
      {"containerRemove", kSo, &UserFlags::remove,
       [](Client& c, const std::string& actor) { c.containerRemove("rm-" + actor); }},
      {"unlock", kSo, &UserFlags::modify,
       [](Client& c, auto&) { c.unlock("lockable", "lockable-pw", "host", 60); }},
      {"lock", kSo, &UserFlags::modify, [](Client& c, auto&) { c.lock("lockable"); }},
      {"auditList", kSo, nullptr, [](Client& c, auto&) { c.auditList(0, 1); }},
      {"auditVerify", kSo, nullptr, [](Client& c, auto&) { c.auditVerify(); }},
      // Every wrapped record leaves keyd: an SO with the read flag alone.
      {"backup", kSo, &UserFlags::read,
       [](Client& c, auto&) {
         Bytes chunk;
         c.backupChunk(0, chunk);
       }},
  };
}

}  // namespace

TEST_CASE("authorisation matrix: every request × role × flags from the bound container") {
  Keyd keyd;
  auto root = keyd.root();
  auto ec = referenceKey("P-256");
  Bytes ecPem(ec.privatePem.begin(), ec.privatePem.end());
  root->userCreate({"lockable", false, {true, false, false, false, false}, {"host"}},
                   "lockable-pw");

  std::vector<Actor> actors = {{Role::none, {}, "nobody"},
                               {Role::wrongPassword, {}, "wrong"},
                               {Role::root, {true, true, true, true, true}, "root"}};
  int n = 0;
  for (const auto& flags : kFlagSets) {
    actors.push_back({Role::user, flags, "user" + std::to_string(++n)});
    actors.push_back({Role::so, flags, "so" + std::to_string(n)});
  }
  auto table = requests(ecPem);
  std::ostringstream report;
  size_t cells = 0;
  for (const auto& actor : actors) {
    // The actor and the objects its requests name, made with full rights, then its flags set.
    if (actor.role == Role::user || actor.role == Role::so || actor.role == Role::wrongPassword) {
      bool so = actor.role == Role::so;
      root->userCreate({actor.name, so, {true, true, true, true, false}, {"host"}},
                       actor.name + "-pw");
      if (actor.role == Role::user) {
        auto owner = keyd.client();
        owner->login(actor.name, actor.name + "-pw");
        owner->keyImport("h", KeyType::HMAC, randomBytes(20));
        owner->keyGenerate("a", KeyType::AES);
        owner->keyGenerate("e", KeyType::EC_P256);
        owner->keyGenerate("doomed", KeyType::HMAC);
        owner->keyCertificateSet("e", referenceCertificate(owner->keyPublic("e"), "e"));
        owner->keyGenerate("n", KeyType::EC_P256);
        certificates()[actor.name] = referenceCertificate(owner->keyPublic("n"), actor.name);
        owner->keyGenerate("c", KeyType::EC_P256);
        owner->keyCertificateSet("c", referenceCertificate(owner->keyPublic("c"), "c"));
      }
      if (actor.role != Role::wrongPassword)
        root->userModify(actor.name, actor.flags, std::nullopt);
    }
    root->userCreate({"target-" + actor.name, false, {true, false, false, false, false}, {"host"}},
                     "pw");
    root->userCreate({"victim-" + actor.name, false, {true, false, false, false, false}, {"host"}},
                     "pw");
    root->containerAdd("rm-" + actor.name, {std::hash<std::string>{}("rm" + actor.name) | 1, 9});

    auto session = keyd.client();
    if (actor.role == Role::root) session->login("root", Keyd::kRootPassword);
    if (actor.role == Role::user || actor.role == Role::so)
      session->login(actor.name, actor.name + "-pw");
    if (actor.role == Role::wrongPassword)
      CHECK(refusalOf([&] { session->login(actor.name, "not-it"); }) == ErrorCode::WRONG_PASSWORD);

    for (const auto& request : table) {
      auto want = expected(actor, request);
      auto got = refusalOf([&] { request.call(*session, actor.name); });
      INFO(request.name << " by " << actor.name << " (flags " << describe(actor.flags) << ")");
      CHECK(errorName(got) == errorName(want));
      ++cells;
      report << request.name << " " << actor.name << " " << errorName(got) << "\n";
    }
  }
  CHECK(cells == actors.size() * table.size());

  // Creating security officers needs create_extended, which only root has.
  auto so = keyd.client();
  so->login("so6", "so6-pw");  // an SO with every flag but create_extended
  CHECK(refusalOf([&] {
          so->userCreate({"so-made", true, {false, true, false, false, false}, {"host"}}, "pw");
        }) == ErrorCode::PERMISSION_DENIED);
  CHECK_NOTHROW(
      root->userCreate({"so-made", true, {false, true, false, false, false}, {"host"}}, "pw"));
}

TEST_CASE("authorisation matrix: logins from bound, other, unregistered and host containers") {
  Keyd keyd;
  auto root = keyd.root();
  std::string socket = keyd.socket();
  auto loginFrom = [&](const std::string& user, const std::string& password) {
    return [=]() -> int {
      ClientOptions o;
      o.socketPath = socket;
      Client c(o);
      return int(refusalOf([&] { c.login(user, password); }));
    };
  };
  // Users bound to "web" only: a key user, an SO.
  int bound = inNewNetns(loginFrom("webuser", "pw"), [&](pid_t child) {
    root->containerAdd("web", netnsOf(child));
    root->userCreate({"webuser", false, {true, true, true, true, false}, {"web"}}, "pw");
    root->userCreate({"webso", true, {false, true, true, true, false}, {"web"}}, "pw");
  });
  CHECK(ErrorCode(bound) == ErrorCode::OK);
  // The same users from another registered container, an unregistered one, and the host:
  // refused whatever the password, before any password is checked.
  for (const char* user : {"webuser", "webso"})
    for (const char* password : {"pw", "wrong"}) {
      INFO(user << " / " << password);
      int other = inNewNetns(loginFrom(user, password), [&](pid_t child) {
        static int n = 0;
        root->containerAdd("other" + std::to_string(++n), netnsOf(child));
      });
      CHECK(ErrorCode(other) == ErrorCode::CONTAINER_NOT_ALLOWED);
      CHECK(ErrorCode(inNewNetns(loginFrom(user, password))) == ErrorCode::CONTAINER_NOT_ALLOWED);
      CHECK(ErrorCode(loginFrom(user, password)()) == ErrorCode::CONTAINER_NOT_ALLOWED);
    }
  // root is bound to the host only.
  CHECK(ErrorCode(loginFrom("root", Keyd::kRootPassword)()) == ErrorCode::OK);
  CHECK(ErrorCode(inNewNetns(loginFrom("root", Keyd::kRootPassword))) ==
        ErrorCode::CONTAINER_NOT_ALLOWED);
}
