#include "store/etcd_store.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "store/record_codec.hpp"

namespace vhsm::store {
namespace {

constexpr char kSchemaKey[] = "schema_version";
constexpr char kIterationsKey[] = "kdf_iterations";
constexpr int kMaxAttempts = 64;
constexpr size_t kTagBytes = 32;
constexpr size_t kMinRecordKeyBytes = 32;

// value ‖ HMAC-SHA256(record key, "vhsm-record-1" ‖ len(name) ‖ name ‖ value): a record is
// only good under its own etcd key, so one cannot be copied to another name (root's record
// to a new user's). It cannot stop a record being put back under its own name (a replay).
std::string tagOf(const std::vector<uint8_t>& recordKey, const std::string& name,
                  std::string_view value) {
  std::string message = "vhsm-record-1";
  for (int i = 0; i < 4; ++i) message += char(uint8_t(name.size() >> (8 * i)));
  message += name;
  message += value;
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), recordKey.data(), int(recordKey.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), tag, &length))
    throw StoreError("cannot compute a record's HMAC");
  return std::string(reinterpret_cast<const char*>(tag), length);
}

std::string seal(const std::vector<uint8_t>& recordKey, const std::string& name,
                 std::string value) {
  std::string tag = tagOf(recordKey, name, value);
  return value + tag;
}

std::string unseal(const std::vector<uint8_t>& recordKey, const std::string& name,
                   std::string value) {
  if (value.size() >= kTagBytes) {
    std::string_view body(value.data(), value.size() - kTagBytes);
    std::string tag = tagOf(recordKey, name, body);
    if (CRYPTO_memcmp(tag.data(), value.data() + body.size(), kTagBytes) == 0) {
      value.resize(body.size());
      return value;
    }
  }
  throw StoreError("etcd record " + name +
                   " fails authentication: written without this cluster's record key");
}

std::string sequenceKey(uint64_t sequence) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(sequence));
  return hex;
}

// Runs fn, turning the client's failures into the store's: out of reach is StoreUnavailable,
// anything else etcd says is a StoreError. What fn throws of its own (a refusal) passes.
template <typename Fn>
auto guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const EtcdUnavailable& e) {
    throw StoreUnavailable(std::string(e.what()) +
                           (e.sent() ? " (the change may or may not have been applied)" : ""));
  } catch (const EtcdError& e) {
    throw StoreError(e.what());
  }
}

// Every read at one revision (the first read's); in a write transaction, also what it read,
// as compares, and what it writes, seen by its own later reads.
class EtcdTxn final : public WriteTxn {
 public:
  EtcdTxn(EtcdClient& client, const EtcdStore::Keys& keys, const std::string& host,
          const std::vector<uint8_t>& recordKey, bool writable)
      : client_(client), k_(keys), host_(host), recordKey_(recordKey), writable_(writable) {}

  std::optional<User> user(const std::string& name) const override {
    auto v = get(k_.users + name);
    return v ? std::optional(decodeUser(*v)) : std::nullopt;
  }
  std::vector<User> users() const override {
    std::vector<User> out;
    for (auto& [key, value] : scan(k_.users, EtcdClient::prefixEnd(k_.users)))
      out.push_back(decodeUser(value));
    return out;
  }
  std::optional<Container> container(const std::string& name) const override {
    auto v = get(k_.containers + name);
    return v ? std::optional(decodeContainer(*v)) : std::nullopt;
  }
  std::vector<Container> containers() const override {
    std::vector<Container> out;
    for (auto& [key, value] : scan(k_.containers, EtcdClient::prefixEnd(k_.containers)))
      out.push_back(decodeContainer(value));
    return out;
  }
  std::optional<Key> key(const std::string& owner, const std::string& id) const override {
    auto v = get(keyName(owner, id));
    return v ? std::optional(decodeKey(*v)) : std::nullopt;
  }
  std::vector<Key> keys(const std::string& owner, const std::string& startAfter,
                        size_t limit) const override {
    // Names are of A-Za-z0-9._-: "id\0" is the first key after id.
    std::string first = keyName(owner, startAfter);
    if (!startAfter.empty()) first.push_back('\0');
    std::vector<Key> out;
    for (auto& [key, value] : scan(first, EtcdClient::prefixEnd(keyName(owner, "")), limit))
      out.push_back(decodeKey(value));
    return out;
  }
  std::vector<AuditEntry> audit(uint64_t fromSequence, uint32_t limit) const override {
    std::vector<AuditEntry> out;
    for (auto& [key, value] :
         scan(k_.audit + sequenceKey(fromSequence), EtcdClient::prefixEnd(k_.audit), limit))
      out.push_back(decodeAudit(value));
    return out;
  }
  std::optional<AuditEntry> lastAudit() const override {
    std::string end = EtcdClient::prefixEnd(k_.audit);
    auto pendingLast = pending_.lower_bound(end);
    if (pendingLast != pending_.begin() && (--pendingLast)->first.rfind(k_.audit, 0) == 0 &&
        pendingLast->second)
      return decodeAudit(*pendingLast->second);
    auto r = read(k_.audit, end, 1, true);
    std::optional<AuditEntry> last;
    if (!r.kvs.empty())
      last = decodeAudit(unseal(recordKey_, r.kvs.front().key, std::move(r.kvs.front().value)));
    // The chain's head: the append that follows commits only if no record came after it.
    if (writable_)
      compares_.push_back({k_.audit + sequenceKey(last ? last->sequence + 1 : 1), end,
                           EtcdCompare::Target::createRevision, EtcdCompare::Result::equal, 0});
    return last;
  }
  uint32_t kdfIterations() const override {
    auto v = get(k_.meta + kIterationsKey);
    if (!v) throw StoreError("store has no KDF iteration count");
    return uint32_t(std::stoul(*v));
  }

