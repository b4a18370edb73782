// Authentication: password login, passwordless login through an unlock, unlock/lock, and
// password changes. Passwords only ever unwrap a user secret; they are never stored. Failed
// passwords are throttled (login_throttle.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/container_directory.hpp"
#include "keyd/service/login_throttle.hpp"
#include "keyd/service/unlocks.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class LoginRequests {
 public:
  using Request = proto::Request;

  LoginRequests(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks,
                Access& access, Auditor& auditor, uint32_t maxUnlockSeconds);

  void login(Session& s, Request::Login::Reader r);
  void unlock(Session& s, Request::Unlock::Reader r);
  void lock(Session& s, Request::Lock::Reader r);
  void passwd(Session& s, Request::UserPasswd::Reader r);
  // A deleted user's failures must not weigh on a new user of the same name.
  void forgetFailures(const std::string& user) { throttle_.forget(user); }

 private:
  SecretBytes checkPassword(Session& s, const store::User& user, capnp::Data::Reader password);

  store::Store& store_;
  ContainerDirectory& containers_;
  Unlocks& unlocks_;
  Access& access_;
  Auditor& auditor_;
  uint32_t maxUnlockSeconds_;
  LoginThrottle throttle_;
};

}  // namespace vhsm::keyd
