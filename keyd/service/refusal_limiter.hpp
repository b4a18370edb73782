// Bounds how many refusal records of one kind (a key such as "container/code") keyd writes
// per second. Every refusal is a durable write (an fsync): without a bound, a flooding
// neighbour would keep keyd's workers busy writing its own audit trail. Refusals over the
// budget are counted, and the next record written for that key says how many were left out,
// so the audit still shows the flood and its size.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace vhsm::keyd {

class RefusalLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr unsigned kRecordsPerSecond = 20;

  // nullopt: do not write this one. Otherwise: write it, noting that many left out before it.
  std::optional<uint64_t> admit(const std::string& key);

 private:
  struct Bucket {
    Clock::time_point second;
    unsigned written = 0;
    uint64_t suppressed = 0;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace vhsm::keyd
