// Writes the audit records that go with no change of their own — successful logins — off the
// request path. A durable LMDB commit costs two syncs (0.5–2 ms here), which a login's reply
// would otherwise wait for: most of what a short-lived `openssl` process pays for using keyd.
// Queued records are written together, one transaction per batch, so a burst of logins costs
// one commit, not one each. Anything that reads or extends the audit chain flushes first, so
// the chain keeps the order in which keyd answered, and `audit list` shows every login
// answered before it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "audit.hpp"
#include "store.hpp"

namespace vhsm::keyd {

class AuditWriter {
 public:
  explicit AuditWriter(store::Store& store);
  ~AuditWriter();  // writes what is queued, then stops
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Waits only when kMaxQueued records are already waiting (a login flood).
  void enqueue(AuditEvent event);
  // Returns once every record enqueued before the call is durable (or failed and was logged).
  void flush();

 private:
  static constexpr size_t kMaxQueued = 4096;
  void run();

  store::Store& store_;
  std::mutex mutex_;
  std::condition_variable queued_, written_;
  std::vector<AuditEvent> queue_;
  uint64_t enqueued_ = 0, done_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace vhsm::keyd
