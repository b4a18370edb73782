// Online password guessing is slowed per (user, container, peer uid): after a few failures
// each further attempt must wait a doubling delay. Attempts are counted before their PBKDF2
// work starts: while free failures remain, at most that many attempts run at once, and once
// they are spent, one at a time — so racing threads cannot get more guesses through than one
// thread could. An attempt kept waiting for others (not for a delay) is told to retry in a few
// milliseconds, which the client library does by itself. Keyed by container, so that a hostile
// neighbour cannot lock a user out, and on the host by uid too (login_requests.cpp), so that
// another local user cannot either.
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

  static constexpr uint32_t kBusyRetryMillis = 20;
  static constexpr size_t kMaxEntries = 65536;

  // Starts an attempt: 0 when it may go ahead (then end() must follow), else the milliseconds
  // after which to retry (kBusyRetryMillis while other attempts are running).
  uint32_t begin(const Who& who);
  // Ends a started attempt; returns the delay a failure imposes (0 while failures are free).
  uint32_t end(const Who& who, bool succeeded);
  void forget(const std::string& user);

 private:
  struct State {
    unsigned failures = 0;
    unsigned running = 0;
    Clock::time_point notBefore;
  };
  std::mutex mutex_;
  std::map<Who, State> states_;
};

}  // namespace vhsm::keyd
