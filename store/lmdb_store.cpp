#include "store/lmdb_store.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <utility>

#include "store/record_codec.hpp"

namespace vhsm::store {
namespace {

constexpr char kSchemaKey[] = "schema_version";
constexpr char kIterationsKey[] = "kdf_iterations";

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw StoreError(std::string(what) + ": " + mdb_strerror(rc), rc);
}

MDB_val val(const void* data, size_t size) {
  return MDB_val{size, const_cast<void*>(data)};
}
MDB_val val(const std::string& s) {
  return val(s.data(), s.size());
}

std::string keyOf(const std::string& owner, const std::string& id) {
  std::string k = owner;
  k.push_back('\0');
  k += id;
  return k;
}

std::string sequenceKey(uint64_t sequence) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, sequence >>= 8) k[size_t(i)] = char(sequence & 0xff);
  return k;
}

std::string_view text(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

int put(MDB_txn* txn, MDB_dbi dbi, const std::string& key, const std::string& value,
        unsigned flags = 0) {
  auto k = val(key);
  auto v = val(value);
  return mdb_put(txn, dbi, &k, &v, flags);
}

std::optional<MDB_val> get(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
  auto k = val(key);
  MDB_val v;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "read");
  return v;
}

bool erase(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
  auto k = val(key);
  int rc = mdb_del(txn, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "delete");
  return true;
}

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { check(mdb_cursor_open(txn, dbi, &cursor_), "cursor"); }
  ~Cursor() { mdb_cursor_close(cursor_); }
  bool seek(MDB_cursor_op op, MDB_val& k, MDB_val& v) {
    int rc = mdb_cursor_get(cursor_, &k, &v, op);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "cursor read");
    return true;
  }

 private:
  MDB_cursor* cursor_ = nullptr;
};

template <typename Decode>
auto scan(MDB_txn* txn, MDB_dbi dbi, Decode decode) {
  std::vector<decltype(decode(std::string_view()))> out;
  Cursor cursor(txn, dbi);
  MDB_val k, v;
  for (bool more = cursor.seek(MDB_FIRST, k, v); more; more = cursor.seek(MDB_NEXT, k, v))
    out.push_back(decode(text(v)));
  return out;
}

// A transaction's view, read-only or not: every read and write on one MDB_txn.
class LmdbTxn final : public WriteTxn {
 public:
  LmdbTxn(MDB_txn* txn, const LmdbStore::Dbs& dbs) : txn_(txn), dbs_(dbs) {}
  std::optional<User> user(const std::string& name) const override;
  std::vector<User> users() const override;
  std::optional<Container> container(const std::string& name) const override;
  std::vector<Container> containers() const override;
  std::optional<Key> key(const std::string& owner, const std::string& id) const override;
  std::vector<Key> keys(const std::string& owner, const std::string& startAfter,
                        size_t limit) const override;
  std::vector<AuditEntry> audit(uint64_t fromSequence, uint32_t limit) const override;
  std::optional<AuditEntry> lastAudit() const override;
  uint32_t kdfIterations() const override;
  void putUser(const User& user) override;
  bool deleteUser(const std::string& name) override;
  void putContainer(const Container& container) override;
  bool deleteContainer(const std::string& name) override;
  bool putKey(const Key& key, bool overwrite) override;
  bool deleteKey(const std::string& owner, const std::string& id) override;
  void putAudit(const AuditEntry& entry) override;
  void setKdfIterations(uint32_t iterations) override;

 private:
  MDB_txn* txn_;
  const LmdbStore::Dbs& dbs_;
};

}  // namespace

// ---- reads ----

std::optional<User> LmdbTxn::user(const std::string& name) const {
  auto v = get(txn_, dbs_.users, name);
  if (!v) return std::nullopt;
  return decodeUser(text(*v));
}

std::vector<User> LmdbTxn::users() const {
  return scan(txn_, dbs_.users, decodeUser);
}

std::optional<Container> LmdbTxn::container(const std::string& name) const {
  auto v = get(txn_, dbs_.containers, name);
  if (!v) return std::nullopt;
  return decodeContainer(text(*v));
}

std::vector<Container> LmdbTxn::containers() const {
  return scan(txn_, dbs_.containers, decodeContainer);
}

std::optional<Key> LmdbTxn::key(const std::string& owner, const std::string& id) const {
  auto v = get(txn_, dbs_.keys, keyOf(owner, id));
  if (!v) return std::nullopt;
  return decodeKey(text(*v));
}

