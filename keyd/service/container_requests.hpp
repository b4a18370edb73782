// Container registrations by security officers: a name for a network namespace that keyd
// reads itself (docs/security-model.md). "host" is built in.
#pragma once

#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/container_directory.hpp"
#include "keyd/service/unlocks.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class ContainerRequests {
 public:
  using Response = proto::Response::Builder;

  ContainerRequests(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks,
                    Access& access, Auditor& auditor);

  void add(Session& s, proto::ContainerInfo::Reader r, Response out);
  void remove(Session& s, const std::string& name);
  void list(Session& s, Response out);

 private:
  store::Store& store_;
  ContainerDirectory& containers_;
  Unlocks& unlocks_;
  Access& access_;
  Auditor& auditor_;
};

}  // namespace vhsm::keyd
