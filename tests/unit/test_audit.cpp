// The audit chain detects edited, removed and reordered records, edited directly in the LMDB
// file as an attacker holding the file could.
#include <lmdb.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "keyd/audit/audit.hpp"
#include "tests/support/keyd_process.hpp"

using namespace vhsm;
using namespace vhsm::keyd;
using vhsm::test::TempDir;

namespace {

void writeRecords(const TempDir& dir, int n) {
  auto store = store::Store::create(dir.path());
  for (int i = 1; i <= n; ++i)
    store->write([&](store::WriteTxn& t) {
      appendAudit(
          t, {"root", "host", "keyGenerate", "key" + std::to_string(i), proto::ErrorCode::OK, ""});
    });
}

keyd::AuditVerdict verify(const TempDir& dir) {
  auto store = store::Store::open(dir.path());
  return store->read([](const store::ReadTxn& t) { return verifyAudit(t); });
}

std::string sequenceKey(uint64_t s) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, s >>= 8) k[size_t(i)] = char(s & 0xff);
  return k;
}

// Raw access to the audit table, with the store closed.
class RawAudit {
 public:
  explicit RawAudit(const TempDir& dir) {
    mdb_env_create(&env_);
    mdb_env_set_maxdbs(env_, 8);
    REQUIRE(mdb_env_open(env_, dir.path().c_str(), 0, 0600) == 0);
    mdb_txn_begin(env_, nullptr, 0, &txn_);
    REQUIRE(mdb_dbi_open(txn_, "audit", 0, &dbi_) == 0);
  }
  ~RawAudit() {
    mdb_txn_commit(txn_);
    mdb_env_close(env_);
  }
  std::string get(uint64_t seq) {
    auto k = sequenceKey(seq);
    MDB_val key{k.size(), k.data()}, val;
    REQUIRE(mdb_get(txn_, dbi_, &key, &val) == 0);
    return std::string(static_cast<char*>(val.mv_data), val.mv_size);
  }
  void put(uint64_t seq, std::string value) {
    auto k = sequenceKey(seq);
    MDB_val key{k.size(), k.data()}, val{value.size(), value.data()};
    REQUIRE(mdb_put(txn_, dbi_, &key, &val, 0) == 0);
  }
  void remove(uint64_t seq) {
    auto k = sequenceKey(seq);
    MDB_val key{k.size(), k.data()};
    REQUIRE(mdb_del(txn_, dbi_, &key, nullptr) == 0);
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
};

}  // namespace

TEST_CASE("an intact chain verifies") {
  TempDir dir;
  writeRecords(dir, 5);
  auto v = verify(dir);
  CHECK(v.ok);
  CHECK(v.records == 5);
}

TEST_CASE("an edited record is detected") {
  TempDir dir;
  writeRecords(dir, 5);
  {
    RawAudit raw(dir);
    auto value = raw.get(3);
    auto at = value.find("keyGenerate");
    REQUIRE(at != std::string::npos);
    value.replace(at, 11, "keyDeletion");  // same length: still a well-formed record
    raw.put(3, value);
  }
  auto v = verify(dir);
  CHECK_FALSE(v.ok);
  CHECK(v.firstBadSequence == 3);
}

TEST_CASE("a removed record is detected") {
  TempDir dir;
  writeRecords(dir, 5);
  RawAudit(dir).remove(2);
  auto v = verify(dir);
  CHECK_FALSE(v.ok);
  CHECK(v.firstBadSequence == 3);
}

TEST_CASE("reordered records are detected") {
  TempDir dir;
  writeRecords(dir, 5);
  {
    RawAudit raw(dir);
    auto two = raw.get(2), four = raw.get(4);
    raw.put(2, four);
    raw.put(4, two);
  }
  auto v = verify(dir);
  CHECK_FALSE(v.ok);
  CHECK(v.firstBadSequence == 4);  // record 4's content now sits at position 2
}
