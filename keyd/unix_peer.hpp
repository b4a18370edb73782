// The Unix-socket transport's answer to "who is this?": the connecting process's credentials
// (SO_PEERCRED, recorded by the kernel at connect time) resolved to its network namespace.
// The netlink transport gets the same Peer from the kernel module's stamp instead.
#pragma once

#include "session.hpp"

namespace vhsm::keyd {

// Throws std::system_error when the peer's namespace cannot be read (the process is gone).
Peer unixPeer(int fd);

}  // namespace vhsm::keyd
