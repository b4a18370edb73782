#include "client/channel.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace vhsm {

ssize_t sendDatagram(int fd, std::span<const std::byte> prefix,
                     const std::vector<std::span<const std::byte>>& pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size() + 1);
  if (!prefix.empty()) iov.push_back({const_cast<std::byte*>(prefix.data()), prefix.size()});
  for (auto piece : pieces) iov.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  for (;;) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0 || errno != EINTR) return n;
  }
}

std::optional<ssize_t> receiveDatagram(int fd, std::span<std::byte> buffer) {
  for (;;) {
    ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
    if (n >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return n;
    if (errno != EINTR) return std::nullopt;
  }
}

void setTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace vhsm
