#include "keyd/audit/audit_writer.hpp"

#include <syslog.h>
#include <algorithm>

#include "keyd/base/log.hpp"

namespace vhsm::keyd {

namespace {

// etcd refuses a transaction of more than 128 operations by default; each record is one.
constexpr size_t kMaxPerCommit = 100;

void toSyslog(const store::AuditEntry& e) {
  syslog(LOG_AUTHPRIV | (e.result == 0 ? LOG_INFO : LOG_NOTICE), "%s", auditLine(e).c_str());
}

}  // namespace

void AuditWriter::mirrorToSyslog() {
  openlog("vhsm-keyd", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
  syslog_ = true;
}

AuditWriter::AuditWriter(store::Store& store) : store_(store), thread_([this] { run(); }) {}

AuditWriter::~AuditWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_one();
  thread_.join();
}

void AuditWriter::enqueue(AuditEvent event) {
  std::unique_lock lock(mutex_);
  written_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(event));
  ++enqueued_;
  lock.unlock();
  queued_.notify_one();
}

void AuditWriter::writeNow(const AuditEvent& event,
                           const std::function<void(store::WriteTxn&)>& change) {
  flush();
  store::AuditEntry appended;
  store_.write([&](store::WriteTxn& txn) {
    if (change) change(txn);
    appended = appendAudit(txn, event);
  });
  if (syslog_) toSyslog(appended);
}

void AuditWriter::flush() {
  std::unique_lock lock(mutex_);
  uint64_t target = enqueued_;
  written_.wait(lock, [&] { return done_ >= target; });
}

void AuditWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    queued_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    auto batch = std::move(queue_);
    queue_.clear();
    lock.unlock();
    // In transactions of kMaxPerCommit: a shared store bounds one transaction's size. A
    // transaction that fails loses its records only (logged), not the ones after it.
    for (size_t first = 0; first < batch.size(); first += kMaxPerCommit) {
      size_t last = std::min(batch.size(), first + kMaxPerCommit);
      std::string failure;
      std::vector<store::AuditEntry> appended;
      try {
        store_.write([&](store::WriteTxn& txn) {
          appended.clear();  // the store may run this again
          for (size_t i = first; i < last; ++i) appended.push_back(appendAudit(txn, batch[i]));
        });
        if (syslog_)
          for (const auto& e : appended) toSyslog(e);
      } catch (const std::exception& e) {
        failure = e.what();
      } catch (...) {  // Cap'n Proto's kj::Exception; escaping this thread would end keyd
        failure = "unexpected exception";
      }
      if (!failure.empty())
        logError("cannot write " + std::to_string(last - first) + " audit records: " + failure);
    }
    lock.lock();
    done_ += batch.size();
    written_.notify_all();
  }
}

size_t AuditWriter::queued() {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace vhsm::keyd
