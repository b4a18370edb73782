// Counters for operators: requests by kind and refusals by code since keyd started, and the
// connections and logged-in sessions each namespace holds now. Counting is a relaxed atomic
// add on the request path; the per-namespace gauges change only when a connection starts,
// logs in, logs out or ends.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "keyd/service/container_directory.hpp"
#include "protocol/identity.hpp"

namespace vhsm::keyd {

struct StatusSnapshot {
  struct Load {
    uint32_t connections = 0, sessions = 0;
  };
  std::vector<std::pair<std::string, Load>> containers;  // by name
  std::vector<std::pair<std::string, uint64_t>> requests, refusals;
};

class Metrics {
 public:
  void request(unsigned kind) { bump(requests_, kind); }
  void refusal(unsigned code) { bump(refusals_, code); }
  void connectionOpened(const proto::NetnsIdentity& netns) { adjust(netns, 1, 0); }
  void connectionClosed(const proto::NetnsIdentity& netns) { adjust(netns, -1, 0); }
  void sessionStarted(const proto::NetnsIdentity& netns) { adjust(netns, 0, 1); }
  void sessionEnded(const proto::NetnsIdentity& netns) { adjust(netns, 0, -1); }

  StatusSnapshot snapshot(const ContainerDirectory& containers) const;

 private:
  static constexpr size_t kSlots = 64;  // more than request kinds and error codes
  using Counters = std::array<std::atomic<uint64_t>, kSlots>;
  static void bump(Counters& counters, unsigned i) {
    if (i < kSlots) counters[i].fetch_add(1, std::memory_order_relaxed);
  }
  void adjust(const proto::NetnsIdentity& netns, int connections, int sessions);

  Counters requests_{}, refusals_{};
  mutable std::mutex mutex_;
  std::map<std::pair<uint64_t, uint64_t>, StatusSnapshot::Load> loads_;  // (inode, cookie)
};

// Prometheus text exposition of a snapshot and the service's own figures.
std::string prometheusText(const StatusSnapshot& snapshot, uint64_t uptimeSeconds,
                           uint64_t auditQueued);

}  // namespace vhsm::keyd
