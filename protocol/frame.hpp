// Framing shared by every side: a fixed little-endian header followed by one Cap'n Proto
// message in its standard flat encoding. The header is what a transport may inspect and
// stamp without parsing the message (the kernel module overwrites the client and container
// fields; vhsm_netlink.h names their offsets for it).
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "protocol/vhsm.capnp.h"
#include "protocol/vhsm_netlink.h"

namespace vhsm::proto {

inline constexpr uint32_t kFrameMagic = VHSM_FRAME_MAGIC;  // "VHSM" on the wire
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kHeaderSize = VHSM_FRAME_HEADER_SIZE;
// Largest payload one frame may carry; data beyond kMaxChunk streams as init/update/final.
inline constexpr size_t kMaxPayload = 512 * 1024;
inline constexpr size_t kMaxFrame = kHeaderSize + kMaxPayload;
static_assert(kMaxFrame == VHSM_FRAME_MAX);
// Bulk data per frame, leaving room for the rest of the message.
inline constexpr size_t kMaxChunk = 256 * 1024;
inline constexpr unsigned kNestingLimit = 16;

enum class FrameType : uint16_t { request = 1, response = 2 };

// Set on a streamUpdate that needs no reply: failures surface at streamFinal instead.
inline constexpr uint16_t kFlagNoReply = 1;

struct FrameHeader {
  FrameType type = FrameType::request;
  uint16_t flags = 0;
  uint64_t requestId = 0;
  uint32_t payloadLength = 0;
  // Written by the transport only (the netlink module; the Unix socket leaves them zero).
  uint32_t clientPort = 0;
  uint32_t containerInode = 0;  // network namespace inode
  uint64_t containerId = 0;     // network namespace cookie
  uint64_t clientId = 0;        // the module's id of the client socket, never reused
};

enum class FrameError { none, tooShort, badMagic, badVersion, badType, badLength, tooLarge };
const char* describe(FrameError error);

void encodeHeader(const FrameHeader& header, std::span<std::byte, kHeaderSize> out);
// Checks everything the header alone can say against the whole received datagram.
FrameError decodeHeader(std::span<const std::byte> frame, FrameHeader& out);

// The request id and the transport's fields of a frame at least kHeaderSize long, whatever
// else its header says: a transport routes by them before anything is checked.
FrameHeader transportFields(std::span<const std::byte> frame);

// Reader limits for untrusted payloads: the traversal limit is proportional to the payload so
// amplification through shared pointers stays bounded.
capnp::ReaderOptions readerOptions(size_t payloadBytes);

// Builds one request or reply. Cap'n Proto's default first segment (8 KiB) is zeroed on every
// allocation, which cost more than all the rest of a small request's framing (bench/README.md);
// most messages fit 1 KiB, and bulk data gets a segment of its own size either way.
class SmallMessageBuilder : public capnp::MallocMessageBuilder {
 public:
  SmallMessageBuilder() : capnp::MallocMessageBuilder(128) {}
};

// A payload ready to send: header bytes and the message's segments, without copying them.
class OutgoingFrame {
 public:
  OutgoingFrame(FrameHeader header, capnp::MessageBuilder& message);
  // iovec-compatible pieces, in order.
  const std::vector<std::span<const std::byte>>& pieces() const { return pieces_; }
  size_t size() const { return size_; }

 private:
  std::byte header_[kHeaderSize];
  std::vector<uint32_t> segmentTable_;
  std::vector<std::span<const std::byte>> pieces_;
  size_t size_ = 0;
};

// Opens a received payload (word aligned) for reading with readerOptions(). Throws
// kj::Exception when the segment table does not describe exactly the payload.
std::unique_ptr<capnp::FlatArrayMessageReader> openMessage(kj::ArrayPtr<const capnp::word> payload);

}  // namespace vhsm::proto
