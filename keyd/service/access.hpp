// Who may do what (docs/security-model.md): security officers manage users, containers and
// unlocks; users manage and use their own keys; each with the flag the request needs, from a
// container the user is bound to. The rules live here, in one place.
#pragma once

#include <cstdint>

#include "keyd/service/container_directory.hpp"
#include "keyd/service/epoch.hpp"
#include "keyd/service/session.hpp"
#include "keyd/service/unlocks.hpp"
#include "store/store.hpp"

namespace vhsm::keyd {

class Access {
 public:
  Access(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks);

  const store::User& requireLogin(Session& s);
  const store::User& requireUser(Session& s, uint32_t flag);  // a key owner with flag
  const store::User& requireSo(Session& s, uint32_t flag);

  // A session re-checks its user whenever users, containers or unlocks changed since it
  // logged in or last looked.
  uint64_t epoch() const { return epoch_.current(); }
  void changed() { epoch_.advance(); }

 private:
  store::Store& store_;
  ContainerDirectory& containers_;
  Unlocks& unlocks_;
  Epoch epoch_;
};

}  // namespace vhsm::keyd
