#include "keyd/transport/socket_file.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "keyd/base/log.hpp"

namespace vhsm::keyd {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_un addressOf(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    fail("socket path " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A socket file left by a keyd that died is replaced; one that a live keyd answers on is not.
void removeStaleSocket(const std::string& path, int type) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) {
    errno = EEXIST;
    fail(path + " exists and is not a socket");
  }
  int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  auto addr = addressOf(path);
  bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(probe);
  if (live) {
    errno = EADDRINUSE;
    fail("another keyd is serving " + path);
  }
  logInfo("removing stale socket " + path);
  unlink(path.c_str());
}

}  // namespace

int bindSocketFile(const SocketFile& file) {
  removeStaleSocket(file.path, file.type);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file.path).parent_path(), ec);
  int fd = socket(AF_UNIX, file.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  try {
    auto addr = addressOf(file.path);
    mode_t previous = umask(0177);
    int bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    umask(previous);
    if (bound != 0) fail("bind " + file.path);
    if (!file.group.empty()) {
      group* g = getgrnam(file.group.c_str());
      if (!g) {
        errno = ENOENT;
        fail("socket group " + file.group);
      }
      if (chown(file.path.c_str(), uid_t(-1), g->gr_gid) != 0) fail("chown " + file.path);
    }
    if (chmod(file.path.c_str(), file.mode) != 0) fail("chmod " + file.path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

}  // namespace vhsm::keyd
