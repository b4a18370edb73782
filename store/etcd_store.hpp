// The shared store: every record under one prefix of an etcd cluster, so that keyds on several
// hosts serve the same users, keys and audit chain (docs/cluster.md). Per-host records
// (container registrations) sit under the host's name. A snapshot is every read at one etcd
// revision; a write transaction is one etcd transaction, applied only if nothing it read has
// changed since (else it runs again), and acknowledged only once etcd has committed it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_client.hpp"
#include "store/store.hpp"

namespace vhsm::store {

struct EtcdStoreOptions {
  EtcdOptions etcd;
  std::string prefix;  // "/vhsm": keys are prefix + "/users/…"
  std::string host;    // names this keyd's per-host records and its audit records
  // The cluster's record key (--etcd-record-key, at least 32 bytes, the same on every host,
  // never in etcd): every value carries an HMAC-SHA256 under it, bound to its etcd key, so
  // that etcd write access alone cannot make a record keyd believes (docs/cluster.md).
  std::vector<uint8_t> recordKey;
};

// "etcd://HOST:PORT[,HOST:PORT…]/PREFIX" into endpoints and prefix; throws on anything else.
EtcdStoreOptions parseEtcdUri(const std::string& uri);
bool isEtcdUri(const std::string& spec);

class EtcdStore final : public Store {
 public:
  // create fails if the prefix holds a store already; open checks the schema when etcd
  // answers and otherwise opens anyway, not ready (problem()) until it does.
  static std::unique_ptr<EtcdStore> create(EtcdStoreOptions options);
  static std::unique_ptr<EtcdStore> open(EtcdStoreOptions options);
  ~EtcdStore() override;

  void write(const std::function<void(WriteTxn&)>& fn) override;
  void watch(std::function<void(StoreChange)> fn) override;
  std::string problem() const override;

  // Layout, for the transactions in etcd_store.cpp.
  struct Keys {
    std::string meta, users, keys, audit, containers;
  };

 protected:
  void readSnapshot(const std::function<void(const ReadTxn&)>& fn) const override;

 private:
  explicit EtcdStore(EtcdStoreOptions options);
  void checkSchema();
  void watchLoop();
  void noteSuccess() const;
  void noteFailure(const std::string& why) const;
  void noteWatch(const std::string& problem);

  EtcdStoreOptions options_;
  Keys keys_;
  mutable EtcdClient client_;
  mutable std::mutex problemMutex_;
  mutable std::string problem_;  // the last request's failure, cleared by a success
  std::string watchProblem_;     // set while the watch is not following the store
  std::atomic<bool> schemaChecked_{false};

  std::mutex watchMutex_;
  std::condition_variable watchIdle_;
  std::function<void(StoreChange)> listener_;
  bool notifying_ = false;
  std::atomic<bool> stopWatch_{false};
  std::thread watcher_;
};

}  // namespace vhsm::store
