// A listening Unix socket at a path: a stale file left by a dead keyd replaced (a live one's
// refused), made with no access for anyone but keyd, then given its group and mode before it
// listens, so that there is no moment in which more processes could connect than the mode
// allows.
#pragma once

#include <sys/types.h>

#include <string>

namespace vhsm::keyd {

struct SocketFile {
  std::string path;
  int type = 0;       // SOCK_SEQPACKET, SOCK_STREAM
  std::string group;  // empty: keyd's own
  mode_t mode = 0660;
};

// Returns the bound socket (non-blocking, close-on-exec), not yet listening; throws
// std::system_error on failure.
int bindSocketFile(const SocketFile& file);

}  // namespace vhsm::keyd
