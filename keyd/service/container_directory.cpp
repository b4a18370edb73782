#include "keyd/service/container_directory.hpp"

#include <fstream>

#include "keyd/base/log.hpp"
#include "keyd/crypto/primitives.hpp"
#include "keyd/service/refusal.hpp"

namespace vhsm::keyd {

namespace {

constexpr std::string_view kUnregisteredPrefix = "unregistered-netns-";

// Unreadable, a random value stands in: registrations made before this keyd started then name
// nothing (they are bound again), rather than risk matching a namespace of another boot.
std::string readBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (std::getline(in, id) && !id.empty()) return id;
  logError("cannot read /proc/sys/kernel/random/boot_id: containers must be bound again");
  uint64_t random = 0;
  randomBytes({reinterpret_cast<uint8_t*>(&random), sizeof random});
  return "unreadable-" + std::to_string(random);
}

}  // namespace

ContainerDirectory::ContainerDirectory(store::Store& store, proto::NetnsIdentity hostNetns)
    : store_(store), hostNetns_(hostNetns), bootId_(readBootId()) {}

bool ContainerDirectory::isUnregisteredName(const std::string& container) {
  return container.starts_with(kUnregisteredPrefix);
}

std::string ContainerDirectory::nameIn(const std::vector<store::Container>& registered,
                                       const proto::NetnsIdentity& netns) const {
  if (proto::sameNamespace(hostNetns_, netns)) return kHost;
  for (const auto& c : registered)
    if (current(c) && proto::sameNamespace({c.netnsInode, c.netnsCookie}, netns)) return c.name;
  return std::string(kUnregisteredPrefix) + std::to_string(netns.inode);
}

std::shared_ptr<const std::vector<store::Container>> ContainerDirectory::registered() const {
  uint64_t epoch = epoch_.current();
  {
    std::lock_guard lock(cacheMutex_);
    if (cache_ && cacheEpoch_ == epoch) return cache_;
  }
  std::shared_ptr<const std::vector<store::Container>> list;
  try {
    list = std::make_shared<const std::vector<store::Container>>(
        store_.read([](const store::ReadTxn& t) { return t.containers(); }));
  } catch (const store::StoreUnavailable&) {
    // Only this keyd changes this host's registrations, and every change it may have made
    // (even one whose commit was not confirmed) advances the epoch: a copy of the current
    // epoch is still true.
    std::lock_guard lock(cacheMutex_);
    if (cache_ && cacheEpoch_ == epoch) return cache_;
    throw;
  }
  std::lock_guard lock(cacheMutex_);
  cache_ = list;
  cacheEpoch_ = epoch;  // as of before the read: a change during it is read again next time
  return list;
}

std::string ContainerDirectory::nameOf(const proto::NetnsIdentity& netns) const {
  if (proto::sameNamespace(hostNetns_, netns)) return kHost;
  return nameIn(*registered(), netns);
}

std::vector<std::string> ContainerDirectory::namesOf(
    const std::vector<proto::NetnsIdentity>& netns) const {
  std::vector<std::string> names;
  std::shared_ptr<const std::vector<store::Container>> list;
  for (const auto& n : netns) {
    if (proto::sameNamespace(hostNetns_, n)) {
      names.emplace_back(kHost);
      continue;
    }
    if (!list) list = registered();
    names.push_back(nameIn(*list, n));
  }
  return names;
}

// Transports budget every connection and frame by this, on threads that must not die: when
// the registrations cannot be read (a shared store out of reach, a record failing
// authentication), a namespace that is not the host's gets the unregistered budget.
ContainerDirectory::NamespaceClass ContainerDirectory::classify(
    const proto::NetnsIdentity& netns) const noexcept {
  std::string name;
  try {
    name = nameOf(netns);
  } catch (...) {
    return proto::sameNamespace(hostNetns_, netns) ? NamespaceClass::host
                                                   : NamespaceClass::unregistered;
  }
  return name == kHost              ? NamespaceClass::host
         : isUnregisteredName(name) ? NamespaceClass::unregistered
                                    : NamespaceClass::registered;
}

uint64_t ContainerDirectory::cookieOf(const std::string& name) const {
  if (name == kHost) return hostNetns_.cookie;
  for (const auto& c : *registered())
    if (c.name == name && current(c)) return c.netnsCookie;
  return 0;
}

const std::string& ContainerDirectory::of(Session& s) const {
  uint64_t epoch = epoch_.current();
  if (s.containersEpoch == epoch) return s.container;
  s.container = nameOf(s.peer.netns);
  s.containersEpoch = epoch;
  return s.container;
}

void ContainerDirectory::requireKnown(const store::ReadTxn& txn, const std::string& name) const {
  if (name != kHost && !txn.container(name))
    throw Refusal(proto::ErrorCode::UNKNOWN_CONTAINER, "no container " + name);
}

}  // namespace vhsm::keyd
