#include "keyd/service/login_requests.hpp"

#include <algorithm>

#include "keyd/base/log.hpp"
#include "keyd/crypto/keyring.hpp"
#include "keyd/service/names.hpp"
#include "keyd/service/user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;

namespace {

std::span<const uint8_t> bytesOf(capnp::Data::Reader d) {
  return {d.begin(), d.size()};
}

bool boundTo(const store::User& user, const std::string& container) {
  return std::find(user.containers.begin(), user.containers.end(), container) !=
         user.containers.end();
}

}  // namespace

LoginRequests::LoginRequests(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks,
                             Access& access, Auditor& auditor, uint32_t maxUnlockSeconds)
    : store_(store),
      containers_(containers),
      unlocks_(unlocks),
      access_(access),
      auditor_(auditor),
      maxUnlockSeconds_(maxUnlockSeconds) {}

// Throttled per (user, requesting container, peer uid); failures and throttling are audited.
SecretBytes LoginRequests::checkPassword(Session& s, const store::User& user,
                                         capnp::Data::Reader password) {
  // On the host every local user shares the container, so each uid has its own throttle;
  // inside a container a process may hold many uids, which must not multiply its guesses.
  const auto& container = containers_.of(s);
  LoginThrottle::Who who{user.name, container,
                         container == ContainerDirectory::kHost ? s.peer.uid : 0};
  if (uint32_t wait = throttle_.begin(who))
    throw Refusal(ErrorCode::LOGIN_THROTTLED,
                  wait == LoginThrottle::kBusyRetryMillis
                      ? "other logins as " + user.name + " are being checked; retry in " +
                            std::to_string(wait) + " ms"
                      : "too many failed passwords for " + user.name + "; retry in " +
                            std::to_string(wait) + " ms",
                  wait);
  std::optional<SecretBytes> secret;
  try {
    secret = unwrapUserSecret(user, bytesOf(password));
  } catch (...) {
    throttle_.end(who, false);
    throw;
  }
  uint32_t delay = throttle_.end(who, secret.has_value());
  if (!secret) {
    std::string message = "wrong password for " + user.name;
    if (delay) message += "; further attempts throttled for " + std::to_string(delay) + " ms";
    throw Refusal(ErrorCode::WRONG_PASSWORD, message, delay);
  }
  return std::move(*secret);
}

void LoginRequests::login(Session& s, Request::Login::Reader r) {
  if (s.user) throw Refusal(ErrorCode::ALREADY_LOGGED_IN, "already logged in as " + s.user->name);
  auto name = requireName("user", r.getUser().cStr());
  auto user = store_.read([&](const store::ReadTxn& t) { return t.user(name); });
  const auto& container = containers_.of(s);
  // Checked before the password, so an unbound container cannot even guess passwords; a user
  // that does not exist gets the same answer, so that no container learns which names exist.
  if (!user || !boundTo(*user, container))
    throw Refusal(ErrorCode::CONTAINER_NOT_ALLOWED,
                  "user " + name + " may not be used from container " + container);

  uint64_t epoch = access_.epoch();
  SecretBytes secret;
  std::optional<std::chrono::steady_clock::time_point> unlockExpires;
  const char* how = "password";
  if (r.getPassword().size() == 0) {
    auto grant =
        unlocks_.use(name, container, {user->id, user->wrappedSecret, s.peer.netns.cookie});
    if (!grant)
      throw Refusal(ErrorCode::NOT_UNLOCKED,
                    "no password given and " + name + " is not unlocked for " + container);
    secret = std::move(grant->secret);
    unlockExpires = grant->expires;
    how = "unlock";
  } else {
    secret = checkPassword(s, *user, r.getPassword());
  }
  s.user = std::move(*user);
  s.userSecret = std::move(secret);
  s.unlockExpires = unlockExpires;
  s.authEpoch = epoch;
  // Recorded after the reply, by the audit writer: a login changes nothing in the store.
  auto event = auditor_.eventFor(s, "login", name);
  event.detail = how;
  auditor_.enqueue(std::move(event));
}