  void putUser(const User& user) override { pending_[k_.users + user.name] = encodeUser(user); }
  bool deleteUser(const std::string& name) override { return erase(k_.users + name); }
  void putContainer(const Container& c) override {
    pending_[k_.containers + c.name] = encodeContainer(c);
  }
  bool deleteContainer(const std::string& name) override { return erase(k_.containers + name); }
  bool putKey(const Key& key, bool overwrite) override {
    std::string name = keyName(key.owner, key.id);
    if (!overwrite && get(name)) return false;
    pending_[name] = encodeKey(key);
    return true;
  }
  bool deleteKey(const std::string& owner, const std::string& id) override {
    return erase(keyName(owner, id));
  }
  // One ranged delete, however many keys: etcd bounds a transaction's operations.
  void deleteKeys(const std::string& owner) override {
    std::string first = keyName(owner, ""), end = EtcdClient::prefixEnd(first);
    pending_.erase(pending_.lower_bound(first), pending_.lower_bound(end));
    erasedRanges_.emplace_back(first, end);
  }
  void putAudit(const AuditEntry& entry) override {
    std::string name = k_.audit + sequenceKey(entry.sequence);
    compares_.push_back(
        {name, "", EtcdCompare::Target::createRevision, EtcdCompare::Result::equal, 0});
    pending_[name] = encodeAudit(entry);
  }
  void setKdfIterations(uint32_t iterations) override {
    pending_[k_.meta + kIterationsKey] = std::to_string(iterations);
  }
  std::string host() const override { return host_; }

  // false: something it read changed before it could commit; nothing was written.
  bool commit() {
    if (pending_.empty() && erasedRanges_.empty()) return true;
    std::vector<EtcdOp> ops;
    // Ranges first: a key written after its range was erased stays.
    for (auto& [first, end] : erasedRanges_) ops.push_back({first, "", true, end});
    for (auto& [key, value] : pending_)
      ops.push_back({key, value ? seal(recordKey_, key, *value) : "", !value, ""});
    return client_.txn(compares_, ops);
  }

 private:
  std::string keyName(const std::string& owner, const std::string& id) const {
    return k_.keys + owner + "/" + id;
  }

  EtcdRange read(const std::string& key, const std::string& end, int64_t limit = 0,
                 bool descending = false) const {
    auto r = client_.range(key, end, revision_, limit, descending);
    if (!revision_) revision_ = r.revision;
    return r;
  }

  bool erased(const std::string& key) const {
    for (const auto& [first, end] : erasedRanges_)
      if (key >= first && key < end) return true;
    return false;
  }

  std::optional<std::string> get(const std::string& key) const {
    if (auto it = pending_.find(key); it != pending_.end()) return it->second;
    if (erased(key)) return std::nullopt;
    auto r = read(key, "");
    if (writable_)
      compares_.push_back({key, "", EtcdCompare::Target::modRevision, EtcdCompare::Result::equal,
                           r.kvs.empty() ? 0 : r.kvs.front().modRevision});
    if (r.kvs.empty()) return std::nullopt;
    return unseal(recordKey_, key, std::move(r.kvs.front().value));
  }

  std::map<std::string, std::string> scan(const std::string& first, const std::string& end,
                                          size_t limit = 0) const {
    auto r = read(first, end, int64_t(limit));
    // Nothing in the range may change (or appear) before this transaction commits.
    if (writable_)
      compares_.push_back(
          {first, end, EtcdCompare::Target::modRevision, EtcdCompare::Result::less, revision_ + 1});
    std::map<std::string, std::string> out;
    for (auto& kv : r.kvs) {
      auto value = unseal(recordKey_, kv.key, std::move(kv.value));
      if (writable_) scanned_.insert(kv.key);
      if (!erased(kv.key)) out.emplace(std::move(kv.key), std::move(value));
    }
    for (auto it = pending_.lower_bound(first); it != pending_.end() && it->first < end; ++it) {
      if (it->second)
        out[it->first] = *it->second;
      else
        out.erase(it->first);
    }
    while (limit && out.size() > limit) out.erase(std::prev(out.end()));
    return out;
  }