std::vector<Key> LmdbTxn::keys(const std::string& owner, const std::string& startAfter,
                               size_t limit) const {
  std::vector<Key> out;
  std::string prefix = keyOf(owner, ""), start = keyOf(owner, startAfter);
  Cursor cursor(txn_, dbs_.keys);
  MDB_val k = val(start), v;
  for (bool more = cursor.seek(MDB_SET_RANGE, k, v); more && (limit == 0 || out.size() < limit);
       more = cursor.seek(MDB_NEXT, k, v)) {
    if (k.mv_size < prefix.size() || std::memcmp(k.mv_data, prefix.data(), prefix.size()) != 0)
      break;
    if (!startAfter.empty() && k.mv_size == start.size() &&
        std::memcmp(k.mv_data, start.data(), start.size()) == 0)
      continue;
    out.push_back(decodeKey(text(v)));
  }
  return out;
}

std::vector<AuditEntry> LmdbTxn::audit(uint64_t fromSequence, uint32_t limit) const {
  std::vector<AuditEntry> out;
  std::string start = sequenceKey(fromSequence);
  Cursor cursor(txn_, dbs_.audit);
  MDB_val k = val(start), v;
  for (bool more = cursor.seek(MDB_SET_RANGE, k, v); more && (limit == 0 || out.size() < limit);
       more = cursor.seek(MDB_NEXT, k, v))
    out.push_back(decodeAudit(text(v)));
  return out;
}

std::optional<AuditEntry> LmdbTxn::lastAudit() const {
  Cursor cursor(txn_, dbs_.audit);
  MDB_val k, v;
  if (!cursor.seek(MDB_LAST, k, v)) return std::nullopt;
  return decodeAudit(text(v));
}

uint32_t LmdbTxn::kdfIterations() const {
  auto v = get(txn_, dbs_.meta, kIterationsKey);
  uint32_t iterations = 0;
  if (!v || v->mv_size != sizeof iterations) throw StoreError("store has no KDF iteration count");
  std::memcpy(&iterations, v->mv_data, sizeof iterations);
  return iterations;
}

// ---- writes ----

void LmdbTxn::setKdfIterations(uint32_t iterations) {
  auto k = val(kIterationsKey, sizeof kIterationsKey - 1);
  auto v = val(&iterations, sizeof iterations);
  check(mdb_put(txn_, dbs_.meta, &k, &v, 0), "write KDF iterations");
}

void LmdbTxn::putUser(const User& u) {
  check(put(txn_, dbs_.users, u.name, encodeUser(u)), "write user");
}

bool LmdbTxn::deleteUser(const std::string& name) {
  return erase(txn_, dbs_.users, name);
}

void LmdbTxn::putContainer(const Container& c) {
  check(put(txn_, dbs_.containers, c.name, encodeContainer(c)), "write container");
}

bool LmdbTxn::deleteContainer(const std::string& name) {
  return erase(txn_, dbs_.containers, name);
}

bool LmdbTxn::putKey(const Key& key, bool overwrite) {
  int rc = put(txn_, dbs_.keys, keyOf(key.owner, key.id), encodeKey(key),
               overwrite ? 0 : MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return false;
  check(rc, "write key");
  return true;
}

bool LmdbTxn::deleteKey(const std::string& owner, const std::string& id) {
  return erase(txn_, dbs_.keys, keyOf(owner, id));
}

void LmdbTxn::putAudit(const AuditEntry& e) {
  check(put(txn_, dbs_.audit, sequenceKey(e.sequence), encodeAudit(e), MDB_APPEND), "append audit");
}

// ---- environment ----

LmdbStore::Txn::Txn(const LmdbStore& store, unsigned flags) {
  int rc = mdb_txn_begin(store.env_, nullptr, flags, &txn_);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopt its size and try again.
    check(mdb_env_set_mapsize(store.env_, 0), "adopt map size");
    store.unlockMap();
    rc = mdb_txn_begin(store.env_, nullptr, flags, &txn_);
  }
  check(rc, "begin transaction");
}

LmdbStore::Txn::~Txn() {
  if (txn_) mdb_txn_abort(txn_);
}

void LmdbStore::Txn::commit() {
  MDB_txn* txn = std::exchange(txn_, nullptr);
  check(mdb_txn_commit(txn), "commit");
}

