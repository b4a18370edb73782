// What the algorithms refuse, in their own terms: the service maps each kind to the protocol's
// error code (service/refusal.hpp), so this layer knows nothing of the protocol.
#pragma once

#include <stdexcept>
#include <string>

namespace vhsm::keyd {

class CryptoError : public std::runtime_error {
 public:
  enum class Kind {
    invalidArgument,       // a length or parameter the algorithm does not take
    keyTypeMismatch,       // the key does not fit the algorithm
    tagMismatch,           // AES-GCM authentication failed
    unsupportedAlgorithm,  // an algorithm this keyd does not offer
    unreadableKey,         // stored key material that does not parse
    internal,              // the library failed where it should not
  };
  CryptoError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

}  // namespace vhsm::keyd
