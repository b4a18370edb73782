// Crash safety: keyd killed with SIGKILL at random moments while a key user creates and
// deletes keys and the SO creates, modifies and deletes users, round after round. After each
// restart the store opens, every acknowledged change is there (and every acknowledged
// deletion gone), nothing is half-made (every key present works, every user present logs in
// with its password and has the flags last acknowledged), and the audit chain verifies.
// VHSM_CRASH_ROUNDS sets the rounds (default 12; the soak label runs more).
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/hex.hpp"
#include "tests/support/keyd_process.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

int rounds() {
  const char* s = std::getenv("VHSM_CRASH_ROUNDS");
  return s ? std::atoi(s) : 12;
}

// What the clients were told, and what was in flight when keyd died.
struct Ledger {
  std::mutex mutex;
  std::set<std::string> keys, deletedKeys, uncertainKeys;
  std::map<std::string, bool> users;  // name → its "modify" flag as last acknowledged
  std::set<std::string> deletedUsers, uncertainUsers;
};

void keyWork(const Keyd& keyd, Ledger& ledger, std::atomic<bool>& stop, std::mt19937& random,
             int& next) {
  try {
    auto c = keyd.client();
    c->login("alice", "pw");
    while (!stop) {
      std::string deleting;
      {
        std::lock_guard lock(ledger.mutex);
        if (!ledger.keys.empty() && random() % 3 == 0) deleting = *ledger.keys.begin();
      }
      if (!deleting.empty()) {
        ledger.uncertainKeys.insert(deleting);
        c->keyDelete(deleting);
        std::lock_guard lock(ledger.mutex);
        ledger.keys.erase(deleting);
        ledger.deletedKeys.insert(deleting);
        ledger.uncertainKeys.erase(deleting);
        continue;
      }
      std::string id = "k" + std::to_string(next++);
      KeyType type = next % 2 ? KeyType::HMAC : KeyType::EC_P256;
      ledger.uncertainKeys.insert(id);
      c->keyGenerate(id, type);
      std::lock_guard lock(ledger.mutex);
      ledger.keys.insert(id);
      ledger.uncertainKeys.erase(id);
    }
  } catch (const Error&) {
    // keyd died: the change in flight is uncertain, everything before it acknowledged.
  }
}

void userWork(const Keyd& keyd, Ledger& ledger, std::atomic<bool>& stop, std::mt19937& random,
              int& next) {
  try {
    auto root = keyd.root();
    while (!stop) {
      std::string name;
      {
        std::lock_guard lock(ledger.mutex);
        if (!ledger.users.empty()) name = ledger.users.begin()->first;
      }
      int action = random() % 3;
      if (name.empty() || action == 0) {
        name = "u" + std::to_string(next++);
        ledger.uncertainUsers.insert(name);
        UserInfo u;
        u.name = name;
        u.flags = {true, true, false, false, false};
        u.containers = {"host"};
        root->userCreate(u, name + "-pw");
        ledger.users[name] = false;
      } else if (action == 1) {
        ledger.uncertainUsers.insert(name);
        bool modify = !ledger.users[name];
        root->userModify(name, UserFlags{true, true, modify, false, false}, std::nullopt);
        ledger.users[name] = modify;
      } else {
        ledger.uncertainUsers.insert(name);
        root->userDelete(name);
        ledger.users.erase(name);
        ledger.deletedUsers.insert(name);
      }
      ledger.uncertainUsers.erase(name);
    }
  } catch (const Error&) {
  }
}

void checkAgainst(const Keyd& keyd, Ledger& ledger) {
  auto alice = keyd.client();
  alice->login("alice", "pw");
  std::set<std::string> present;
  for (const auto& k : alice->keyList()) {
    present.insert(k.id);
    INFO("key " << k.id);
    if (k.type == KeyType::HMAC)
      CHECK_NOTHROW(alice->hmac(k.id, HashAlgorithm::SHA256, bytesOf("x")));
    else
      CHECK_NOTHROW(alice->sign(k.id, {}, referenceDigest("SHA256", bytesOf("x"))));
  }
  for (const auto& id : ledger.keys)
    if (!ledger.uncertainKeys.count(id)) CHECK(present.count(id) == 1);
  for (const auto& id : ledger.deletedKeys)
    if (!ledger.uncertainKeys.count(id)) CHECK(present.count(id) == 0);
  // The in-flight change is either done or not; the ledger follows what the store says.
  for (const auto& id : ledger.uncertainKeys) {
    if (present.count(id)) {
      ledger.keys.insert(id);
      ledger.deletedKeys.erase(id);
    } else {
      ledger.keys.erase(id);
    }
  }
  ledger.uncertainKeys.clear();

  auto root = keyd.root();
  std::map<std::string, UserInfo> users;
  for (const auto& u : root->userList()) users[u.name] = u;
  for (const auto& [name, modify] : ledger.users) {
    if (ledger.uncertainUsers.count(name)) continue;
    INFO("user " << name);
    REQUIRE(users.count(name) == 1);
    CHECK(users[name].flags.modify == modify);
  }
  for (const auto& name : ledger.deletedUsers)
    if (!ledger.uncertainUsers.count(name)) CHECK(users.count(name) == 0);
  for (const auto& [name, info] : users) {
    if (name == "root" || name == "alice") continue;
    INFO("user " << name);
    auto c = keyd.client();
    CHECK_NOTHROW(c->login(name, name + "-pw"));  // a user that exists is whole
    ledger.users[name] = info.flags.modify;
    ledger.deletedUsers.erase(name);
  }
  for (const auto& name : ledger.uncertainUsers)
    if (!users.count(name)) ledger.users.erase(name);
  ledger.uncertainUsers.clear();
  CHECK(root->auditVerify().ok);
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses no acknowledged change and leaves nothing half-made") {
  Keyd keyd;
  keyd.newUser("alice", "pw");
  Ledger ledger;
  std::mt19937 random(std::random_device{}());
  int nextKey = 0, nextUser = 0;
  size_t acknowledged = 0;
  for (int round = 0; round < rounds(); ++round) {
    std::atomic<bool> stop{false};
    std::mt19937 keyRandom(random()), userRandom(random());
    std::thread keys([&] { keyWork(keyd, ledger, stop, keyRandom, nextKey); });
    std::thread users([&] { userWork(keyd, ledger, stop, userRandom, nextUser); });
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + random() % 200));
    keyd.kill9();
    stop = true;
    keys.join();
    users.join();
    keyd.start();
    INFO("round " << round);
    checkAgainst(keyd, ledger);
    acknowledged += ledger.keys.size() + ledger.users.size();
  }
  CHECK(acknowledged > 20);  // the rounds did real work before each kill
}
