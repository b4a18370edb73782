// A real etcd cluster on loopback ports for the shared-store tests: three members (Debian's
// etcd), client TLS with a throwaway CA and client certificates required, each member a
// process the test can kill and start again. Everything goes with the object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/keyd_process.hpp"

namespace vhsm::test {

class EtcdCluster {
 public:
  explicit EtcdCluster(int members = 3);
  ~EtcdCluster();

  // etcd://127.0.0.1:P1,…/prefix, and the arguments keyd needs for it as host.
  std::string uri(const std::string& prefix) const;
  std::vector<std::string> keydArgs(const std::string& prefix, const std::string& host) const;

  int size() const { return int(ports_.size()); }
  int port(int member) const { return ports_[size_t(member)]; }
  void kill(int member);   // SIGKILL, and wait
  void start(int member);  // again, on its data directory
  bool running(int member) const { return members_[size_t(member)] != nullptr; }
  int leader();        // the member that leads now (-1: none answers)
  void waitHealthy();  // until every running member serves reads (or throw)
  const std::filesystem::path& directory() const { return dir_.path(); }
  std::filesystem::path dataDir(int member) const;

  // etcdctl against the running members, with the client certificate.
  // member >= 0: that member alone (a snapshot is taken from one).
  CommandResult etcdctl(const std::vector<std::string>& args, int member = -1) const;

 private:
  std::string endpoints(int member = -1) const;

  TempDir dir_;
  std::vector<int> ports_, peerPorts_;
  std::vector<std::unique_ptr<BackgroundProcess>> members_;
};

}  // namespace vhsm::test
