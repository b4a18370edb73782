// Small helpers the integration tests share: key users, clients at a socket, raw connections
// and frames (for tests that must not use the client library's own behaviour).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <vhsm/client.hpp>
#include "protocol/frame.hpp"

namespace vhsm::test {

inline UserInfo keyUser(const std::string& name, std::vector<std::string> containers) {
  UserInfo u;
  u.name = name;
  u.flags = {true, true, true, true, false};
  u.containers = std::move(containers);
  return u;
}

inline std::unique_ptr<Client> clientAt(const std::string& socket) {
  ClientOptions o;
  o.socketPath = socket;
  o.timeout = std::chrono::milliseconds(20000);
  return std::make_unique<Client>(o);
}

// What a call came to, as a child's exit code: 0 = allowed, 10 + error code = refused, 99 =
// unreachable or anything else.
inline int outcome(const std::function<void()>& fn) {
  try {
    fn();
    return 0;
  } catch (const Error& e) {
    return e.kind() == ErrorKind::refused ? 10 + int(e.code()) : 99;
  }
}

inline int refused(ErrorCode code) {
  return 10 + int(code);
}

// A connected SOCK_SEQPACKET socket to path, or -1.
inline int rawConnect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Opens count connections to path, gives keyd half a second to close those beyond a budget, and
// returns how many it kept open (the descriptors stay open for the caller to hold).
inline int connectionsKept(const std::string& path, int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i)
    if (int fd = rawConnect(path); fd >= 0) fds.push_back(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int open = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    char b;
    open += !(poll(&p, 1, 0) > 0 && recv(fd, &b, 1, MSG_DONTWAIT) == 0);
  }
  return open;
}

// One request as the bytes of a whole frame.
inline std::vector<std::byte> frameOf(capnp::MessageBuilder& request, uint64_t requestId = 1) {
  proto::FrameHeader header;
  header.requestId = requestId;
  proto::OutgoingFrame out(header, request);
  std::vector<std::byte> frame;
  for (auto piece : out.pieces()) frame.insert(frame.end(), piece.begin(), piece.end());
  return frame;
}

inline std::vector<std::byte> pingFrame() {
  capnp::MallocMessageBuilder message;
  message.initRoot<proto::Request>().setPing();
  return frameOf(message);
}

}  // namespace vhsm::test