void LoginRequests::unlock(Session& s, Request::Unlock::Reader r) {
  access_.requireSo(s, kFlagModify);
  auto name = requireName("user", r.getUser().cStr());
  auto container = requireName("container", r.getContainer().cStr());
  uint32_t ttl = r.getTtlSeconds();
  if (ttl == 0 || ttl > maxUnlockSeconds_)
    throw Refusal(ErrorCode::INVALID_ARGUMENT,
                  "unlock TTL must be 1 to " + std::to_string(maxUnlockSeconds_) + " s");
  auto user = store_.read([&](const store::ReadTxn& t) {
    containers_.requireKnown(t, container);
    return t.user(name);
  });
  if (!user) throw Refusal(ErrorCode::UNKNOWN_USER, "no user " + name);
  if (user->isSo) throw Refusal(ErrorCode::INVALID_ARGUMENT, "only key users can be unlocked");
  if (!boundTo(*user, container))
    throw Refusal(ErrorCode::CONTAINER_NOT_ALLOWED,
                  "user " + name + " is not bound to container " + container);
  if (r.getPassword().size() == 0)
    throw Refusal(ErrorCode::PASSWORD_REQUIRED, "unlock needs the user's password");
  auto secret = checkPassword(s, *user, r.getPassword());
  auditor_.audited(
      s, "unlock", name, [](store::WriteTxn&) {},
      "container " + container + " for " + std::to_string(ttl) + " s");
  unlocks_.grant(name, container,
                 {user->id, std::move(secret), Unlocks::Clock::now() + std::chrono::seconds(ttl),
                  user->wrappedSecret, containers_.cookieOf(container)});
}

void LoginRequests::lock(Session& s, Request::Lock::Reader r) {
  access_.requireSo(s, kFlagModify);
  auto name = requireName("user", r.getUser().cStr());
  std::string container = r.getContainer();
  size_t removed = unlocks_.end(
      name, [&](const std::string& c) { return !container.empty() && c != container; });
  auditor_.audited(
      s, "lock", name, [](store::WriteTxn&) {},
      (container.empty() ? "all containers" : "container " + container) + ", " +
          std::to_string(removed) + " unlock(s) removed");
  access_.changed();  // sessions that logged in through a removed unlock end
}

void LoginRequests::passwd(Session& s, Request::UserPasswd::Reader r) {
  const auto& actor = access_.requireLogin(s);
  std::string name = r.hasName() && r.getName().size() ? r.getName().cStr() : actor.name;
  requireName("user", name);
  if (name != actor.name) access_.requireSo(s, kFlagModify);
  if (r.getOldPassword().size() == 0)
    throw Refusal(ErrorCode::PASSWORD_REQUIRED, "changing a password needs the current one");
  if (r.getNewPassword().size() == 0)
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "the new password is empty");
  auto user = store_.read([&](const store::ReadTxn& t) { return t.user(name); });
  if (!user) throw Refusal(ErrorCode::UNKNOWN_USER, "no user " + name);
  const store::User before = *user;
  auto secret = checkPassword(s, *user, r.getOldPassword());
  rewrapUserSecret(*user, secret, bytesOf(r.getNewPassword()));
  // The record as it is now, with only the secret's wrap replaced: a change to its flags or
  // bindings made meanwhile (here or on another host, during the PBKDF2s) is kept, and a
  // password changed meanwhile fails this one.
  auditor_.audited(s, "userPasswd", name, [&](store::WriteTxn& txn) {
    auto now = txn.user(name);
    if (!now || now->id != user->id) throw Refusal(ErrorCode::UNKNOWN_USER, "no user " + name);
    if (now->wrappedSecret != before.wrappedSecret)
      throw Refusal(ErrorCode::WRONG_PASSWORD, "the password was changed meanwhile");
    now->kdfSalt = user->kdfSalt;
    now->kdfIterations = user->kdfIterations;
    now->wrappedSecret = user->wrappedSecret;
    txn.putUser(*now);
  });
  // An unlock was granted with the old password: a change of password withdraws it.
  unlocks_.end(name, [](const std::string&) { return false; });
  access_.changed();
}

}  // namespace vhsm::keyd
