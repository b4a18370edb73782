#include "keyd/service/refusal_limiter.hpp"

namespace vhsm::keyd {

namespace {
constexpr size_t kMaxTrackedKeys = 4096;
}

std::optional<uint64_t> RefusalLimiter::admit(const std::string& key) {
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  // Bound the table (containers x kinds), forgetting only counters.
  if (buckets_.size() >= kMaxTrackedKeys && !buckets_.count(key)) buckets_.clear();
  auto& b = buckets_[key];
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
