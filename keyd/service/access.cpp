#include "keyd/service/access.hpp"

#include <algorithm>

#include "keyd/service/refusal.hpp"
#include "keyd/service/user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;

Access::Access(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks)
    : store_(store), containers_(containers), unlocks_(unlocks) {}

const store::User& Access::requireLogin(Session& s) {
  if (!s.user) throw Refusal(ErrorCode::NOT_LOGGED_IN, "log in first");
  if (s.unlockExpires && *s.unlockExpires <= std::chrono::steady_clock::now()) {
    s.logout();
    throw Refusal(ErrorCode::NOT_UNLOCKED, "the unlock this session used has expired");
  }
  uint64_t epoch = epoch_.current();
  if (s.authEpoch != epoch) {
    auto fresh = store_.read([&](const store::ReadTxn& t) { return t.user(s.user->name); });
    // A user of the same name made since is someone else: names are reused, ids never.
    if (!fresh || fresh->id != s.user->id) {
      s.logout();
      throw Refusal(ErrorCode::NOT_LOGGED_IN, "the logged-in user was deleted");
    }
    if (s.unlockExpires &&
        !unlocks_.holds(s.user->name, containers_.of(s),
                        {fresh->id, fresh->wrappedSecret, s.peer.netns.cookie})) {
      s.logout();
      throw Refusal(ErrorCode::NOT_UNLOCKED, "the unlock this session used was withdrawn");
    }
    const auto& bound = fresh->containers;
    if (std::find(bound.begin(), bound.end(), containers_.of(s)) == bound.end()) {
      s.logout();
      throw Refusal(ErrorCode::CONTAINER_NOT_ALLOWED,
                    "user is no longer bound to container " + containers_.of(s));
    }
    s.user = std::move(*fresh);
    s.authEpoch = epoch;
  }
  return *s.user;
}

const store::User& Access::requireUser(Session& s, uint32_t flag) {
  const auto& user = requireLogin(s);
  if (user.isSo)
    throw Refusal(ErrorCode::PERMISSION_DENIED, "security officers cannot own or use keys");
  if (flag && !(user.flags & flag))
    throw Refusal(ErrorCode::PERMISSION_DENIED, "user lacks the " + flagName(flag) + " flag");
  return user;
}

const store::User& Access::requireSo(Session& s, uint32_t flag) {
  const auto& user = requireLogin(s);
  if (!user.isSo)
    throw Refusal(ErrorCode::PERMISSION_DENIED, "only a security officer may do this");
  if (flag && !(user.flags & flag))
    throw Refusal(ErrorCode::PERMISSION_DENIED, "user lacks the " + flagName(flag) + " flag");
  return user;
}

}  // namespace vhsm::keyd
