// How frames travel between the client and keyd: a Unix SOCK_SEQPACKET connection or the
// netlink transport of vhsm_transport.ko. Everything above (request ids, logins, retries)
// is the same for both.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <vhsm/client.hpp>

namespace vhsm {

class Channel {
 public:
  virtual ~Channel() = default;
  // Sends one frame. Returns false when the channel was already dead (keyd went away) and
  // nothing reached keyd; throws Error for any other failure.
  virtual bool send(const std::vector<std::span<const std::byte>>& pieces, uint64_t requestId) = 0;
  // The next frame keyd sent, within buffer and word aligned; nullopt once the channel's
  // timeout (ClientOptions::timeout) has passed with nothing. Throws Error when the channel
  // broke or the transport refused a frame it was given.
  virtual std::optional<std::span<std::byte>> receive(std::span<std::byte> buffer) = 0;
};

// The socket calls both channels make. setTimeouts: sends and receives on fd give up after
// timeout (SO_SNDTIMEO, SO_RCVTIMEO: a blocking recv is one system call per reply where poll
// and recv were two). sendDatagram: one datagram of pieces, after `prefix` (a transport header,
// may be empty); -1 with errno on failure. receiveDatagram: one datagram; nullopt on timeout,
// -1 with errno on failure, else its full size (larger than buffer when it was cut off). Both
// retry EINTR.
void setTimeouts(int fd, std::chrono::milliseconds timeout);
ssize_t sendDatagram(int fd, std::span<const std::byte> prefix,
                     const std::vector<std::span<const std::byte>>& pieces);
std::optional<ssize_t> receiveDatagram(int fd, std::span<std::byte> buffer);

// reconnecting: keyd was reached before, so wait up to options.restartGrace for it to return.
std::unique_ptr<Channel> openUnixChannel(const ClientOptions& options, bool reconnecting);
// Sending never waits for keyd: with none registered, receive() throws ErrorKind::unreachable.
std::unique_ptr<Channel> openNetlinkChannel(const ClientOptions& options);

inline Error transportError(ErrorKind kind, const std::string& what) {
  return Error(kind, ErrorCode::INTERNAL_ERROR, what);
}

}  // namespace vhsm
