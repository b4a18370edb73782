#include "keyd/service/user_requests.hpp"

#include <algorithm>
#include <chrono>

#include "keyd/crypto/keyring.hpp"
#include "keyd/service/names.hpp"
#include "keyd/service/user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;

namespace {

std::vector<std::string> containerNames(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  for (auto c : list) {
    auto name = requireName("container", c.cStr());
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty())
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "a user must be bound to at least one container");
  return out;
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void fillInfo(proto::UserInfo::Builder out, const store::User& user) {
  out.setName(user.name);
  out.setType(user.isSo ? proto::UserType::SO : proto::UserType::USER);
  setFlags(out.initFlags(), user.flags);
  auto list = out.initContainers(unsigned(user.containers.size()));
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, user.containers[i]);
}

}  // namespace

UserRequests::UserRequests(store::Store& store, ContainerDirectory& containers, Unlocks& unlocks,
                           Access& access, Auditor& auditor, LoginRequests& logins, KeyCache& keys)
    : store_(store),
      containers_(containers),
      unlocks_(unlocks),
      access_(access),
      auditor_(auditor),
      logins_(logins),
      keys_(keys) {}

void UserRequests::create(Session& s, Request::UserCreate::Reader r) {
  const auto& actor = access_.requireSo(s, kFlagCreate);
  auto info = r.getInfo();
  store::User user;
  user.name = requireName("user", info.getName().cStr());
  user.isSo = info.getType() == proto::UserType::SO;
  user.flags = flagBits(info.getFlags());
  user.containers = containerNames(info.getContainers());
  user.createdUnixSeconds = nowSeconds();
  // Only create_extended may create security officers or hand that flag on.
  if ((user.isSo || (user.flags & kFlagCreateExtended)) && !(actor.flags & kFlagCreateExtended))
    throw Refusal(ErrorCode::PERMISSION_DENIED,
                  "creating a security officer needs the create_extended flag");
  if ((user.flags & kFlagCreateExtended) && !user.isSo)
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "create_extended is for security officers only");
  if (r.getPassword().size() == 0)
    throw Refusal(ErrorCode::PASSWORD_REQUIRED, "the new user needs a password");
  uint32_t iterations = store_.read([&](const store::ReadTxn& t) {
    if (t.user(user.name)) throw Refusal(ErrorCode::USER_EXISTS, "user " + user.name + " exists");
    for (const auto& c : user.containers) containers_.requireKnown(t, c);
    return t.kdfIterations();
  });
  auto password = r.getPassword();
  createUserSecret(user, {password.begin(), password.size()}, iterations);
  auditor_.audited(s, "userCreate", user.name, [&](store::WriteTxn& txn) {
    if (txn.user(user.name)) throw Refusal(ErrorCode::USER_EXISTS, "user " + user.name + " exists");
    txn.putUser(user);
  });
}

void UserRequests::modify(Session& s, Request::UserModify::Reader r) {
  const auto& actor = access_.requireSo(s, kFlagModify);
  auto name = requireName("user", r.getName().cStr());
  bool extended = actor.flags & kFlagCreateExtended;
  std::vector<std::string> bound;
  auditor_.audited(s, "userModify", name, [&](store::WriteTxn& txn) {
    auto user = txn.user(name);
    if (!user) throw Refusal(ErrorCode::UNKNOWN_USER, "no user " + name);
    if (user->isSo && !extended)
      throw Refusal(ErrorCode::PERMISSION_DENIED,
                    "modifying a security officer needs the create_extended flag");
    if (r.getSetFlags()) {
      uint32_t flags = flagBits(r.getFlags());
      if ((flags & kFlagCreateExtended) && !user->isSo)
        throw Refusal(ErrorCode::INVALID_ARGUMENT, "create_extended is for security officers only");
      if ((flags & kFlagCreateExtended) != (user->flags & kFlagCreateExtended) && !extended)
        throw Refusal(ErrorCode::PERMISSION_DENIED, "only create_extended may grant it");
      user->flags = flags;
    }
    if (r.getSetContainers()) {
      user->containers = containerNames(r.getContainers());
      for (const auto& c : user->containers) containers_.requireKnown(txn, c);
    }
    bound = user->containers;
    txn.putUser(*user);
  });
  // An unlock for a container the user is no longer bound to must not outlive the binding.
  unlocks_.end(name, [&](const std::string& c) {
    return std::find(bound.begin(), bound.end(), c) != bound.end();
  });
  access_.changed();
}

void UserRequests::remove(Session& s, const std::string& rawName) {
  const auto& actor = access_.requireSo(s, kFlagDelete);
  auto name = requireName("user", rawName);
  if (name == actor.name) throw Refusal(ErrorCode::INVALID_ARGUMENT, "cannot delete yourself");
  bool extended = actor.flags & kFlagCreateExtended;
  auditor_.audited(s, "userDelete", name, [&](store::WriteTxn& txn) {
    auto user = txn.user(name);
    if (!user) throw Refusal(ErrorCode::UNKNOWN_USER, "no user " + name);
    if (user->isSo && !extended)
      throw Refusal(ErrorCode::PERMISSION_DENIED,
                    "deleting a security officer needs the create_extended flag");
    // A user's keys die with the user: nobody else could ever unwrap them.
    txn.deleteKeys(name);
    txn.deleteUser(name);
  });
  unlocks_.end(name, [](const std::string&) { return false; });
  logins_.forgetFailures(name);
  access_.changed();
  keys_.keysDeleted();
}

void UserRequests::list(Session& s, Response out) {
  access_.requireSo(s, 0);
  auto users = store_.read([](const store::ReadTxn& t) { return t.users(); });
  auto list = out.initUsers(unsigned(users.size()));
  for (unsigned i = 0; i < list.size(); ++i) fillInfo(list[i], users[i]);
}

void UserRequests::whoami(Session& s, Response out) {
  fillInfo(out.initWhoami(), access_.requireLogin(s));
}

void UserRequests::boundUsers(Session& s, Response out) {
  const std::string& container = containers_.of(s);
  std::vector<std::string> names;
  if (!ContainerDirectory::isUnregisteredName(container)) {
    for (const auto& u : store_.read([](const store::ReadTxn& t) { return t.users(); }))
      if (!u.isSo &&
          std::find(u.containers.begin(), u.containers.end(), container) != u.containers.end())
        names.push_back(u.name);
  }
  auto list = out.initUsers(unsigned(names.size()));
  for (unsigned i = 0; i < list.size(); ++i) list[i].setName(names[i]);
}

}  // namespace vhsm::keyd
