// The LMDB store: records, ownership keys, schema versions and map growth.
#include <lmdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "store/backup.hpp"
#include "store/lmdb_store.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm::store;
using vhsm::test::TempDir;

namespace {

Key sampleKey(const std::string& owner, const std::string& id) {
  Key k;
  k.owner = owner;
  k.id = id;
  k.type = 0;
  k.bits = 256;
  k.wrapped = {1, 2, 3};
  return k;
}

}  // namespace

TEST_CASE("a store creates, reopens and keeps what was written") {
  TempDir dir;
  {
    auto store = Store::create(dir.path());
    store->write([](WriteTxn& t) {
      User u;
      u.name = "alice";
      u.containers = {"host", "web"};
      u.kdfSalt = {9, 9};
      t.putUser(u);
      t.setKdfIterations(1234);
      REQUIRE(t.putKey(sampleKey("alice", "k1"), false));
      REQUIRE(t.putKey(sampleKey("alice", "k2"), false));
      REQUIRE(t.putKey(sampleKey("alicex", "k1"), false));
      REQUIRE_FALSE(t.putKey(sampleKey("alice", "k1"), false));
    });
  }
  auto store = Store::open(dir.path());
  store->read([](const ReadTxn& t) {
    auto u = t.user("alice");
    REQUIRE(u);
    CHECK(u->containers == std::vector<std::string>{"host", "web"});
    CHECK(u->kdfSalt == std::vector<uint8_t>{9, 9});
    CHECK(t.kdfIterations() == 1234);
    // Keys are indexed by (owner, id): "alice" does not see "alicex"'s keys.
    CHECK(t.keys("alice").size() == 2);
    CHECK(t.keys("alicex").size() == 1);
    CHECK_FALSE(t.key("bob", "k1"));
    return 0;
  });
}

TEST_CASE("a user's keys page in id order, never into another owner's") {
  TempDir dir;
  auto store = Store::create(dir.path());
  store->write([](WriteTxn& t) {
    for (auto id : {"b", "a", "c", "d"}) t.putKey(sampleKey("alice", id), false);
    t.putKey(sampleKey("alicex", "a"), false);
  });
  auto ids = [&](const std::string& after, size_t limit) {
    std::string out;
    store->read([&](const ReadTxn& t) {
      for (const auto& k : t.keys("alice", after, limit)) out += k.id;
      return 0;
    });
    return out;
  };
  CHECK(ids("", 0) == "abcd");
  CHECK(ids("", 2) == "ab");
  CHECK(ids("b", 2) == "cd");
  CHECK(ids("bb", 0) == "cd");  // need not name a key
  CHECK(ids("d", 5).empty());   // the next owner's keys stay out
}

TEST_CASE("creating over an existing store and opening a missing one fail") {
  TempDir dir;
  Store::create(dir.path());
  CHECK_THROWS_AS(Store::create(dir.path()), StoreError);
  TempDir empty;
  CHECK_THROWS_WITH(Store::open(empty.path()), Catch::Contains("no store"));
}

TEST_CASE("a store of an unknown schema version is refused") {
  TempDir dir;
  Store::create(dir.path());
  {
    // Rewrite the version record behind the store's back.
    MDB_env* env;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0600) == 0);
    MDB_txn* txn;
    MDB_dbi meta;
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &meta);
    uint32_t version = kSchemaVersion + 1;
    MDB_val k{14, const_cast<char*>("schema_version")}, v{4, &version};
    mdb_put(txn, meta, &k, &v, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
  }
  CHECK_THROWS_WITH(Store::open(dir.path()), Catch::Contains("schema version 2"));
}

TEST_CASE("the map grows instead of failing when full") {
  TempDir dir;
  auto store = LmdbStore::create(dir.path(), 1 << 20);  // 1 MiB to start
  size_t before = store->mapSize();
  for (int batch = 0; batch < 8; ++batch)
    store->write([&](WriteTxn& t) {
      for (int i = 0; i < 100; ++i) {
        auto k = sampleKey("owner", "k" + std::to_string(batch * 100 + i));
        k.wrapped.assign(4000, uint8_t(i));
        t.putKey(k, false);  // no REQUIRE here: it would swallow the map-full error
      }
    });
  CHECK(store->mapSize() > before);
  CHECK(store->read([](const ReadTxn& t) { return t.keys("owner").size(); }) == 800);
}

