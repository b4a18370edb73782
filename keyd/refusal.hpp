// A request refused with a specific protocol error. Handlers throw it; the dispatcher turns it
// into the response's error code and one-line message, and audits it.
#pragma once

#include <stdexcept>
#include <string>

#include "vhsm.capnp.h"

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

}  // namespace vhsm::keyd
