// A generation number for what sessions cache. A change that can make a cached answer wrong
// advances it; a session compares its stamp with the current value before trusting its copy.
#pragma once

#include <atomic>
#include <cstdint>

namespace vhsm::keyd {

class Epoch {
 public:
  uint64_t current() const { return value_.load(); }
  void advance() { ++value_; }

 private:
  std::atomic<uint64_t> value_{1};
};

}  // namespace vhsm::keyd
