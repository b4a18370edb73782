#include "protocol/frame.hpp"

#include <bit>
#include <cstring>

namespace vhsm::proto {
// The flat Cap'n Proto encoding written by OutgoingFrame is little endian.
static_assert(std::endian::native == std::endian::little);

namespace {

void put16(std::byte* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = std::byte(v >> (8 * i));
}
void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}
void put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::byte(v >> (8 * i));
}
uint64_t get(const std::byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

// Header layout (little endian, every field naturally aligned):
//   0 magic u32 | 4 version u16 | 6 type u16 | 8 requestId u64 | 16 payloadLength u32
//   20 flags u16 | 22 reserved | 24 clientPort u32 | 28 containerInode u32 | 32 containerId u64
//   40 clientId u64
// The fields the kernel module touches are named in vhsm_netlink.h.
constexpr size_t kMagic = VHSM_FRAME_OFF_MAGIC, kVersion = 4, kType = VHSM_FRAME_OFF_TYPE,
                 kRequestId = 8, kLength = VHSM_FRAME_OFF_LENGTH, kFlags = 20,
                 kClientPort = VHSM_FRAME_OFF_CLIENT_PORT,
                 kContainerInode = VHSM_FRAME_OFF_CONTAINER_INODE,
                 kContainer = VHSM_FRAME_OFF_CONTAINER, kClientId = VHSM_FRAME_OFF_CLIENT_ID;
static_assert(kClientId + 8 == kHeaderSize);
static_assert(uint16_t(FrameType::request) == VHSM_FRAME_TYPE_REQUEST &&
              uint16_t(FrameType::response) == VHSM_FRAME_TYPE_RESPONSE);

}  // namespace

const char* describe(FrameError error) {
  switch (error) {
    case FrameError::none: return "ok";
    case FrameError::tooShort: return "frame shorter than its header";
    case FrameError::badMagic: return "bad frame magic";
    case FrameError::badVersion: return "unsupported protocol version";
    case FrameError::badType: return "unknown frame type";
    case FrameError::badLength: return "payload length does not match the frame";
    case FrameError::tooLarge: return "frame larger than the maximum frame size";
  }
  return "unknown frame error";
}

void encodeHeader(const FrameHeader& h, std::span<std::byte, kHeaderSize> out) {
  std::byte* p = out.data();
  std::memset(p, 0, kHeaderSize);
  put32(p + kMagic, kFrameMagic);
  put16(p + kVersion, kProtocolVersion);
  put16(p + kType, uint16_t(h.type));
  put64(p + kRequestId, h.requestId);
  put32(p + kLength, h.payloadLength);
  put16(p + kFlags, h.flags);
  put32(p + kClientPort, h.clientPort);
  put32(p + kContainerInode, h.containerInode);
  put64(p + kContainer, h.containerId);
  put64(p + kClientId, h.clientId);
}

FrameError decodeHeader(std::span<const std::byte> frame, FrameHeader& out) {
  if (frame.size() < kHeaderSize) return FrameError::tooShort;
  const std::byte* p = frame.data();
  if (get(p + kMagic, 4) != kFrameMagic) return FrameError::badMagic;
  if (get(p + kVersion, 2) != kProtocolVersion) return FrameError::badVersion;
  auto type = uint16_t(get(p + kType, 2));
  if (type != uint16_t(FrameType::request) && type != uint16_t(FrameType::response))
    return FrameError::badType;
  if (frame.size() > kMaxFrame) return FrameError::tooLarge;
  auto length = uint32_t(get(p + kLength, 4));
  if (length != frame.size() - kHeaderSize || length % sizeof(capnp::word) != 0 || length == 0)
    return FrameError::badLength;
  out.type = FrameType(type);
  out.requestId = get(p + kRequestId, 8);
  out.payloadLength = length;
  out.flags = uint16_t(get(p + kFlags, 2));
  out.clientPort = uint32_t(get(p + kClientPort, 4));
  out.containerInode = uint32_t(get(p + kContainerInode, 4));
  out.containerId = get(p + kContainer, 8);
  out.clientId = get(p + kClientId, 8);
  return FrameError::none;
}

FrameHeader transportFields(std::span<const std::byte> frame) {
  const std::byte* p = frame.first(kHeaderSize).data();
  FrameHeader out;
  out.requestId = get(p + kRequestId, 8);
  out.clientPort = uint32_t(get(p + kClientPort, 4));
  out.containerInode = uint32_t(get(p + kContainerInode, 4));
  out.containerId = get(p + kContainer, 8);
  out.clientId = get(p + kClientId, 8);
  return out;
}

capnp::ReaderOptions readerOptions(size_t payloadBytes) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = payloadBytes / sizeof(capnp::word) * 4 + 64;
  options.nestingLimit = kNestingLimit;
  return options;
}

OutgoingFrame::OutgoingFrame(FrameHeader header, capnp::MessageBuilder& message) {
  auto segments = message.getSegmentsForOutput();
  // Standard flat encoding: segment count - 1, each segment's size in words, padded to a word.
  segmentTable_.assign((segments.size() + 2) & ~size_t(1), 0);
  segmentTable_[0] = uint32_t(segments.size() - 1);
  size_t payload = segmentTable_.size() * sizeof(uint32_t);
  for (size_t i = 0; i < segments.size(); ++i) {
    segmentTable_[i + 1] = uint32_t(segments[i].size());
    payload += segments[i].asBytes().size();
  }
  header.payloadLength = uint32_t(payload);
  encodeHeader(header, std::span<std::byte, kHeaderSize>(header_));
  pieces_.emplace_back(header_, kHeaderSize);
  pieces_.emplace_back(reinterpret_cast<const std::byte*>(segmentTable_.data()),
                       segmentTable_.size() * sizeof(uint32_t));
  for (auto segment : segments) {
    auto bytes = segment.asBytes();
    pieces_.emplace_back(reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size());
  }
  size_ = kHeaderSize + payload;
}

std::unique_ptr<capnp::FlatArrayMessageReader> openMessage(
    kj::ArrayPtr<const capnp::word> payload) {
  auto reader = std::make_unique<capnp::FlatArrayMessageReader>(
      payload, readerOptions(payload.size() * sizeof(capnp::word)));
  KJ_REQUIRE(reader->getEnd() == payload.end(), "trailing bytes after the message");
  return reader;
}

}  // namespace vhsm::proto
