// The embedded store: one LMDB environment in a directory, its map grown by doubling when full.
#pragma once

#include <lmdb.h>

#include <filesystem>
#include <memory>
#include <shared_mutex>

#include "store/store.hpp"

namespace vhsm::store {

class LmdbStore final : public Store {
 public:
  static std::unique_ptr<LmdbStore> create(const std::filesystem::path& dir,
                                           size_t initialMapSize = kDefaultMapSize);
  static std::unique_ptr<LmdbStore> open(const std::filesystem::path& dir,
                                         size_t initialMapSize = kDefaultMapSize);
  ~LmdbStore() override;
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  // When the map is full, the map grows and fn runs again from scratch.
  void write(const std::function<void(WriteTxn&)>& fn) override;

  size_t mapSize() const;
  const std::filesystem::path& directory() const { return dir_; }

  struct Dbs {
    MDB_dbi meta, users, containers, keys, audit;
  };

 protected:
  void readSnapshot(const std::function<void(const ReadTxn&)>& fn) const override;

 private:
  class Txn {
   public:
    Txn(const LmdbStore& store, unsigned flags);
    ~Txn();
    MDB_txn* get() const { return txn_; }
    void commit();

   private:
    MDB_txn* txn_ = nullptr;
  };

  LmdbStore(const std::filesystem::path& dir, bool create, size_t initialMapSize);
  void grow();
  void unlockMap() const;

  std::filesystem::path dir_;
  MDB_env* env_ = nullptr;
  Dbs dbs_{};
  // LMDB may only change the map size while this process has no transaction open.
  mutable std::shared_mutex resizeMutex_;
};

}  // namespace vhsm::store