LmdbStore::LmdbStore(const std::filesystem::path& dir, bool create, size_t initialMapSize)
    : dir_(dir) {
  std::error_code ec;
  if (create) {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw StoreError("cannot create " + dir.string() + ": " + ec.message());
    if (std::filesystem::exists(dir / "data.mdb"))
      throw StoreError("a store already exists in " + dir.string());
  } else if (!std::filesystem::exists(dir / "data.mdb")) {
    throw StoreError("no store in " + dir.string() + " (create one with vhsm-admin init)");
  }
  check(mdb_env_create(&env_), "create environment");
  try {
    check(mdb_env_set_maxdbs(env_, 8), "set max dbs");
    check(mdb_env_set_mapsize(env_, initialMapSize), "set map size");
    // Read transactions may move between a worker pool's threads.
    check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS, 0600), ("open " + dir.string()).c_str());
    unlockMap();

    Txn txn(*this, 0);
    unsigned dbFlags = create ? MDB_CREATE : 0;
    auto openDb = [&](const char* name, MDB_dbi& dbi) {
      check(mdb_dbi_open(txn.get(), name, dbFlags, &dbi), name);
    };
    openDb("meta", dbs_.meta);
    openDb("users", dbs_.users);
    openDb("containers", dbs_.containers);
    openDb("keys", dbs_.keys);
    openDb("audit", dbs_.audit);

    auto versionKey = val(kSchemaKey, sizeof kSchemaKey - 1);
    MDB_val v;
    if (create) {
      uint32_t version = kSchemaVersion;
      auto vv = val(&version, sizeof version);
      check(mdb_put(txn.get(), dbs_.meta, &versionKey, &vv, 0), "write schema version");
    } else {
      check(mdb_get(txn.get(), dbs_.meta, &versionKey, &v), "read schema version");
      uint32_t version = 0;
      if (v.mv_size == sizeof version) std::memcpy(&version, v.mv_data, sizeof version);
      if (version != kSchemaVersion)
        throw StoreError("store schema version " + std::to_string(version) +
                         " is not supported (this build reads version " +
                         std::to_string(kSchemaVersion) + ")");
    }
    txn.commit();
  } catch (...) {
    mdb_env_close(env_);
    throw;
  }
}

std::unique_ptr<LmdbStore> LmdbStore::create(const std::filesystem::path& dir,
                                             size_t initialMapSize) {
  return std::unique_ptr<LmdbStore>(new LmdbStore(dir, true, initialMapSize));
}

std::unique_ptr<LmdbStore> LmdbStore::open(const std::filesystem::path& dir,
                                           size_t initialMapSize) {
  return std::unique_ptr<LmdbStore>(new LmdbStore(dir, false, initialMapSize));
}

std::unique_ptr<Store> Store::create(const std::filesystem::path& dir, size_t initialMapSize) {
  return LmdbStore::create(dir, initialMapSize);
}

std::unique_ptr<Store> Store::open(const std::filesystem::path& dir, size_t initialMapSize) {
  return LmdbStore::open(dir, initialMapSize);
}

LmdbStore::~LmdbStore() {
  mdb_env_close(env_);
}

size_t LmdbStore::mapSize() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

void LmdbStore::grow() {
  std::unique_lock lock(resizeMutex_);
  check(mdb_env_set_mapsize(env_, mapSize() * 2), "grow map");
  unlockMap();
}

// keyd locks all of its memory (mlockall), new mappings included; the map holds only wrapped
// records, so its pages may leave memory like any file's instead of pinning the whole store.
// LMDB does not say where it mapped the file (me_mapaddr is only for MDB_FIXEDMAP): the
// mapping is found by the file's device and inode.
void LmdbStore::unlockMap() const {
  int fd = -1;
  struct stat file {};
  if (mdb_env_get_fd(env_, &fd) != 0 || fstat(fd, &file) != 0) return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long start = 0, end = 0, inode = 0;
    unsigned devMajor = 0, devMinor = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %*s %*x %x:%x %lu", &start, &end, &devMajor, &devMinor,
                    &inode) == 5 &&
        inode == file.st_ino && devMajor == major(file.st_dev) && devMinor == minor(file.st_dev))
      munlock(reinterpret_cast<void*>(start), end - start);
  }
}

void LmdbStore::readSnapshot(const std::function<void(const ReadTxn&)>& fn) const {
  std::shared_lock lock(resizeMutex_);
  Txn txn(*this, MDB_RDONLY);
  const LmdbTxn view(txn.get(), dbs_);
  fn(view);
}

void LmdbStore::write(const std::function<void(WriteTxn&)>& fn) {
  for (;;) {
    try {
      std::shared_lock lock(resizeMutex_);
      Txn txn(*this, 0);
      LmdbTxn view(txn.get(), dbs_);
      fn(view);
      txn.commit();
      return;
    } catch (const StoreError& e) {
      if (e.engineCode() != MDB_MAP_FULL) throw;
    }
    grow();
  }
}

}  // namespace vhsm::store
