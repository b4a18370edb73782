// Online password guessing is slowed per (user, container, peer uid): after a few failures
// each further attempt must wait a doubling delay. An attempt is counted as a failure before
// its PBKDF2 work starts and forgiven when it succeeds, so concurrent guesses cannot all pass
// the check before any of them is recorded. Keyed by container and uid so that neither a
// hostile neighbour nor another local user can lock a user out: their failures are their own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace vhsm::keyd {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr unsigned kFreeFailures = 3;
  static constexpr std::chrono::milliseconds kFirstDelay{1000};
  static constexpr std::chrono::milliseconds kMaxDelay{60000};

  struct Who {
    std::string user, container;
    uid_t uid = 0;
    auto operator<=>(const Who&) const = default;
  };

  // Reserves an attempt: returns the milliseconds the caller must still wait (the attempt is
  // refused and not counted), or 0 when it may go ahead, counted as a failure until
  // succeeded().
  uint32_t begin(const Who& who);
  // The delay the reserved attempt's failure imposes (0 while failures are free).
  uint32_t delayAfterFailure(const Who& who);
  void succeeded(const Who& who);
  void forget(const std::string& user);

 private:
  struct State {
    unsigned failures = 0;
    Clock::time_point notBefore;
  };
  std::mutex mutex_;
  std::map<Who, State> states_;
};

}  // namespace vhsm::keyd
