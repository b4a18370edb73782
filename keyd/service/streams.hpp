// Multi-frame operations (init / update… / final) held open on a connection.
#pragma once

#include <optional>

#include "keyd/crypto/aes_gcm.hpp"
#include "keyd/crypto/hashes.hpp"
#include "keyd/service/refusal.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class Stream {
 public:
  virtual ~Stream() = default;
  virtual void update(proto::Request::StreamUpdate::Reader request,
                      proto::Response::Builder response) = 0;
  virtual void final(proto::Request::StreamFinal::Reader request,
                     proto::Response::Builder response) = 0;
  // Data that came with streamInit (AES-GCM): its output goes in response.output.
  virtual void first(std::span<const uint8_t> aad, std::span<const uint8_t> data, bool tagSoFar,
                     proto::Response::Builder response) {
    (void)tagSoFar;
    if (!aad.empty() || !data.empty())
      throw Refusal(proto::ErrorCode::INVALID_ARGUMENT, "this stream takes no data at init");
    (void)response;
  }
  // An independent copy in the same state; Refusal(unsupportedAlgorithm) where impossible.
  virtual std::unique_ptr<Stream> clone() const = 0;
  // An update that was sent without asking for a reply failed: report it at final.
  void fail(const Refusal& refusal) {
    if (!failure_) failure_ = refusal;
  }
  void throwIfFailed() const {
    if (failure_) throw *failure_;
  }

 private:
  std::optional<Refusal> failure_;
};

// Digest or HMAC: data in, one value out at final.
std::unique_ptr<Stream> newHashStream(Hasher hasher);
// AES-GCM: AAD then data in, data out per update; tag out (encrypt) or checked (decrypt).
std::unique_ptr<Stream> newGcmStream(bool encrypt, std::span<const uint8_t> key,
                                     std::span<const uint8_t> iv, std::span<const uint8_t> tag);

}  // namespace vhsm::keyd
