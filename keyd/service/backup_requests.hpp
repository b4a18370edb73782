// `backup`: the whole store, wrapped, from one snapshot taken while keyd serves, handed to a
// security officer in chunks. The snapshot lives in the session until the last chunk is read,
// a new backup begins or the session ends, so every chunk comes from the same moment.
#pragma once

#include <atomic>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/session.hpp"
#include "protocol/vhsm.capnp.h"
#include "store/store.hpp"

namespace vhsm::keyd {

class BackupRequests {
 public:
  BackupRequests(store::Store& store, Access& access, Auditor& auditor);

  void backup(Session& s, uint64_t offset, proto::Response::Builder out);

 private:
  static constexpr int kMaxInFlight = 2;

  store::Store& store_;
  Access& access_;
  Auditor& auditor_;
  std::atomic<int> inFlight_{0};  // snapshots held by sessions now
};

}  // namespace vhsm::keyd
