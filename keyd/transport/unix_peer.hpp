// The Unix-socket transport's answer to "who is this?": the connecting process's credentials
// (SO_PEERCRED, recorded by the kernel at connect time) resolved to its network namespace, and
// the count of open connections per namespace that the per-container limit reads.
// The netlink transport gets the same Peer from the kernel module's stamp instead.
//
// Resolving a namespace from scratch is slow (bench/README.md): opening its file makes the
// kernel build and drop a dentry, and its cookie takes two setns and a socket. While a namespace
// has connections open, keyd keeps it open too, so its inode cannot name another namespace: the
// next connection from it is resolved with one stat. A container opening connections in a loop
// thereby delays the ones queued behind it in the listen backlog less. A namespace is only
// entered by arrive(), which the server calls from one thread at a time: so a namespace found
// by the inode a peer had at its stat was held, and thus named by that inode, ever since.
#pragma once

#include <functional>
#include <mutex>
#include <unordered_map>

#include "keyd/service/service.hpp"
#include "keyd/service/session.hpp"

namespace vhsm::keyd {

// How many connections each kind of namespace may hold. Anyone who can make a user namespace
// can make network namespaces without end, so a per-namespace limit alone is no limit: every
// unregistered namespace shares one small budget, and the registered containers together may
// not take the host's share.
struct ConnectionBudget {
  size_t total = 4096;
  size_t perContainer = 256;      // the host, and each registered container
  size_t unregisteredTotal = 64;  // all unregistered namespaces together
  // Each uid but root within one namespace: on the host every local user who may open the
  // socket is container "host", and none may take the host's whole share.
  size_t perUid = 64;
};

class UnixPeers {
 public:
  using Classifier = std::function<Service::NamespaceClass(const proto::NetnsIdentity&)>;
  UnixPeers(ConnectionBudget budget, Classifier classify)
      : budget_(budget), classify_(std::move(classify)) {}
  ~UnixPeers();
  UnixPeers(const UnixPeers&) = delete;
  UnixPeers& operator=(const UnixPeers&) = delete;

  struct Arrival {
    Peer peer;
    const char* refused = nullptr;  // why it was not admitted (a budget is full), or null
    // No pidfd (Linux before 6.5): the first frame must come from the same pid, still in the
    // same namespace (SO_PASSCRED is on for it).
    bool verifyFirstFrame = false;
  };
  // For a connection with verifyFirstFrame: whether the first frame's sender (its SCM
  // credentials) is the peer arrive() identified.
  static bool sameSender(const Peer& peer, pid_t senderPid);
  // Whether this kernel gives SO_PEERPIDFD (Linux 6.5+).
  static bool kernelHasPeerPidfd();
  // Identifies fd's peer and, when admitted, counts it until leave(). Throws std::system_error
  // when the peer's namespace cannot be read (the process is gone).
  Arrival arrive(int fd);
  void leave(const Peer& peer);

 private:
  struct Namespace {
    int fd;  // held open: the inode keeps naming this namespace
    proto::NetnsIdentity identity;
    Service::NamespaceClass kind;  // classified when first held
    size_t connections;
    std::unordered_map<uid_t, size_t> byUid;  // uids other than root
  };
  // Counts a connection of uid from a held namespace; why not, when a budget is full.
  const char* admit(Namespace& ns, uid_t uid);
  void release(Namespace& ns, uid_t uid);

  ConnectionBudget budget_;
  Classifier classify_;
  std::mutex mutex_;
  std::unordered_map<uint64_t, Namespace> byInode_;
  size_t total_ = 0, registered_ = 0, unregistered_ = 0;
};

}  // namespace vhsm::keyd
