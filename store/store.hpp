// The vhsm store's interface: users, containers, wrapped keys, the audit chain and settings,
// read in snapshots and changed in transactions. It stores only what keyd hands it — secrets
// arrive already wrapped — and knows nothing of the protocol or of cryptography. The embedded
// LMDB store (lmdb_store.hpp) is its first implementation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
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
  // The boot the namespace belongs to (/proc/sys/kernel/random/boot_id): net cookies count
  // from 1 again at every boot, so a registration names nothing after the boot it was made in.
  std::string bootId;
};

struct Key {
  std::string owner;
  std::string id;
  uint16_t type = 0;
  uint32_t bits = 0;
  uint32_t usage = 0;
  int64_t createdUnixSeconds = 0;
  std::vector<uint8_t> wrapped;
  std::vector<uint8_t> certificate;  // DER X.509 of a key pair's public key, or empty
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
  std::string host;  // the keyd that wrote it on a shared store; empty on a store of one host
};

class StoreError : public std::runtime_error {
 public:
  // engineCode: the implementation's own error number, for itself (LMDB's MDB_MAP_FULL…).
  StoreError(const std::string& what, int engineCode = 0)
      : std::runtime_error(what), engineCode_(engineCode) {}
  int engineCode() const { return engineCode_; }

 private:
  int engineCode_;
};

// A shared store cannot be reached now: nothing was changed, or (sent) the change's outcome is
// unknown. keyd answers storeUnavailable; the caller may retry.
class StoreUnavailable : public StoreError {
 public:
  using StoreError::StoreError;
};

// What another writer of a shared store changed (Store::watch).
enum class StoreChange {
  users,        // a user record: rights, bindings, or the user itself
  keysRemoved,  // a key record removed
  containers,   // one of this host's container registrations
  everything,   // unknown (the watch missed events): assume anything changed
};

// A snapshot of the store. Reads never see a transaction that has not committed.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  virtual std::optional<User> user(const std::string& name) const = 0;
  virtual std::vector<User> users() const = 0;
  virtual std::optional<Container> container(const std::string& name) const = 0;
  virtual std::vector<Container> containers() const = 0;
  virtual std::optional<Key> key(const std::string& owner, const std::string& id) const = 0;
  // owner's keys in id order, those after startAfter ("" = from the first); limit 0 = all.
  virtual std::vector<Key> keys(const std::string& owner, const std::string& startAfter = {},
                                size_t limit = 0) const = 0;
  virtual std::vector<AuditEntry> audit(uint64_t fromSequence, uint32_t limit) const = 0;
  virtual std::optional<AuditEntry> lastAudit() const = 0;
  // PBKDF2 iterations for new passwords, chosen at init.
  virtual uint32_t kdfIterations() const = 0;
};

// One transaction: all of its changes commit together, or none.
class WriteTxn : public ReadTxn {
 public:
  virtual void putUser(const User& user) = 0;
  virtual bool deleteUser(const std::string& name) = 0;
  virtual void putContainer(const Container& container) = 0;
  virtual bool deleteContainer(const std::string& name) = 0;
  // Fails with false, writing nothing, when the key exists and overwrite is false.
  virtual bool putKey(const Key& key, bool overwrite) = 0;
  virtual bool deleteKey(const std::string& owner, const std::string& id) = 0;
  // Every key of owner (with the owner's deletion). A store may do it in one operation.
  virtual void deleteKeys(const std::string& owner) {
    for (const auto& k : keys(owner)) deleteKey(owner, k.id);
  }
  // Appends the record after the last one (its sequence is the next).
  virtual void putAudit(const AuditEntry& entry) = 0;
  virtual void setKdfIterations(uint32_t iterations) = 0;
  // The host whose per-host records (containers) this transaction sees and writes, and whom
  // its audit records name; empty for a store that serves one host.
  virtual std::string host() const { return {}; }
};

class Store {
 public:
  // The embedded store, LMDB in dir (lmdb_store.hpp). create makes a new, empty store (dir
  // made if missing) and fails if one is there already; open refuses a missing store or an
  // unknown schema version.
  static std::unique_ptr<Store> create(const std::filesystem::path& dir,
                                       size_t initialMapSize = kDefaultMapSize);
  static std::unique_ptr<Store> open(const std::filesystem::path& dir,
                                     size_t initialMapSize = kDefaultMapSize);

  virtual ~Store() = default;

  // Runs fn in a read-only snapshot and returns what it returns.
  template <typename Fn>
  auto read(Fn&& fn) const {
    using Result = decltype(fn(std::declval<const ReadTxn&>()));
    if constexpr (std::is_void_v<Result>) {
      readSnapshot([&](const ReadTxn& txn) { fn(txn); });
    } else {
      std::optional<Result> out;
      readSnapshot([&](const ReadTxn& txn) { out.emplace(fn(txn)); });
      return std::move(*out);
    }
  }

  // Runs fn in one write transaction and commits it durably. fn may run more than once (the
  // store may retry from scratch), so it must have no effect outside the transaction.
  virtual void write(const std::function<void(WriteTxn&)>& fn) = 0;

  // For a store others write too: fn runs (on a thread of the store's) after each change it
  // learns of, within a second of its commit. An empty fn stops the calls; it returns once
  // none is running. A store only keyd writes never calls it.
  virtual void watch(std::function<void(StoreChange)> fn) { (void)fn; }
  // Empty while the store answers; otherwise why not (a shared store out of reach).
  virtual std::string problem() const { return {}; }

 protected:
  virtual void readSnapshot(const std::function<void(const ReadTxn&)>& fn) const = 0;
};

}  // namespace vhsm::store
