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
  ++state.failures;
  if (state.failures >= kFreeFailures) {
    unsigned doublings = std::min(state.failures - kFreeFailures, 16u);
    state.notBefore = Clock::now() + std::min<std::chrono::milliseconds>(
                                         kFirstDelay * (1u << doublings), kMaxDelay);
  }
  return 0;
}

uint32_t LoginThrottle::delayAfterFailure(const Who& who) {
  std::lock_guard lock(mutex_);
  auto it = states_.find(who);
  return it == states_.end() ? 0 : millisUntil(it->second.notBefore);
}

void LoginThrottle::succeeded(const Who& who) {
  std::lock_guard lock(mutex_);
  states_.erase(who);
}

void LoginThrottle::forget(const std::string& user) {
  std::lock_guard lock(mutex_);
  std::erase_if(states_, [&](const auto& entry) { return entry.first.user == user; });
}

}  // namespace vhsm::keyd
