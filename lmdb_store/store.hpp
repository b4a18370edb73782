// The vhsm store: one LMDB environment holding users, containers, wrapped keys, the audit
// chain and the schema version. It stores only what keyd hands it — secrets arrive already
// wrapped — and knows nothing of the protocol or of cryptography.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace vhsm::store {

inline constexpr uint32_t kSchemaVersion = 1;
inline constexpr size_t kDefaultMapSize = size_t(64) << 20;  // grows by doubling when full

struct User {
  std::string name;
  bool isSo = false;
  uint32_t flags = 0;
  std::vector<std::string> containers;
  std::vector<uint8_t> kdfSalt;
  uint32_t kdfIterations = 0;
  std::vector<uint8_t> wrappedSecret;
  int64_t createdUnixSeconds = 0;
  std::vector<uint8_t> id;  // random, never reused (records.capnp)
};

struct Container {
  std::string name;
  uint64_t netnsInode = 0;
  uint64_t netnsCookie = 0;
};

struct Key {
  std::string owner;
  std::string id;
  uint16_t type = 0;
  uint32_t bits = 0;
  uint32_t usage = 0;
  int64_t createdUnixSeconds = 0;
  std::vector<uint8_t> wrapped;
};

struct AuditEntry {
  uint64_t sequence = 0;
  int64_t unixMillis = 0;
  std::string actor;
  std::string container;
  std::string action;
  std::string target;
  uint16_t result = 0;
  std::string detail;
  std::vector<uint8_t> prevHash;
  std::vector<uint8_t> hash;
};

class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, int mdbCode = 0)
      : std::runtime_error(what), mdbCode_(mdbCode) {}
  int mdbCode() const { return mdbCode_; }

 private:
  int mdbCode_;
};

class ReadTxn {
 public:
  std::optional<User> user(const std::string& name) const;
  std::vector<User> users() const;
  std::optional<Container> container(const std::string& name) const;
  std::vector<Container> containers() const;
  std::optional<Key> key(const std::string& owner, const std::string& id) const;
  // owner's keys in id order, those after startAfter ("" = from the first); limit 0 = all.
  std::vector<Key> keys(const std::string& owner, const std::string& startAfter = {},
                        size_t limit = 0) const;
  std::vector<AuditEntry> audit(uint64_t fromSequence, uint32_t limit) const;
  std::optional<AuditEntry> lastAudit() const;
  // PBKDF2 iterations for new passwords, chosen at init.
  uint32_t kdfIterations() const;

 protected:
  friend class Store;
  struct Dbs {
    MDB_dbi meta, users, containers, keys, audit;
  };
  ReadTxn(MDB_txn* txn, const Dbs& dbs) : txn_(txn), dbs_(dbs) {}
  MDB_txn* txn_;
  const Dbs& dbs_;
};

class WriteTxn : public ReadTxn {
 public:
  void putUser(const User& user);
  bool deleteUser(const std::string& name);
  void putContainer(const Container& container);
  bool deleteContainer(const std::string& name);
  // Fails with false, writing nothing, when the key exists and overwrite is false.
  bool putKey(const Key& key, bool overwrite);
  bool deleteKey(const std::string& owner, const std::string& id);
  void putAudit(const AuditEntry& entry);
  void setKdfIterations(uint32_t iterations);

 private:
  friend class Store;
  using ReadTxn::ReadTxn;
};

class Store {
 public:
  // Creates a new, empty store in dir (made if missing); fails if one is there already.
  static std::unique_ptr<Store> create(const std::filesystem::path& dir,
                                       size_t initialMapSize = kDefaultMapSize);
  // Opens an existing store; refuses a missing store or an unknown schema version.
  static std::unique_ptr<Store> open(const std::filesystem::path& dir,
                                     size_t initialMapSize = kDefaultMapSize);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs fn in a read-only snapshot.
  template <typename Fn>
  auto read(Fn&& fn) const {
    std::shared_lock lock(resizeMutex_);
    Txn txn(*this, MDB_RDONLY);
    ReadTxn view(txn.get(), dbs_);
    return fn(static_cast<const ReadTxn&>(view));
  }

  // Runs fn in one write transaction and commits it durably. When the map is full, the map
  // grows and fn runs again from scratch, so fn must have no effect outside the transaction.
  void write(const std::function<void(WriteTxn&)>& fn);

  size_t mapSize() const;
  const std::filesystem::path& directory() const { return dir_; }

 private:
  class Txn {
   public:
    Txn(const Store& store, unsigned flags);
    ~Txn();
    MDB_txn* get() const { return txn_; }
    void commit();

   private:
    MDB_txn* txn_ = nullptr;
  };

  Store(const std::filesystem::path& dir, bool create, size_t initialMapSize);
  void grow();
  void unlockMap() const;

  std::filesystem::path dir_;
  MDB_env* env_ = nullptr;
  ReadTxn::Dbs dbs_{};
  // LMDB may only change the map size while this process has no transaction open.
  mutable std::shared_mutex resizeMutex_;
};

}  // namespace vhsm::store
