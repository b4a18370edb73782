// Frame parsing: every truncation and corruption of a valid frame is rejected cleanly or read
// safely within the reader limits — never a crash (the suite also runs under ASan/UBSan).
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "protocol/frame.hpp"

using namespace vhsm::proto;

namespace {

std::vector<std::byte> flatten(const OutgoingFrame& frame) {
  std::vector<std::byte> out;
  for (auto piece : frame.pieces()) out.insert(out.end(), piece.begin(), piece.end());
  return out;
}

std::vector<std::byte> sampleFrame() {
  capnp::MallocMessageBuilder m;
  auto hmac = m.initRoot<Request>().initHmac();
  hmac.setKeyId("k1");
  hmac.setAlgorithm(HashAlgorithm::SHA256);
  hmac.setData(kj::StringPtr("hello world").asBytes());
  FrameHeader h;
  h.requestId = 42;
  h.clientPort = 3;
  h.containerInode = 4026531840u;
  h.containerId = 7;
  h.clientId = 0x0102030405060708u;
  return flatten(OutgoingFrame(h, m));
}

// Parses a frame as keyd does; true when it yields a readable request.
bool parse(const std::vector<std::byte>& frame) {
  FrameHeader h;
  if (decodeHeader(frame, h) != FrameError::none) return false;
  // Copy to word alignment, as keyd's receive buffer guarantees.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(h.payloadLength / 8);
  std::memcpy(words.begin(), frame.data() + kHeaderSize, h.payloadLength);
  try {
    auto reader = openMessage(words.asPtr());
    auto request = reader->getRoot<Request>();
    (void)request.totalSize();  // walks the whole message
    if (request.which() == Request::HMAC) (void)request.getHmac().getKeyId();
    return true;
  } catch (const kj::Exception&) {
    return false;
  }
}

}  // namespace

TEST_CASE("a frame round-trips through encode and decode") {
  auto frame = sampleFrame();
  FrameHeader h;
  REQUIRE(decodeHeader(frame, h) == FrameError::none);
  CHECK(h.requestId == 42);
  CHECK(h.containerId == 7);
  CHECK(h.containerInode == 4026531840u);
  CHECK(h.clientPort == 3);
  CHECK(h.clientId == 0x0102030405060708u);
  CHECK(h.type == FrameType::request);
  CHECK(h.payloadLength == frame.size() - kHeaderSize);
  REQUIRE(parse(frame));
}

TEST_CASE("the transport's fields sit where the kernel module stamps them") {
  auto frame = sampleFrame();
  auto le = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | uint64_t(frame[at + size_t(i)]);
    return v;
  };
  CHECK(le(VHSM_FRAME_OFF_MAGIC, 4) == VHSM_FRAME_MAGIC);
  CHECK(le(VHSM_FRAME_OFF_TYPE, 2) == VHSM_FRAME_TYPE_REQUEST);
  CHECK(le(VHSM_FRAME_OFF_LENGTH, 4) == frame.size() - VHSM_FRAME_HEADER_SIZE);
  CHECK(le(VHSM_FRAME_OFF_CLIENT_PORT, 4) == 3);
  CHECK(le(VHSM_FRAME_OFF_CONTAINER_INODE, 4) == 4026531840u);
  CHECK(le(VHSM_FRAME_OFF_CONTAINER, 8) == 7);
  CHECK(le(VHSM_FRAME_OFF_CLIENT_ID, 8) == 0x0102030405060708u);
  // Read before anything else is checked, as the netlink server routes a frame.
  frame[4] = std::byte{0xff};  // a version no one speaks
  auto fields = transportFields(frame);
  CHECK(fields.requestId == 42);
  CHECK(fields.clientPort == 3);
  CHECK(fields.containerInode == 4026531840u);
  CHECK(fields.containerId == 7);
  CHECK(fields.clientId == 0x0102030405060708u);
}

TEST_CASE("every truncation of a valid frame is rejected") {
  auto frame = sampleFrame();
  for (size_t n = 0; n < frame.size(); ++n) {
    std::vector<std::byte> cut(frame.begin(), frame.begin() + ptrdiff_t(n));
    INFO("length " << n);
    CHECK_FALSE(parse(cut));
  }
}

TEST_CASE("corrupting a checked header field is rejected with the right error") {
  auto frame = sampleFrame();
  FrameHeader h;
  auto corrupt = [&](size_t offset) {
    auto bad = frame;
    bad[offset] ^= std::byte{0x5a};
    return decodeHeader(bad, h);
  };
  CHECK(corrupt(0) == FrameError::badMagic);
  CHECK(corrupt(4) == FrameError::badVersion);
  CHECK(corrupt(6) == FrameError::badType);
  CHECK(corrupt(16) == FrameError::badLength);
}

TEST_CASE("every single-byte corruption is handled without a crash") {
  auto frame = sampleFrame();
  size_t parsed = 0;
  for (size_t i = 0; i < frame.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = frame;
      bad[i] ^= std::byte(1 << bit);
      parsed += parse(bad);
    }
  // Payload corruptions may still be a readable (different) request; header ones never are.
  CHECK(parsed < frame.size() * 8);
}

TEST_CASE("oversized, misaligned and wrongly typed frames are refused") {
  FrameHeader h;
  std::vector<std::byte> huge(kMaxFrame + 8);
  auto frame = sampleFrame();
  std::copy(frame.begin(), frame.begin() + kHeaderSize, huge.begin());
  CHECK(decodeHeader(huge, h) == FrameError::tooLarge);

  auto odd = frame;
  odd.push_back(std::byte{0});
  CHECK(decodeHeader(odd, h) == FrameError::badLength);

  std::vector<std::byte> headerOnly(frame.begin(), frame.begin() + kHeaderSize);
  CHECK(decodeHeader(headerOnly, h) != FrameError::none);
}

TEST_CASE("a segment table that lies about the payload is refused") {
  auto frame = sampleFrame();
  // First segment's size word follows the segment count.
  auto bad = frame;
  bad[kHeaderSize + 4] = std::byte{0xff};
  bad[kHeaderSize + 5] = std::byte{0xff};
  CHECK_FALSE(parse(bad));
  // Trailing words after the message.
  capnp::MallocMessageBuilder m;
  m.initRoot<Request>().setPing();
  FrameHeader h;
  auto ping = flatten(OutgoingFrame(h, m));
  ping.resize(ping.size() + 8);
  uint32_t length = uint32_t(ping.size() - kHeaderSize);
  std::memcpy(ping.data() + 16, &length, 4);
  CHECK_FALSE(parse(ping));
}

TEST_CASE("deeply nested messages hit the nesting limit") {
  // A list of lists nested beyond kNestingLimit, written as raw pointers.
  capnp::MallocMessageBuilder m;
  auto root = m.getRoot<capnp::AnyPointer>();
  capnp::AnyPointer::Builder current = root;
  for (unsigned i = 0; i < kNestingLimit + 4; ++i)
    current = current
                  .initAsAnyList(capnp::ElementSize::POINTER, 1)  // NOLINT
                  .as<capnp::List<capnp::AnyPointer>>()[0];
  auto flat = capnp::messageToFlatArray(m);
  capnp::FlatArrayMessageReader reader(flat, readerOptions(flat.size() * 8));
  CHECK_THROWS_AS(reader.getRoot<capnp::AnyPointer>().targetSize(), kj::Exception);
}
