#include "protocol/identity.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <system_error>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace vhsm::proto {
namespace {

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

uint64_t cookieOfCurrentNamespace() {
  Fd s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (s.fd < 0 || getsockopt(s.fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) return 0;
  return cookie;
}

// A namespace's cookie is only readable from a socket created inside it: enter it on this
// thread (network namespaces are per thread), make a socket, and come back.
uint64_t cookieOf(int nsFd) {
  Fd home(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (home.fd < 0 || setns(nsFd, CLONE_NEWNET) != 0) return 0;
  uint64_t cookie = cookieOfCurrentNamespace();
  if (setns(home.fd, CLONE_NEWNET) != 0) {
    // Staying in a foreign namespace would misattribute every later socket of this thread.
    std::terminate();
  }
  return cookie;
}

}  // namespace

NetnsIdentity netnsIdentity(const std::string& path) {
  Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (ns.fd < 0) fail("cannot open " + path);
  return netnsIdentity(ns.fd, path);
}

NetnsIdentity netnsIdentity(int nsFd, const std::string& name) {
  struct stat st;
  if (fstat(nsFd, &st) != 0) fail("cannot stat " + name);
  if (ioctl(nsFd, NS_GET_NSTYPE) != CLONE_NEWNET) {
    errno = EINVAL;
    fail(name + " is not a network namespace");
  }
  NetnsIdentity id;
  id.inode = st.st_ino;
  struct stat self;
  if (stat("/proc/thread-self/ns/net", &self) == 0 && self.st_ino == st.st_ino)
    id.cookie = cookieOfCurrentNamespace();
  else
    id.cookie = cookieOf(nsFd);
  return id;
}

bool sameNamespace(const NetnsIdentity& stored, const NetnsIdentity& observed) {
  return stored.cookie != 0 && stored == observed;
}

}  // namespace vhsm::proto
