#include "refusal_limiter.hpp"

namespace vhsm::keyd {

namespace {
constexpr size_t kMaxTrackedContainers = 4096;
}

std::optional<uint64_t> RefusalLimiter::admit(const std::string& container) {
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  // Unregistered namespaces each get a name: bound the table, forgetting only counters.
  if (buckets_.size() >= kMaxTrackedContainers && !buckets_.count(container)) buckets_.clear();
  auto& b = buckets_[container];
  if (now - b.second >= std::chrono::seconds(1)) {
    b.second = now;
    b.written = 0;
  }
  if (b.written >= kRecordsPerSecond) {
    ++b.suppressed;
    return std::nullopt;
  }
  ++b.written;
  uint64_t leftOut = b.suppressed;
  b.suppressed = 0;
  return leftOut;
}

}  // namespace vhsm::keyd
