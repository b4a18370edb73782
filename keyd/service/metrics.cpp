#include "keyd/service/metrics.hpp"

#include <capnp/schema.h>

#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

namespace {

// The schema's own names: the request union's fields by discriminant, the error enumerants.
std::vector<std::string> requestNames() {
  std::vector<std::string> names;
  for (auto field : capnp::Schema::from<proto::Request>().getUnionFields()) {
    auto which = field.getProto().getDiscriminantValue();
    if (names.size() <= which) names.resize(which + 1);
    names[which] = field.getProto().getName();
  }
  return names;
}

std::vector<std::string> errorNames() {
  std::vector<std::string> names;
  for (auto e : capnp::Schema::from<proto::ErrorCode>().getEnumerants())
    names.push_back(e.getProto().getName());
  return names;
}

template <typename Counters>
std::vector<std::pair<std::string, uint64_t>> named(const Counters& counters,
                                                    const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < names.size() && i < counters.size(); ++i)
    if (uint64_t n = counters[i].load(std::memory_order_relaxed)) out.emplace_back(names[i], n);
  return out;
}

// Label values are container names and schema names: keyd's own rules keep them to
// [A-Za-z0-9._-], but a label is escaped as the format asks whatever it holds.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::adjust(const proto::NetnsIdentity& netns, int connections, int sessions) {
  std::lock_guard lock(mutex_);
  auto& load = loads_[{netns.inode, netns.cookie}];
  load.connections = uint32_t(int64_t(load.connections) + connections);
  load.sessions = uint32_t(int64_t(load.sessions) + sessions);
  if (load.connections == 0 && load.sessions == 0) loads_.erase({netns.inode, netns.cookie});
}

StatusSnapshot Metrics::snapshot(const ContainerDirectory& containers) const {
  static const auto kRequestNames = requestNames();
  static const auto kErrorNames = errorNames();
  StatusSnapshot out;
  std::map<std::pair<uint64_t, uint64_t>, StatusSnapshot::Load> loads;
  {
    std::lock_guard lock(mutex_);
    loads = loads_;
  }
  std::vector<proto::NetnsIdentity> namespaces;
  for (const auto& entry : loads) namespaces.push_back({entry.first.first, entry.first.second});
  auto names = containers.namesOf(namespaces);
  std::map<std::string, StatusSnapshot::Load> byName;
  size_t i = 0;
  for (const auto& [netns, load] : loads) {
    // Anyone can make namespaces: the unregistered ones are one line, as they are one budget,
    // so that making them cannot grow the reply or the metrics without bound.
    const auto& name = names[i++];
    auto& sum = byName[ContainerDirectory::isUnregisteredName(name) ? "unregistered" : name];
    sum.connections += load.connections;
    sum.sessions += load.sessions;
  }
  out.containers.assign(byName.begin(), byName.end());
  out.requests = named(requests_, kRequestNames);
  out.refusals = named(refusals_, kErrorNames);
  return out;
}

std::string prometheusText(const StatusSnapshot& s, uint64_t uptimeSeconds, uint64_t auditQueued) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  metric("vhsm_uptime_seconds", "gauge", "Seconds since vhsm-keyd started.");
  out += "vhsm_uptime_seconds " + std::to_string(uptimeSeconds) + "\n";
  metric("vhsm_connections", "gauge", "Open connections that have sent a request, by container.");
  for (const auto& [name, load] : s.containers)
    out += "vhsm_connections{container=\"" + label(name) + "\"} " +
           std::to_string(load.connections) + "\n";
  metric("vhsm_sessions", "gauge", "Logged-in connections, by container.");
  for (const auto& [name, load] : s.containers)
    out +=
        "vhsm_sessions{container=\"" + label(name) + "\"} " + std::to_string(load.sessions) + "\n";
  metric("vhsm_requests_total", "counter", "Requests answered, by kind.");
  for (const auto& [name, n] : s.requests)
    out += "vhsm_requests_total{request=\"" + label(name) + "\"} " + std::to_string(n) + "\n";
  metric("vhsm_refusals_total", "counter", "Requests refused, by error code.");
  for (const auto& [name, n] : s.refusals)
    out += "vhsm_refusals_total{code=\"" + label(name) + "\"} " + std::to_string(n) + "\n";
  metric("vhsm_audit_queued", "gauge", "Audit records waiting for the writer.");
  out += "vhsm_audit_queued " + std::to_string(auditQueued) + "\n";
  return out;
}

}  // namespace vhsm::keyd
