#include "keyd/service/backup_requests.hpp"

#include "keyd/service/refusal.hpp"
#include "keyd/service/user_flags.hpp"
#include "protocol/frame.hpp"
#include "store/backup.hpp"

namespace vhsm::keyd {

BackupRequests::BackupRequests(store::Store& store, Access& access, Auditor& auditor)
    : store_(store), access_(access), auditor_(auditor) {}

void BackupRequests::backup(Session& s, uint64_t offset, proto::Response::Builder out) {
  // Every wrapped record leaves keyd: the right to read, as a security officer.
  access_.requireSo(s, kFlagRead);
  if (offset == 0) {
    // Recorded first, so that the chain in the backup ends with the backup itself and with
    // everything recorded before it.
    auditor_.enqueue(auditor_.eventFor(s, "backup", ""));
    auditor_.flush();
    s.backup = std::make_shared<const std::string>(
        store_.read([](const store::ReadTxn& txn) { return store::writeBackup(txn); }));
  } else if (!s.backup) {
    throw Refusal(proto::ErrorCode::INVALID_ARGUMENT,
                  "no backup in progress on this connection: start at offset 0");
  }
  const std::string& file = *s.backup;
  out.setBackupSize(file.size());
  if (offset > file.size())
    throw Refusal(proto::ErrorCode::INVALID_ARGUMENT,
                  "offset " + std::to_string(offset) + " is past the backup's end");
  size_t n = std::min(proto::kMaxChunk, file.size() - size_t(offset));
  out.setBytes({reinterpret_cast<const kj::byte*>(file.data() + offset), n});
  if (offset + n == file.size()) s.backup.reset();
}

}  // namespace vhsm::keyd
