// Key listings larger than one reply: the client pages through them, in id order.
#include <catch2/catch.hpp>
#include <cstdio>

#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::test;

TEST_CASE("a key list longer than one page comes whole and in order") {
  Keyd keyd;
  auto alice = keyd.newUser("alice", "pw");
  auto bob = keyd.newUser("bob", "pw");
  constexpr int kKeys = 2345;  // more than two of keyd's 1000-key pages
  Bytes material(32, 7);
  char id[16];
  for (int i = kKeys - 1; i >= 0; --i) {  // created out of order
    std::snprintf(id, sizeof id, "k%05d", i);
    alice->keyImport(id, KeyType::HMAC, material);
  }
  bob->keyImport("k00000", KeyType::HMAC, material);
  auto keys = alice->keyList();
  REQUIRE(keys.size() == size_t(kKeys));
  for (int i = 0; i < kKeys; ++i) {
    std::snprintf(id, sizeof id, "k%05d", i);
    REQUIRE(keys[size_t(i)].id == id);
    REQUIRE(keys[size_t(i)].owner == "alice");
  }
  CHECK(bob->keyList().size() == 1);
}
