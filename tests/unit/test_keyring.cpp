// The key hierarchy (docs/security-model.md) and what reaches the disk.
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "keyd/crypto/keyring.hpp"
#include "store/store.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::keyd;
using vhsm::test::TempDir;

namespace {

std::span<const uint8_t> text(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

store::User newUser(const std::string& name) {
  store::User u;
  u.name = name;
  return u;
}

store::Key newKey(const std::string& owner, const std::string& id) {
  store::Key k;
  k.owner = owner;
  k.id = id;
  k.type = 0;
  k.bits = 256;
  return k;
}

bool contains(const std::vector<char>& haystack, std::span<const uint8_t> needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, uint8_t b) { return uint8_t(a) == b; }) != haystack.end();
}

}  // namespace

TEST_CASE("a user secret unwraps with the right password only") {
  auto alice = newUser("alice");
  auto secret = createUserSecret(alice, text("correct horse"), 1000);
  CHECK(secret.size() == kUserSecretBytes);
  CHECK(alice.kdfSalt.size() >= 16);
  CHECK(alice.kdfIterations == 1000);
  auto again = unwrapUserSecret(alice, text("correct horse"));
  REQUIRE(again);
  CHECK(*again == secret);
  CHECK_FALSE(unwrapUserSecret(alice, text("correct horsf")));
  CHECK_FALSE(unwrapUserSecret(alice, text("")));
}

TEST_CASE("a password change re-wraps the same secret") {
  auto alice = newUser("alice");
  auto secret = createUserSecret(alice, text("old"), 1000);
  auto oldSalt = alice.kdfSalt;
  rewrapUserSecret(alice, secret, text("new"));
  CHECK(alice.kdfSalt != oldSalt);
  CHECK_FALSE(unwrapUserSecret(alice, text("old")));
  auto again = unwrapUserSecret(alice, text("new"));
  REQUIRE(again);
  CHECK(*again == secret);
}

TEST_CASE("a wrapped secret moved to another user's row fails") {
  auto alice = newUser("alice");
  createUserSecret(alice, text("pw"), 1000);
  auto mallory = alice;
  mallory.name = "mallory";
  CHECK_FALSE(unwrapUserSecret(mallory, text("pw")));
}

TEST_CASE("key blobs are bound to owner, id and type") {
  auto alice = newUser("alice");
  auto secret = createUserSecret(alice, text("pw"), 1000);
  std::vector<uint8_t> material(32, 0x42);
  auto k1 = newKey("alice", "k1");
  wrapKey(k1, secret, material);
  auto back = unwrapKey(k1, secret);
  REQUIRE(back);
  CHECK(std::equal(back->begin(), back->end(), material.begin(), material.end()));

  auto swapped = newKey("alice", "k2");
  swapped.wrapped = k1.wrapped;  // blob copied to another row
  CHECK_FALSE(unwrapKey(swapped, secret));
  auto otherOwner = k1;
  otherOwner.owner = "bob";
  CHECK_FALSE(unwrapKey(otherOwner, secret));
  auto retyped = k1;
  retyped.type = 1;
  CHECK_FALSE(unwrapKey(retyped, secret));
  auto edited = k1;
  edited.wrapped[20] ^= 1;
  CHECK_FALSE(unwrapKey(edited, secret));

  auto bob = newUser("bob");
  auto bobSecret = createUserSecret(bob, text("pw"), 1000);
  CHECK_FALSE(unwrapKey(k1, bobSecret));
}

TEST_CASE("the store files hold no key material, user secret or password in clear") {
  TempDir dir;
  std::string password = "a-password-to-look-for";
  std::vector<uint8_t> material;
  for (int i = 0; i < 32; ++i) material.push_back(uint8_t(0xa0 + i));
  SecretBytes secret;
  {
    auto store = store::Store::create(dir.path());
    auto alice = newUser("alice");
    secret = createUserSecret(alice, text(password), 1000);
    auto key = newKey("alice", "k1");
    wrapKey(key, secret, material);
    store->write([&](store::WriteTxn& t) {
      t.putUser(alice);
      t.putKey(key, false);
    });
  }
  std::ifstream in(dir.path() / "data.mdb", std::ios::binary);
  std::vector<char> file((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(file.size() > 0);
  CHECK(contains(file, text("alice")));  // the scan does find what is there in clear
  CHECK_FALSE(contains(file, material));
  CHECK_FALSE(contains(file, {material.data(), 8}));
  CHECK_FALSE(contains(file, secret));
  CHECK_FALSE(contains(file, {secret.data(), 8}));
  CHECK_FALSE(contains(file, text(password)));
}
