// What one received frame becomes, whatever transport carried it (the Unix socket, the
// netlink module, the fuzzer): a request handled by the service, or a frame
// refused as malformed — audited either way — and the reply to send, if one is due.
#pragma once

#include <functional>
#include <span>

#include "keyd/service/service.hpp"
#include "protocol/frame.hpp"

namespace vhsm::keyd {

struct FrameOutcome {
  bool replyDue = true;
  bool malformed = false;  // counts towards the connection's bad-frame limit
  uint64_t requestId = 0;  // 0 when the header was too broken to trust
};

// frame: the bytes received (fullSize: the datagram's real size, larger when it was cut off).
// Request bytes that carried secrets are wiped once handled.
FrameOutcome handleFrame(Service& service, Session& session, std::span<std::byte> frame,
                         size_t fullSize, capnp::MessageBuilder& reply);

// Sends the reply to a handled frame through send, or a frameTooLarge refusal in its place
// when the reply would not fit one frame. header: the response header the transport wants
// (request id, routing fields). Returns what send returned.
bool sendReply(const proto::FrameHeader& header, capnp::MessageBuilder& reply,
               const std::function<bool(const proto::OutgoingFrame&)>& send);

}  // namespace vhsm::keyd
