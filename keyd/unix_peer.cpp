#include "unix_peer.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <system_error>

namespace vhsm::keyd {

Peer unixPeer(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    throw std::system_error(errno, std::generic_category(), "SO_PEERCRED");
  if (cred.pid <= 0)
    throw std::system_error(ESRCH, std::generic_category(), "peer has no pid in keyd's view");
  Peer peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.netns = proto::netnsIdentity("/proc/" + std::to_string(cred.pid) + "/ns/net");
  return peer;
}

}  // namespace vhsm::keyd
