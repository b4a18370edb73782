#include "keyd/service/init_store.hpp"

#include <chrono>

#include "keyd/audit/audit.hpp"
#include "keyd/crypto/keyring.hpp"
#include "keyd/service/user_flags.hpp"

namespace vhsm::keyd {

void initStore(const std::filesystem::path& dir, std::span<const uint8_t> rootPassword,
               uint32_t kdfIterations) {
  initStore(*store::Store::create(dir), rootPassword, kdfIterations);
}

void initStore(store::Store& store, std::span<const uint8_t> rootPassword, uint32_t kdfIterations) {
  store::User root;
  root.name = "root";
  root.isSo = true;
  root.flags = kFlagRead | kFlagCreate | kFlagModify | kFlagDelete | kFlagCreateExtended;
  root.containers = {"host"};
  root.createdUnixSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  createUserSecret(root, rootPassword, kdfIterations);
  store.write([&](store::WriteTxn& txn) {
    txn.setKdfIterations(kdfIterations);
    txn.putUser(root);
    appendAudit(txn, {"", "host", "init", "root", proto::ErrorCode::OK,
                      std::to_string(kdfIterations) + " PBKDF2 iterations"});
  });
}

}  // namespace vhsm::keyd
