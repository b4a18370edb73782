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
    s.backup.reset();
    // A whole store in keyd's locked memory per backup: a few at a time.
    if (inFlight_.fetch_add(1) >= kMaxInFlight) {
      --inFlight_;
      throw Refusal(proto::ErrorCode::TOO_MANY_OPERATIONS,
                    "other backups are being read out; try again when they are done");
    }
    std::unique_ptr<const std::string> file;
    try {
      // Recorded durably first (no record, no backup), so that the chain in the backup ends
      // with the backup itself and everything recorded before it.
      auditor_.audited(s, "backup", "", [](store::WriteTxn&) {});
      file = std::make_unique<const std::string>(
          store_.read([](const store::ReadTxn& txn) { return store::writeBackup(txn); }));
    } catch (...) {
      --inFlight_;
      throw;
    }
    // The slot is given back when the session lets the snapshot go (read out, replaced, or
    // the session's end).
    s.backup = std::shared_ptr<const std::string>(file.release(), [this](const std::string* f) {
      delete f;
      --inFlight_;
    });
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
