// How the service's requests reach the audit chain: a change and its record in one durable
// transaction; logins queued (they change nothing stored); refusals within a per-container
// rate limit, so a flooding neighbour cannot keep keyd busy writing its own trail.
#pragma once

#include <functional>
#include <string>

#include "keyd/audit/audit.hpp"
#include "keyd/audit/audit_writer.hpp"
#include "keyd/service/container_directory.hpp"
#include "keyd/service/refusal_limiter.hpp"
#include "keyd/service/session.hpp"

namespace vhsm::keyd {

class Auditor {
 public:
  Auditor(store::Store& store, ContainerDirectory& containers);

  AuditEvent eventFor(Session& s, const char* action, const std::string& target);
  // Makes the change and appends its record in one durable transaction.
  void audited(Session& s, const char* action, const std::string& target,
               const std::function<void(store::WriteTxn&)>& change, std::string detail = {});
  // Written after the reply, in order with everything else.
  void enqueue(AuditEvent event) { writer_.enqueue(std::move(event)); }
  // Never throws. queued: for a refusal no reply waits for (written off the calling thread).
  void refusal(Session& s, const char* action, const std::string& target, proto::ErrorCode code,
               const std::string& detail, bool queued = false);
  // Returns once every record enqueued so far is durable.
  void flush() { writer_.flush(); }
  size_t queued() { return writer_.queued(); }
  void mirrorToSyslog() { writer_.mirrorToSyslog(); }

 private:
  ContainerDirectory& containers_;
  RefusalLimiter limiter_;
  AuditWriter writer_;  // last: destroyed first, writing its queue while the rest stands
};

}  // namespace vhsm::keyd
