#include "keyd/service/session.hpp"

#include "keyd/service/streams.hpp"

namespace vhsm::keyd {

Session::Session(Peer p) : peer(p) {}

Session::~Session() = default;

void Session::logout() {
  // Streams hold keyed state: they end with the login that opened them.
  streams.clear();
  keys.clear();
  userSecret.clear();
  userSecret.shrink_to_fit();
  unlockExpires.reset();
  user.reset();
}

}  // namespace vhsm::keyd
