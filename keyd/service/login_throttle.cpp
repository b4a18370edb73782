#include "keyd/service/login_throttle.hpp"

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
  // Entries whose delay has passed keep only a failure count; past a bound they are dropped,
  // so that guesses from many (user, container) pairs cannot grow the table without end.
  if (states_.size() >= kMaxEntries) {
    auto now = Clock::now();
    std::erase_if(states_, [&](const auto& entry) {
      return entry.second.running == 0 && entry.second.notBefore <= now;
    });
  }
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
  // Attempts still running keep their entry, or their end() would count against a new one.
  for (auto it = states_.begin(); it != states_.end();) {
    if (it->first.user != user) {
      ++it;
    } else if (it->second.running == 0) {
      it = states_.erase(it);
    } else {
      it->second.failures = 0;
      it->second.notBefore = {};
      ++it;
    }
  }
}

}  // namespace vhsm::keyd
