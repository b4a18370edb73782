// The Unix-socket transport's answer to "who is this?": the connecting process's credentials
// (SO_PEERCRED, recorded by the kernel at connect time) resolved to its network namespace, and
// the count of open connections per namespace that the per-container limit reads.
// The netlink transport gets the same Peer from the kernel module's stamp instead.
//
// Resolving a namespace from scratch costs ~40 µs here: opening its file makes the kernel build
// and drop a dentry, and its cookie takes two setns and a socket. While a namespace has
// connections open, keyd keeps it open too, so its inode cannot name another namespace: the next
// connection from it is resolved with one stat. A container opening connections in a loop
// thereby delays the ones queued behind it in the listen backlog less. A namespace is only
// entered by arrive(), which the server calls from one thread at a time: so a namespace found
// by the inode a peer had at its stat was held, and thus named by that inode, ever since.
#pragma once

#include <mutex>
#include <unordered_map>

#include "session.hpp"

namespace vhsm::keyd {

class UnixPeers {
 public:
  explicit UnixPeers(size_t maxPerContainer) : maxPerContainer_(maxPerContainer) {}
  ~UnixPeers();
  UnixPeers(const UnixPeers&) = delete;
  UnixPeers& operator=(const UnixPeers&) = delete;

  struct Arrival {
    Peer peer;
    bool admitted = false;  // false: its container has maxPerContainer connections open
  };
  // Identifies fd's peer and, when admitted, counts it until leave(). Throws std::system_error
  // when the peer's namespace cannot be read (the process is gone).
  Arrival arrive(int fd);
  void leave(const Peer& peer);

 private:
  struct Namespace {
    int fd;  // held open: the inode keeps naming this namespace
    proto::NetnsIdentity identity;
    size_t connections;
  };
  // Counts a connection from a known namespace; false when its container is full.
  bool admit(Namespace& ns);

  size_t maxPerContainer_;
  std::mutex mutex_;
  std::unordered_map<uint64_t, Namespace> byInode_;
};

}  // namespace vhsm::keyd
