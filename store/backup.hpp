// A backup: every record of one snapshot (settings, users, this host's containers, keys, the
// audit chain) as the stores keep them — wrapped — in one file that states its length and
// ends with a SHA-256 of itself, so a truncated or damaged file is refused before anything is
// written. (The checksum finds damage, not an attacker: one who can write the file can write a
// new checksum. Keys stay wrapped and the audit chain verifies either way.) Restored into a new,
// empty store of either kind: the same file migrates LMDB → etcd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace vhsm::store {

struct BackupContents {
  uint32_t kdfIterations = 0;
  std::vector<User> users;
  std::vector<Container> containers;
  std::vector<Key> keys;
  std::vector<AuditEntry> audit;
};

std::string writeBackup(const ReadTxn& snapshot);
// Throws StoreError naming what is wrong: not a backup, truncated, altered, another version.
BackupContents readBackup(std::string_view file);
// Into a store that holds nothing yet, in transactions of at most a hundred records (etcd's
// limit on one transaction's operations is 128 by default).
void restoreBackup(const BackupContents& backup, Store& into);

}  // namespace vhsm::store
