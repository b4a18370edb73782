#include "keyd/audit/audit_writer.hpp"

#include "keyd/base/log.hpp"

namespace vhsm::keyd {

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
  store_.write([&](store::WriteTxn& txn) {
    if (change) change(txn);
    appendAudit(txn, event);
  });
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
    std::string failure;
    try {
      store_.write([&](store::WriteTxn& txn) {
        for (const auto& event : batch) appendAudit(txn, event);
      });
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {  // Cap'n Proto's kj::Exception; escaping this thread would end keyd
      failure = "unexpected exception";
    }
    if (!failure.empty())
      logError("cannot write " + std::to_string(batch.size()) + " audit records: " + failure);
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
