// The audit chain: record i carries hash_i = SHA-256(fields_i ‖ hash_{i-1}), so editing,
// removing or reordering any record breaks every later link. Appending happens inside the
// same write transaction as the change it records.
#pragma once

#include <string>

#include "protocol/vhsm.capnp.h"
#include "store/store.hpp"

namespace vhsm::keyd {

struct AuditEvent {
  std::string actor;
  std::string container;
  std::string action;
  std::string target;
  proto::ErrorCode result = proto::ErrorCode::OK;
  std::string detail;
};

// Returns the record as stored (sequence, time, hashes).
store::AuditEntry appendAudit(store::WriteTxn& txn, const AuditEvent& event);

// One line for syslog: every field, the chain position and hash, control characters escaped.
std::string auditLine(const store::AuditEntry& e);

struct AuditVerdict {
  uint64_t records = 0;
  bool ok = true;
  uint64_t firstBadSequence = 0;
};
AuditVerdict verifyAudit(const store::ReadTxn& txn);

}  // namespace vhsm::keyd
