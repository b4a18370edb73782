// The netlink channel (vhsm_transport.ko): frames go to the kernel, which stamps who sent
// them and hands them to keyd. There is no connection: a frame the module could not deliver
// comes back as a netlink error message, queued before our sendmsg() returned.
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/channel.hpp"
#include "protocol/vhsm_netlink.h"

namespace vhsm {

namespace {

// What the module's refusal of a frame means to the caller.
Error refusalOf(int error) {
  switch (error) {
    case ECONNREFUSED:
      return transportError(ErrorKind::unreachable,
                            "cannot reach vhsm-keyd: none is registered with the netlink "
                            "transport (vhsm_transport)");
    case EPERM:
      return transportError(ErrorKind::unreachable,
                            "vhsm_transport does not forward frames from this network namespace");
    case EMSGSIZE:
      return Error(ErrorKind::refused, ErrorCode::FRAME_TOO_LARGE,
                   "frame larger than vhsm_transport forwards (its max_frame parameter)");
    case EAGAIN:
    case ENOMEM:
    case ENOBUFS:
      return Error(ErrorKind::refused, ErrorCode::TOO_MANY_OPERATIONS,
                   "vhsm-keyd's netlink queue is full; try again");
    default:
      return transportError(ErrorKind::disconnected,
                            std::string("vhsm_transport refused a frame: ") + strerror(error));
  }
}

class NetlinkChannel : public Channel {
 public:
  explicit NetlinkChannel(int fd) : fd_(fd) {}
  ~NetlinkChannel() override { ::close(fd_); }

  bool send(const std::vector<std::span<const std::byte>>& pieces, uint64_t requestId) override {
    nlmsghdr header{};
    header.nlmsg_type = VHSM_NL_FRAME;
    header.nlmsg_flags = NLM_F_REQUEST;
    header.nlmsg_seq = uint32_t(requestId);
    size_t size = NLMSG_HDRLEN;
    for (auto piece : pieces) size += piece.size();
    header.nlmsg_len = uint32_t(size);
    if (sendDatagram(fd_, std::as_bytes(std::span(&header, 1)), pieces) >= 0) return true;
    throw transportError(errno == EAGAIN ? ErrorKind::timeout : ErrorKind::disconnected,
                         std::string("sending to vhsm_transport: ") + strerror(errno));
  }

  std::optional<std::span<std::byte>> receive(std::span<std::byte> buffer) override {
    // Errors about frames sent earlier come first; skip anything else that is not a frame.
    for (;;) {
      auto received = receiveDatagram(fd_, buffer);
      if (!received) return std::nullopt;
      ssize_t n = *received;
      if (n < 0 && errno == ENOBUFS)
        throw transportError(ErrorKind::disconnected,
                             "replies from vhsm-keyd were lost: the receive queue overflowed");
      if (n < 0)
        throw transportError(ErrorKind::disconnected,
                             std::string("receiving from vhsm_transport: ") + strerror(errno));
      if (size_t(n) > buffer.size() || size_t(n) < NLMSG_HDRLEN)
        throw transportError(ErrorKind::protocol, "malformed message from vhsm_transport");
      auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
      if (header->nlmsg_type == NLMSG_ERROR && size_t(n) >= NLMSG_HDRLEN + sizeof(nlmsgerr)) {
        int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(header))->error;
        if (error != 0) throw refusalOf(error);
        continue;
      }
      if (header->nlmsg_type == VHSM_NL_FRAME)
        return buffer.subspan(NLMSG_HDRLEN, n - NLMSG_HDRLEN);
    }
  }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<Channel> openNetlinkChannel(const ClientOptions& options) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, VHSM_NETLINK_PROTOCOL);
  if (s < 0)
    throw transportError(ErrorKind::unreachable,
                         errno == EPROTONOSUPPORT
                             ? std::string("cannot reach vhsm-keyd: the vhsm_transport kernel "
                                           "module is not loaded")
                             : std::string("netlink socket: ") + strerror(errno));
  // Connected to the kernel: nothing but the module's messages reach this socket.
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (bind(s, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0 ||
      connect(s, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) != 0) {
    int e = errno;
    ::close(s);
    throw transportError(ErrorKind::unreachable, std::string("netlink bind: ") + strerror(e));
  }
  // Errors name the refused frame without echoing it back.
  int one = 1;
  setsockopt(s, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int buffer = 1 << 20;  // a maximum-size frame must fit the send buffer
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setTimeouts(s, options.timeout);
  return std::make_unique<NetlinkChannel>(s);
}

}  // namespace vhsm