// keyd locks all of its memory, later mappings included; the map, holding only wrapped
// records, must stay evictable, also once it has grown (a new mapping).
TEST_CASE("in a process that locks all its memory the map stays unlocked, also after growing") {
  TempDir dir;
  // Under ASan mlockall does nothing (its interceptor): there the check is trivially true.
  REQUIRE(mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0);
  auto store = LmdbStore::create(dir.path(), 1 << 20);
  size_t before = store->mapSize();
  store->write([&](WriteTxn& t) {
    for (int i = 0; i < 400; ++i) {
      auto k = sampleKey("owner", "k" + std::to_string(i));
      k.wrapped.assign(4000, uint8_t(i));
      t.putKey(k, false);
    }
  });
  CHECK(store->read([](const ReadTxn& t) { return t.keys("owner").size(); }) == 400);
  auto mappings = vhsm::test::mappingsOf(getpid());
  munlockall();
  CHECK(store->mapSize() > before);
  size_t mapped = 0;
  for (const auto& m : mappings)
    if (m.name == (dir.path() / "data.mdb").string()) {
      ++mapped;
      CHECK(m.residentKb > 0);
      CHECK(m.lockedKb == 0);
    }
  CHECK(mapped == 1);
}

TEST_CASE("a failed write transaction leaves nothing behind") {
  TempDir dir;
  auto store = Store::create(dir.path());
  CHECK_THROWS(store->write([](WriteTxn& t) {
    t.putKey(sampleKey("a", "k"), false);
    throw std::runtime_error("refused half-way");
  }));
  CHECK_FALSE(store->read([](const ReadTxn& t) { return t.key("a", "k").has_value(); }));
}

TEST_CASE("a backup carries every record and refuses any truncation or altered byte") {
  TempDir dir;
  auto source = Store::create(dir.path() / "a");
  source->write([](WriteTxn& t) {
    t.setKdfIterations(4321);
    User u;
    u.name = "alice";
    u.containers = {"host"};
    u.id = {7, 7};
    t.putUser(u);
    t.putContainer({"web", 11, 12, "boot"});
    REQUIRE(t.putKey(sampleKey("alice", "k1"), false));
    AuditEntry e;
    e.sequence = 1;
    e.action = "init";
    e.host = "h1";
    t.putAudit(e);
  });
  auto file = source->read([](const ReadTxn& t) { return writeBackup(t); });
  auto restored = Store::create(dir.path() / "b");
  restoreBackup(readBackup(file), *restored);
  restored->read([](const ReadTxn& t) {
    CHECK(t.kdfIterations() == 4321);
    REQUIRE(t.user("alice"));
    CHECK(t.user("alice")->id == std::vector<uint8_t>{7, 7});
    CHECK(t.container("web")->netnsCookie == 12);
    CHECK(t.key("alice", "k1")->wrapped == std::vector<uint8_t>{1, 2, 3});
    CHECK(t.lastAudit()->host == "h1");
  });
  // Into a store that holds anything: refused.
  CHECK_THROWS_AS(restoreBackup(readBackup(file), *restored), StoreError);

  for (size_t n = 0; n < file.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK_THROWS_AS(readBackup(std::string_view(file).substr(0, n)), StoreError);
  }
  for (size_t i = 0; i < file.size(); ++i) {
    auto altered = file;
    altered[i] = char(altered[i] ^ 0x20);
    INFO("byte " << i << " altered");
    CHECK_THROWS_AS(readBackup(altered), StoreError);
  }
  CHECK_THROWS_WITH(readBackup(file + "x"), Catch::Contains("after its end"));
  CHECK_THROWS_WITH(readBackup(file.substr(0, file.size() - 1)), Catch::Contains("truncated"));
}
