// Reading and verifying the audit chain (security officers only).
#pragma once

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class AuditRequests {
 public:
  using Response = proto::Response::Builder;

  AuditRequests(store::Store& store, Access& access, Auditor& auditor);

  void list(Session& s, proto::Request::AuditList::Reader r, Response out);
  void verify(Session& s, Response out);

 private:
  store::Store& store_;
  Access& access_;
  Auditor& auditor_;
};

}  // namespace vhsm::keyd
