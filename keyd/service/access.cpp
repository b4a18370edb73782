// Who may do what (docs/security-model.md): SO users manage users, containers and unlocks; users
// manage and use their own keys; each with the flag the request needs, from a container the user is
// bound to. A session re-checks its user whenever users or containers changed since it last looked.
#include <algorithm>

#include "service.hpp"
#include "user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;

const store::User& Service::requireLogin(Session& s) {
  if (!s.user) throw Refusal(ErrorCode::NOT_LOGGED_IN, "log in first");
  if (s.unlockExpires && *s.unlockExpires <= std::chrono::steady_clock::now()) {
    s.logout();
    throw Refusal(ErrorCode::NOT_UNLOCKED, "the unlock this session used has expired");
  }
  uint64_t epoch = authEpoch_.load();
  if (s.authEpoch != epoch) {
    if (s.unlockExpires) {
      std::lock_guard lock(unlockMutex_);
      auto it = unlocked_.find({s.user->name, containerOf(s)});
      if (it == unlocked_.end() || it->second.userId != s.user->id) {
        s.logout();
        throw Refusal(ErrorCode::NOT_UNLOCKED, "the unlock this session used was withdrawn");
      }
    }
    auto fresh = store_.read([&](const store::ReadTxn& t) { return t.user(s.user->name); });
    // A user of the same name made since is someone else: names are reused, ids never.
    if (!fresh || fresh->id != s.user->id) {
      s.logout();
      throw Refusal(ErrorCode::NOT_LOGGED_IN, "the logged-in user was deleted");
    }
    const auto& bound = fresh->containers;
    if (std::find(bound.begin(), bound.end(), containerOf(s)) == bound.end()) {
      s.logout();
      throw Refusal(ErrorCode::CONTAINER_NOT_ALLOWED,
                    "user is no longer bound to container " + containerOf(s));
    }
    s.user = std::move(*fresh);
    s.authEpoch = epoch;
  }
  return *s.user;
}

const store::User& Service::requireUser(Session& s, uint32_t flag) {
  const auto& user = requireLogin(s);
  if (user.isSo)
    throw Refusal(ErrorCode::PERMISSION_DENIED, "security officers cannot own or use keys");
  if (flag && !(user.flags & flag))
    throw Refusal(ErrorCode::PERMISSION_DENIED, "user lacks the " + flagName(flag) + " flag");
  return user;
}

const store::User& Service::requireSo(Session& s, uint32_t flag) {
  const auto& user = requireLogin(s);
  if (!user.isSo)
    throw Refusal(ErrorCode::PERMISSION_DENIED, "only a security officer may do this");
  if (flag && !(user.flags & flag))
    throw Refusal(ErrorCode::PERMISSION_DENIED, "user lacks the " + flagName(flag) + " flag");
  return user;
}

AuditEvent Service::eventFor(Session& s, const char* action, const std::string& target) {
  AuditEvent e;
  e.actor = s.user ? s.user->name : "";
  e.container = containerOf(s);
  e.action = action;
  e.target = target;
  return e;
}

void Service::audited(Session& s, const char* action, const std::string& target,
                      const std::function<void(store::WriteTxn&)>& change, std::string detail) {
  auto event = eventFor(s, action, target);
  event.detail = std::move(detail);
  auditWriter_.writeNow(event, change);
}

}  // namespace vhsm::keyd
