// A request refused with a specific protocol error. Handlers throw it; the dispatcher turns it
// into the response's error code and one-line message, and audits it.
#pragma once

#include <stdexcept>
#include <string>

#include "keyd/crypto/crypto_error.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class Refusal : public std::runtime_error {
 public:
  Refusal(proto::ErrorCode code, const std::string& message, uint32_t retryAfterMillis = 0)
      : std::runtime_error(message), code_(code), retryAfterMillis_(retryAfterMillis) {}
  proto::ErrorCode code() const { return code_; }
  uint32_t retryAfterMillis() const { return retryAfterMillis_; }

 private:
  proto::ErrorCode code_;
  uint32_t retryAfterMillis_;
};

// The crypto layer's refusals in the protocol's terms.
inline Refusal refusalFor(const CryptoError& e) {
  using Kind = CryptoError::Kind;
  switch (e.kind()) {
    case Kind::invalidArgument: return Refusal(proto::ErrorCode::INVALID_ARGUMENT, e.what());
    case Kind::keyTypeMismatch: return Refusal(proto::ErrorCode::KEY_TYPE_MISMATCH, e.what());
    case Kind::tagMismatch: return Refusal(proto::ErrorCode::TAG_MISMATCH, e.what());
    case Kind::unsupportedAlgorithm:
      return Refusal(proto::ErrorCode::UNSUPPORTED_ALGORITHM, e.what());
    case Kind::unreadableKey: return Refusal(proto::ErrorCode::STORE_ERROR, e.what());
    case Kind::internal: break;
  }
  return Refusal(proto::ErrorCode::INTERNAL_ERROR, e.what());
}

}  // namespace vhsm::keyd
