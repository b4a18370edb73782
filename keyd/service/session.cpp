#include "keyd/service/session.hpp"

#include "keyd/service/metrics.hpp"
#include "keyd/service/streams.hpp"

namespace vhsm::keyd {

Session::Session(Peer p) : peer(p) {}

Session::~Session() {
  if (!metrics) return;
  if (user) metrics->sessionEnded(peer.netns);
  metrics->connectionClosed(peer.netns);
}

void Session::logout() {
  if (user && metrics) metrics->sessionEnded(peer.netns);
  // Streams hold keyed state: they end with the login that opened them.
  streams.clear();
  keys.clear();
  userSecret.clear();
  userSecret.shrink_to_fit();
  unlockExpires.reset();
  user.reset();
}

}  // namespace vhsm::keyd
