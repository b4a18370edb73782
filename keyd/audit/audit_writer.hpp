// Appends every audit record. Those that go with no change of their own — successful logins —
// are written off the request path. A durable LMDB commit costs two syncs (0.5–2 ms here), which a
// login's reply would otherwise wait for: most of what a short-lived `openssl` process pays for
// using keyd. Queued records are written together, one transaction per batch, so a burst of logins
// costs one commit, not one each. A record written at once, and anything that reads the chain,
// waits for the queue first, so the chain keeps the order in which keyd answered and `audit list`
// shows every login answered before it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "keyd/audit/audit.hpp"
#include "store/store.hpp"

namespace vhsm::keyd {

class AuditWriter {
 public:
  explicit AuditWriter(store::Store& store);
  ~AuditWriter();  // writes what is queued, then stops
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Waits only when kMaxQueued records are already waiting (a login flood).
  void enqueue(AuditEvent event);
  // After the queue: makes change (if any) and appends event in one durable transaction.
  void writeNow(const AuditEvent& event,
                const std::function<void(store::WriteTxn&)>& change = nullptr);
  // Returns once every record enqueued before the call is durable (or failed and was logged).
  void flush();
  // How many records wait to be written now.
  size_t queued();
  // From now on, each record is also sent to syslog (facility authpriv) once it is committed,
  // with its sequence number and hash, so that a copy leaves the host as the chain grows.
  void mirrorToSyslog();

 private:
  static constexpr size_t kMaxQueued = 4096;
  void run();

  store::Store& store_;
  std::mutex mutex_;
  std::condition_variable queued_, written_;
  std::vector<AuditEvent> queue_;
  uint64_t enqueued_ = 0, done_ = 0;
  bool stopping_ = false;
  std::atomic<bool> syslog_{false};
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace vhsm::keyd
