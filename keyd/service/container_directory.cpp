#include "keyd/service/container_directory.hpp"

#include "keyd/service/refusal.hpp"

namespace vhsm::keyd {

namespace {
constexpr std::string_view kUnregisteredPrefix = "unregistered-netns-";
}  // namespace

ContainerDirectory::ContainerDirectory(store::Store& store, proto::NetnsIdentity hostNetns)
    : store_(store), hostNetns_(hostNetns) {}

bool ContainerDirectory::isUnregisteredName(const std::string& container) {
  return container.starts_with(kUnregisteredPrefix);
}

std::string ContainerDirectory::nameOf(const proto::NetnsIdentity& netns) const {
  if (proto::sameNamespace(hostNetns_, netns)) return kHost;
  for (const auto& c : store_.read([](const store::ReadTxn& t) { return t.containers(); }))
    if (proto::sameNamespace({c.netnsInode, c.netnsCookie}, netns)) return c.name;
  return std::string(kUnregisteredPrefix) + std::to_string(netns.inode);
}

ContainerDirectory::NamespaceClass ContainerDirectory::classify(
    const proto::NetnsIdentity& netns) const {
  auto name = nameOf(netns);
  return name == kHost              ? NamespaceClass::host
         : isUnregisteredName(name) ? NamespaceClass::unregistered
                                    : NamespaceClass::registered;
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
