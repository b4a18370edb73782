// Online password guessing is slowed per (user, container): after a few failures each further
// attempt must wait a doubling delay, checked before any PBKDF2 work is spent. Keyed by
// container so a hostile neighbour cannot lock a user out of its own container.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace vhsm::keyd {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr unsigned kFreeFailures = 3;
  static constexpr std::chrono::milliseconds kFirstDelay{1000};
  static constexpr std::chrono::milliseconds kMaxDelay{60000};

  // Milliseconds the caller must still wait, 0 when an attempt may go ahead.
  uint32_t waitMillis(const std::string& user, const std::string& container);
  // Records a failure; returns the delay now imposed (0 while failures are free).
  uint32_t failed(const std::string& user, const std::string& container);
  void succeeded(const std::string& user, const std::string& container);
  void forget(const std::string& user);

 private:
  struct State {
    unsigned failures = 0;
    Clock::time_point notBefore;
  };
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, State> states_;
};

}  // namespace vhsm::keyd
