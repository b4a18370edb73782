#include "keyd/transport/unix_peer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace vhsm::keyd {
namespace {

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A pidfd of the process that connected (Linux 6.5+: SO_PEERPIDFD), or -1 where the kernel has
// none. Unlike the pid SO_PEERCRED gives, it cannot come to name another process.
int peerPidfd(int fd) {
  int pidfd = -1;
  socklen_t len = sizeof pidfd;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) return pidfd;
  if (errno == ENOPROTOOPT) return -1;
  fail("SO_PEERPIDFD");  // ESRCH: the process that connected is gone
}

// Whether the process a pidfd names has not exited. While it lives, its pid names it: what
// was read from /proc/PID before this check came from that process.
bool stillRunning(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

UnixPeers::~UnixPeers() {
  for (auto& [inode, ns] : byInode_) ::close(ns.fd);
}

const char* UnixPeers::admit(Namespace& ns, uid_t uid) {
  using Kind = Service::NamespaceClass;
  if (total_ >= budget_.total) return "connection limit reached";
  if (uid != 0) {
    auto it = ns.byUid.find(uid);
    if (it != ns.byUid.end() && it->second >= budget_.perUid)
      return "too many connections from this uid in this container";
  }
  if (ns.kind == Kind::unregistered) {
    if (unregistered_ >= budget_.unregisteredTotal)
      return "too many connections from unregistered namespaces";
  } else if (ns.connections >= budget_.perContainer) {
    return "too many connections from this container";
  } else if (ns.kind == Kind::registered &&
             registered_ + budget_.perContainer + budget_.unregisteredTotal >= budget_.total) {
    return "registered containers hold every connection not kept for the host";
  }
  if (uid != 0) ++ns.byUid[uid];
  ++ns.connections;
  ++total_;
  if (ns.kind == Kind::registered) ++registered_;
  if (ns.kind == Kind::unregistered) ++unregistered_;
  return nullptr;
}

void UnixPeers::release(Namespace& ns, uid_t uid) {
  if (uid != 0) {
    auto it = ns.byUid.find(uid);
    if (it != ns.byUid.end() && --it->second == 0) ns.byUid.erase(it);
  }
  --ns.connections;
  --total_;
  if (ns.kind == Service::NamespaceClass::registered) --registered_;
  if (ns.kind == Service::NamespaceClass::unregistered) --unregistered_;
}

UnixPeers::Arrival UnixPeers::arrive(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) fail("SO_PEERCRED");
  if (cred.pid <= 0) {
    errno = ESRCH;
    fail("peer has no pid in keyd's view");
  }
  Arrival arrival;
  arrival.peer.pid = cred.pid;
  arrival.peer.uid = cred.uid;
  auto path = "/proc/" + std::to_string(cred.pid) + "/ns/net";
  // The pid is the connecting process's at connect time; the connection may have waited in
  // the backlog since, and that process may have exited and its pid gone to another (a host
  // process, say). With a pidfd keyd proves the process it read is the one that connected;
  // without (Linux before 6.5) the connection's first frame is checked (verifyFirstFrame).
  Fd pidfd{peerPidfd(fd)};
  arrival.verifyFirstFrame = pidfd.fd < 0;
  auto proven = [&] {
    if (pidfd.fd >= 0 && !stillRunning(pidfd.fd)) {
      errno = ESRCH;
      fail("the process that connected (pid " + std::to_string(cred.pid) + ") has exited");
    }
  };

  struct stat st;
  if (stat(path.c_str(), &st) != 0) fail("cannot stat " + path);
  proven();
  {
    std::lock_guard lock(mutex_);
    auto known = byInode_.find(st.st_ino);
    if (known != byInode_.end()) {
      arrival.peer.netns = known->second.identity;
      arrival.refused = admit(known->second, cred.uid);
      return arrival;
    }
  }

  // A namespace without connections (or one the process entered since the stat): from scratch.
  int nsFd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsFd < 0) fail("cannot open " + path);
  try {
    proven();
    arrival.peer.netns = proto::netnsIdentity(nsFd, path);
    if (arrival.peer.netns.cookie == 0) {
      errno = EPERM;
      fail("cannot read the net cookie of " + path);
    }
  } catch (...) {
    ::close(nsFd);
    throw;
  }
  Service::NamespaceClass kind;
  try {
    kind = classify_(arrival.peer.netns);  // outside the lock: a store read
  } catch (...) {
    ::close(nsFd);
    throw;
  }
  std::lock_guard lock(mutex_);
  auto [entry, added] = byInode_.try_emplace(arrival.peer.netns.inode,
                                             Namespace{nsFd, arrival.peer.netns, kind, 0, {}});
  if (!added) ::close(nsFd);  // held already: the namespace is the same one
  arrival.refused = admit(entry->second, cred.uid);
  if (entry->second.connections == 0) {
    ::close(entry->second.fd);
    byInode_.erase(entry);
  }
  return arrival;
}

bool UnixPeers::kernelHasPeerPidfd() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return false;
  int pidfd = peerPidfd(pair[0]);
  if (pidfd >= 0) ::close(pidfd);
  ::close(pair[0]);
  ::close(pair[1]);
  return pidfd >= 0;
}

bool UnixPeers::sameSender(const Peer& peer, pid_t senderPid) {
  if (senderPid != peer.pid) return false;
  try {
    return proto::sameNamespace(
        peer.netns, proto::netnsIdentity("/proc/" + std::to_string(senderPid) + "/ns/net"));
  } catch (const std::exception&) {
    return false;
  }
}

void UnixPeers::leave(const Peer& peer) {
  std::lock_guard lock(mutex_);
  auto ns = byInode_.find(peer.netns.inode);
  if (ns == byInode_.end()) return;
  release(ns->second, peer.uid);
  if (ns->second.connections > 0) return;
  ::close(ns->second.fd);
  byInode_.erase(ns);
}

}  // namespace vhsm::keyd