  // A key a range read found needs no read (and no compare) of its own: the range's compare
  // covers it. So deleting a user's keys costs one operation each, not a read and a compare.
  bool erase(const std::string& key) {
    auto it = pending_.find(key);
    bool existed = it != pending_.end()
                       ? it->second.has_value()
                       : !erased(key) && (scanned_.count(key) != 0 || get(key).has_value());
    pending_[key] = std::nullopt;
    return existed;
  }

  EtcdClient& client_;
  const EtcdStore::Keys& k_;
  const std::string& host_;
  const std::vector<uint8_t>& recordKey_;
  bool writable_;
  mutable int64_t revision_ = 0;
  mutable std::vector<EtcdCompare> compares_;
  mutable std::set<std::string> scanned_;  // keys a range read of this transaction found
  std::vector<std::pair<std::string, std::string>> erasedRanges_;  // [first, end) deleted
  std::map<std::string, std::optional<std::string>> pending_;
};

}  // namespace

bool isEtcdUri(const std::string& spec) {
  return spec.rfind("etcd://", 0) == 0;
}

EtcdStoreOptions parseEtcdUri(const std::string& uri) {
  if (!isEtcdUri(uri)) throw StoreError("not an etcd store: " + uri);
  std::string rest = uri.substr(7);
  size_t slash = rest.find('/');
  std::string hosts = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix.size() < 2)
    throw StoreError("etcd store " + uri + " names no prefix (etcd://HOST:PORT[,…]/PREFIX)");
  EtcdStoreOptions o;
  o.prefix = prefix;
  size_t start = 0;
  while (start <= hosts.size()) {
    size_t comma = hosts.find(',', start);
    std::string endpoint = hosts.substr(start, comma - start);
    size_t colon = endpoint.rfind(':');
    if (endpoint.empty() || colon == std::string::npos || colon == 0 ||
        endpoint.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        colon + 1 == endpoint.size())
      throw StoreError("etcd store " + uri + ": \"" + endpoint + "\" is not HOST:PORT");
    o.etcd.endpoints.push_back(endpoint);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return o;
}

EtcdStore::EtcdStore(EtcdStoreOptions options)
    : options_(std::move(options)), client_(options_.etcd) {
  if (options_.recordKey.size() < kMinRecordKeyBytes)
    throw StoreError("an etcd store needs a record key of at least " +
                     std::to_string(kMinRecordKeyBytes) + " bytes (--etcd-record-key)");
  const std::string& p = options_.prefix;
  keys_ = {p + "/meta/", p + "/users/", p + "/keys/", p + "/audit/",
           p + "/hosts/" + options_.host + "/containers/"};
}

EtcdStore::~EtcdStore() {
  stopWatch_ = true;
  if (watcher_.joinable()) watcher_.join();
}

std::unique_ptr<EtcdStore> EtcdStore::create(EtcdStoreOptions options) {
  std::unique_ptr<EtcdStore> store(new EtcdStore(std::move(options)));
  guarded([&] {
    std::string schema = store->keys_.meta + kSchemaKey;
    // Only into an empty prefix: a restore or init must never mix with a store already there.
    bool made = store->client_.txn(
        {{store->options_.prefix + "/", EtcdClient::prefixEnd(store->options_.prefix + "/"),
          EtcdCompare::Target::createRevision, EtcdCompare::Result::equal, 0}},
        {{schema, seal(store->options_.recordKey, schema, std::to_string(kSchemaVersion)), false,
          ""}});
    if (!made) throw StoreError("a store already exists under " + store->options_.prefix);
  });
  store->schemaChecked_ = true;
  return store;
}

std::unique_ptr<EtcdStore> EtcdStore::open(EtcdStoreOptions options) {
  std::unique_ptr<EtcdStore> store(new EtcdStore(std::move(options)));
  try {
    store->checkSchema();
  } catch (const StoreUnavailable& e) {
    store->noteFailure(e.what());  // keyd starts, not ready, and checks once etcd answers
  }
  return store;
}

void EtcdStore::checkSchema() {
  std::string schema = keys_.meta + kSchemaKey;
  auto r = guarded([&] { return client_.range(schema, ""); });
  if (r.kvs.empty())
    throw StoreError("no store under " + options_.prefix +
                     " in etcd (create one with vhsm-admin init or restore)");
  // The first record read: a keyd given another cluster's record key stops here.
  std::string version = unseal(options_.recordKey, schema, r.kvs.front().value);
  if (version != std::to_string(kSchemaVersion))
    throw StoreError("store schema version " + version +
                     " is not supported (this build reads version " +
                     std::to_string(kSchemaVersion) + ")");
  schemaChecked_ = true;
  noteSuccess();
}

