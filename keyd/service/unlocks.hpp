// Unlocks: a security officer's grant that lets a user log in without a password from one
// container, for a while. keyd holds the unwrapped user secret for each; nothing is stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "keyd/base/secure_memory.hpp"

namespace vhsm::keyd {

class Unlocks {
 public:
  using Clock = std::chrono::steady_clock;
  struct Grant {
    std::vector<uint8_t> userId;  // the user it was made for, not merely the name
    SecretBytes secret;
    Clock::time_point expires;
    std::vector<uint8_t> wrappedSecret;  // the user's record then: another changes with a password
    uint64_t netnsCookie = 0;  // the namespace the container named then, not merely the name
  };
  // What a grant must still match to be used: the user as stored now, the asking namespace.
  struct Holder {
    const std::vector<uint8_t>& userId;
    const std::vector<uint8_t>& wrappedSecret;
    uint64_t netnsCookie;
  };

  void grant(const std::string& user, const std::string& container, Grant grant);
  // A live grant for (user, container) made for holder — the same user, with the same
  // password, asking from the namespace it was granted for; an expired or foreign one is
  // dropped.
  std::optional<Grant> use(const std::string& user, const std::string& container,
                           const Holder& holder);
  // Whether a grant for (user, container) made for holder still exists, expired or not.
  bool holds(const std::string& user, const std::string& container, const Holder& holder);
  // Ends user's grants for which keep(container) is false; returns how many ended.
  size_t end(const std::string& user, const std::function<bool(const std::string&)>& keep);
  void endContainer(const std::string& container);
  // Ends every grant for which keep(user, container, grant) is false (another host changed
  // users in a shared store).
  void retain(
      const std::function<bool(const std::string&, const std::string&, const Grant&)>& keep);

 private:
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Grant> grants_;  // (user, container)
};

}  // namespace vhsm::keyd
