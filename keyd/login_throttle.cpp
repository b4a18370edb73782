#include "login_throttle.hpp"

#include <algorithm>

namespace vhsm::keyd {

namespace {

uint32_t millisUntil(LoginThrottle::Clock::time_point t) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(t - LoginThrottle::Clock::now());
  return left.count() > 0 ? uint32_t(left.count()) : 0;
}

}  // namespace

uint32_t LoginThrottle::begin(const Who& who) {
  std::lock_guard lock(mutex_);
  auto& state = states_[who];
  if (uint32_t wait = millisUntil(state.notBefore)) return wait;
  unsigned allowed = state.failures < kFreeFailures ? kFreeFailures - state.failures : 1;
  if (state.running >= allowed) return kBusyRetryMillis;
  ++state.running;
  return 0;
}

uint32_t LoginThrottle::end(const Who& who, bool succeeded) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(who);
  if (it == states_.end()) return 0;
  auto& state = it->second;
  --state.running;
  if (succeeded) {
    state.failures = 0;
    state.notBefore = {};
  } else if (++state.failures >= kFreeFailures) {
    unsigned doublings = std::min(state.failures - kFreeFailures, 16u);
    state.notBefore = Clock::now() + std::min<std::chrono::milliseconds>(
                                         kFirstDelay * (1u << doublings), kMaxDelay);
  }
  uint32_t delay = millisUntil(state.notBefore);
  if (state.running == 0 && state.failures == 0) states_.erase(it);
  return delay;
}

void LoginThrottle::forget(const std::string& user) {
  std::lock_guard lock(mutex_);
  std::erase_if(states_, [&](const auto& entry) { return entry.first.user == user; });
}

}  // namespace vhsm::keyd
