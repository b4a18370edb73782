// Fuzz target: the frame header and the Cap'n Proto body exactly as keyd reads them
// (decodeHeader, openMessage with its traversal and nesting limits), then every field of the
// request read through the schema, as a handler could. Input: a first byte 0 and a payload
// (sent under a valid header, so the fuzzer reaches the message), or else a whole raw frame.
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <kj/string.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "protocol/frame.hpp"
#include "protocol/vhsm.capnp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > vhsm::proto::kMaxFrame) return 0;
  // Word-aligned, as a receive buffer is.
  std::vector<capnp::word> aligned(size / sizeof(capnp::word) + vhsm::proto::kHeaderSize / 8 + 1);
  auto* bytes = reinterpret_cast<std::byte*>(aligned.data());
  if (data[0] == 0) {
    vhsm::proto::FrameHeader header;
    header.payloadLength = uint32_t(size - 1);
    vhsm::proto::encodeHeader(
        header, std::span<std::byte, vhsm::proto::kHeaderSize>(bytes, vhsm::proto::kHeaderSize));
    std::memcpy(bytes + vhsm::proto::kHeaderSize, data + 1, size - 1);
    size = vhsm::proto::kHeaderSize + size - 1;
  } else {
    std::memcpy(bytes, data, size);
  }
  std::span<const std::byte> frame(bytes, size);
  vhsm::proto::FrameHeader header;
  if (vhsm::proto::decodeHeader(frame, header) != vhsm::proto::FrameError::none) return 0;
  auto payload = frame.subspan(vhsm::proto::kHeaderSize);
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(payload.data()),
                                        payload.size() / sizeof(capnp::word));
  try {
    auto message = vhsm::proto::openMessage(words);
    auto request = message->getRoot<vhsm::proto::Request>();
    // Reads every field (the traversal limit bounds it).
    auto text = kj::str(capnp::toDynamic(request));
    (void)text;
  } catch (const kj::Exception&) {
    // Refused: what keyd answers with malformedMessage.
  }
  return 0;
}
