// User management by security officers (docs/security-model.md), and whoami for anyone
// logged in.
#pragma once

#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/key_cache.hpp"
#include "keyd/service/login_requests.hpp"
#include "keyd/service/unlocks.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class UserRequests {
 public:
  using Request = proto::Request;
  using Response = proto::Response::Builder;

  UserRequests(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks,
               Access& access, Auditor& auditor, LoginRequests& logins, KeyCache& keys);

  void create(Session& s, Request::UserCreate::Reader r);
  void modify(Session& s, Request::UserModify::Reader r);
  void remove(Session& s, const std::string& name);
  void list(Session& s, Response out);
  void whoami(Session& s, Response out);
  // The names of the key users bound to the caller's own container: what a process there may
  // log in as. No other container's are ever given.
  void boundUsers(Session& s, Response out);

 private:
  store::Store& store_;
  ContainerDirectory& containers_;
  Unlocks& unlocks_;
  Access& access_;
  Auditor& auditor_;
  LoginRequests& logins_;
  KeyCache& keys_;
};

}  // namespace vhsm::keyd
