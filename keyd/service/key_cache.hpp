// The keys a session has unwrapped, by id: a key is read from the store and unwrapped under
// the owner's user secret once, then served from the session until any key is deleted
// anywhere (or its owner is), which empties every session's cache.
#pragma once

#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/epoch.hpp"
#include "keyd/service/session.hpp"
#include "protocol/vhsm.capnp.h"
#include "store/store.hpp"

namespace vhsm::keyd {

class KeyCache {
 public:
  KeyCache(store::Store& store, Access& access, size_t maxPerSession);

  // The caller's key id, unwrapped, if its type permits usage.
  const UnwrappedKey& usable(Session& s, const std::string& id, proto::KeyUsage usage);
  void keysDeleted() { epoch_.advance(); }

 private:
  store::Store& store_;
  Access& access_;
  size_t maxPerSession_;
  Epoch epoch_;
};

}  // namespace vhsm::keyd
