// The Unix socket channel: one SOCK_SEQPACKET connection; keyd knows who we are from it.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "client/channel.hpp"

namespace vhsm {

using namespace std::chrono_literals;

namespace {

class UnixChannel : public Channel {
 public:
  explicit UnixChannel(int fd) : fd_(fd) {}
  ~UnixChannel() override { ::close(fd_); }

  bool send(const std::vector<std::span<const std::byte>>& pieces, uint64_t) override {
    if (sendDatagram(fd_, {}, pieces) >= 0) return true;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) return false;
    throw transportError(errno == EAGAIN ? ErrorKind::timeout : ErrorKind::disconnected,
                         std::string("sending to vhsm-keyd: ") + strerror(errno));
  }

  std::optional<std::span<std::byte>> receive(std::span<std::byte> buffer) override {
    auto n = receiveDatagram(fd_, buffer);
    if (!n) return std::nullopt;
    if (*n <= 0)
      throw transportError(ErrorKind::disconnected,
                           "vhsm-keyd closed the connection during the request");
    if (size_t(*n) > buffer.size())
      throw transportError(ErrorKind::protocol, "oversized reply from vhsm-keyd");
    return buffer.first(size_t(*n));
  }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<Channel> openUnixChannel(const ClientOptions& options, bool reconnecting) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options.socketPath.size() >= sizeof addr.sun_path)
    throw transportError(ErrorKind::unreachable, "socket path too long: " + options.socketPath);
  std::memcpy(addr.sun_path, options.socketPath.c_str(), options.socketPath.size() + 1);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0)
    throw transportError(ErrorKind::unreachable, std::string("socket: ") + strerror(errno));
  // Before connect too: a keyd that stopped accepting (its backlog full) would otherwise hold
  // a blocking connect forever; SO_SNDTIMEO bounds it.
  setTimeouts(s, options.timeout);
  auto giveUp = std::chrono::steady_clock::now() + (reconnecting ? options.restartGrace : 0ms);
  while (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    bool restarting = e == ECONNREFUSED || e == ENOENT || e == EAGAIN;
    if (e == EINTR || (restarting && std::chrono::steady_clock::now() < giveUp)) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    ::close(s);
    throw transportError(ErrorKind::unreachable,
                         "cannot reach vhsm-keyd at " + options.socketPath + ": " + strerror(e));
  }
  // Large frames must not hang on a keyd that stopped reading, nor replies on a silent one
  // (the timeouts set above).
  int buffer = 1 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  return std::make_unique<UnixChannel>(s);
}

}  // namespace vhsm