void EtcdStore::noteSuccess() const {
  std::lock_guard lock(problemMutex_);
  problem_.clear();
}

void EtcdStore::noteFailure(const std::string& why) const {
  std::lock_guard lock(problemMutex_);
  problem_ = why;
}

std::string EtcdStore::problem() const {
  std::lock_guard lock(problemMutex_);
  // While the watch is down, other hosts' changes do not reach this keyd: not ready, even if
  // requests are answered.
  return !watchProblem_.empty() ? watchProblem_ : problem_;
}

void EtcdStore::noteWatch(const std::string& problem) {
  std::lock_guard lock(problemMutex_);
  watchProblem_ = problem;
}

void EtcdStore::readSnapshot(const std::function<void(const ReadTxn&)>& fn) const {
  try {
    guarded([&] {
      const EtcdTxn txn(client_, keys_, options_.host, options_.recordKey, false);
      fn(txn);
    });
    noteSuccess();
  } catch (const StoreUnavailable& e) {
    noteFailure(e.what());
    throw;
  }
}

void EtcdStore::write(const std::function<void(WriteTxn&)>& fn) {
  thread_local std::minstd_rand random(std::random_device{}());
  try {
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      bool committed = guarded([&] {
        EtcdTxn txn(client_, keys_, options_.host, options_.recordKey, true);
        fn(txn);
        return txn.commit();
      });
      if (committed) {
        noteSuccess();
        return;
      }
      // Another keyd changed what this one read: run again on the new state, after a pause
      // that keeps two hosts from colliding in step.
      std::this_thread::sleep_for(std::chrono::microseconds(
          std::uniform_int_distribution<int>(0, 1000 * std::min(attempt + 1, 10))(random)));
    }
  } catch (const StoreUnavailable& e) {
    noteFailure(e.what());
    throw;
  }
  throw StoreError("etcd: the change kept conflicting with other hosts' changes; try again");
}

void EtcdStore::watch(std::function<void(StoreChange)> fn) {
  std::unique_lock lock(watchMutex_);
  bool start = fn && !watcher_.joinable();
  listener_ = std::move(fn);
  if (start) noteWatch("not yet following etcd's changes");  // until the watch is created
  if (!listener_) watchIdle_.wait(lock, [&] { return !notifying_; });
  if (start) watcher_ = std::thread([this] { watchLoop(); });
}

// Follows every change under the prefix from the revision it starts at. After a lost
// connection it resumes from the revision after the last event it had, on whichever member
// answers, so no change is missed; if etcd has compacted that far, it says "everything".
void EtcdStore::watchLoop() {
  int64_t next = 0;
  auto notify = [&](StoreChange change) {
    std::function<void(StoreChange)> listener;
    {
      std::lock_guard lock(watchMutex_);
      listener = listener_;
      notifying_ = bool(listener);
    }
    if (listener) listener(change);
    std::lock_guard lock(watchMutex_);
    notifying_ = false;
    watchIdle_.notify_all();
  };
  const std::string all = options_.prefix + "/";
  bool missed = false;  // events may have been missed: say "everything" once watching again
  while (!stopWatch_) {
    try {
      if (!schemaChecked_) checkSchema();
      // The revision is taken before "everything" is said, so no change falls between.
      if (next == 0) next = guarded([&] { return client_.range(all, "", 0, 1).revision; }) + 1;
      if (missed) notify(StoreChange::everything);
      missed = false;
      client_.watch(all, EtcdClient::prefixEnd(all), next, stopWatch_,
                    [&](const std::vector<EtcdEvent>& events, int64_t) {
                      noteWatch("");
                      bool users = false, keysRemoved = false, everything = false,
                           containers = false;
                      for (const auto& e : events) {
                        next = std::max(next, e.modRevision + 1);
                        if (e.key.rfind(keys_.users, 0) == 0)
                          users = true;
                        else if (e.key.rfind(keys_.keys, 0) == 0)
                          keysRemoved |= e.erase;
                        else if (e.key.rfind(keys_.containers, 0) == 0)
                          containers = true;
                        else if (e.key.rfind(keys_.meta, 0) == 0)
                          everything = true;
                      }
                      if (everything) notify(StoreChange::everything);
                      if (users) notify(StoreChange::users);
                      if (keysRemoved) notify(StoreChange::keysRemoved);
                      if (containers) notify(StoreChange::containers);
                    });
    } catch (const EtcdCompacted&) {
      next = 0;
      missed = true;
    } catch (const std::exception& e) {
      noteWatch(std::string("etcd watch: ") + e.what());
      for (int i = 0; i < 4 && !stopWatch_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace vhsm::store
