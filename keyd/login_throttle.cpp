#include "login_throttle.hpp"

#include <algorithm>

namespace vhsm::keyd {

uint32_t LoginThrottle::waitMillis(const std::string& user, const std::string& container) {
  std::lock_guard lock(mutex_);
  auto it = states_.find({user, container});
  if (it == states_.end()) return 0;
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(it->second.notBefore - Clock::now());
  return left.count() > 0 ? uint32_t(left.count()) : 0;
}

uint32_t LoginThrottle::failed(const std::string& user, const std::string& container) {
  std::lock_guard lock(mutex_);
  auto& state = states_[{user, container}];
  ++state.failures;
  if (state.failures < kFreeFailures) return 0;
  unsigned doublings = std::min(state.failures - kFreeFailures, 16u);
  auto delay = std::min<std::chrono::milliseconds>(kFirstDelay * (1u << doublings), kMaxDelay);
  state.notBefore = Clock::now() + delay;
  return uint32_t(delay.count());
}

void LoginThrottle::succeeded(const std::string& user, const std::string& container) {
  std::lock_guard lock(mutex_);
  states_.erase({user, container});
}

void LoginThrottle::forget(const std::string& user) {
  std::lock_guard lock(mutex_);
  std::erase_if(states_, [&](const auto& entry) { return entry.first.first == user; });
}

}  // namespace vhsm::keyd
