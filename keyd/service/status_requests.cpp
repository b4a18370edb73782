#include "keyd/service/status_requests.hpp"

namespace vhsm::keyd {

StatusRequests::StatusRequests(const Metrics& metrics, const ContainerDirectory& containers,
                               Access& access, Auditor& auditor, const store::Store& store,
                               std::string storeName, std::string hostName)
    : metrics_(metrics),
      containers_(containers),
      access_(access),
      auditor_(auditor),
      store_(store),
      storeName_(std::move(storeName)),
      hostName_(std::move(hostName)) {}

uint64_t StatusRequests::uptimeSeconds() const {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count());
}

void StatusRequests::status(Session& s, proto::Response::Builder out) {
  access_.requireSo(s, 0);
  auto snapshot = metrics_.snapshot(containers_);
  auto o = out.initStatus();
  o.setVersion(VHSM_VERSION);
  o.setUptimeSeconds(uptimeSeconds());
  o.setStore(storeName_);
  o.setHost(hostName_);
  auto problem = store_.problem();
  o.setReady(problem.empty());
  o.setStoreProblem(problem);
  auto loads = o.initContainers(unsigned(snapshot.containers.size()));
  for (unsigned i = 0; i < loads.size(); ++i) {
    loads[i].setName(snapshot.containers[i].first);
    loads[i].setConnections(snapshot.containers[i].second.connections);
    loads[i].setSessions(snapshot.containers[i].second.sessions);
  }
  auto fill = [](auto list, const auto& counts) {
    for (unsigned i = 0; i < list.size(); ++i) {
      list[i].setName(counts[i].first);
      list[i].setCount(counts[i].second);
    }
  };
  fill(o.initRequests(unsigned(snapshot.requests.size())), snapshot.requests);
  fill(o.initRefusals(unsigned(snapshot.refusals.size())), snapshot.refusals);
  o.setAuditQueued(auditor_.queued());
}

std::string StatusRequests::prometheus() {
  return prometheusText(metrics_.snapshot(containers_), uptimeSeconds(), auditor_.queued());
}

}  // namespace vhsm::keyd
