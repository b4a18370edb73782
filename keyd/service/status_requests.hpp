// What keyd is doing, for security officers (vhsm-admin status) and for the metrics socket:
// version, uptime, store, connections and sessions per container, requests and refusals by
// kind, the audit queue.
#pragma once

#include <chrono>
#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/container_directory.hpp"
#include "keyd/service/metrics.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class StatusRequests {
 public:
  StatusRequests(const Metrics& metrics, const ContainerDirectory& containers, Access& access,
                 Auditor& auditor, const store::Store& store, std::string storeName,
                 std::string hostName);

  void status(Session& s, proto::Response::Builder out);
  // The same figures as Prometheus text; needs no session (the metrics socket's mode guards it).
  std::string prometheus();

 private:
  uint64_t uptimeSeconds() const;

  const Metrics& metrics_;
  const ContainerDirectory& containers_;
  Access& access_;
  Auditor& auditor_;
  const store::Store& store_;
  std::string storeName_, hostName_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace vhsm::keyd
