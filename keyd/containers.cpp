// Containers: names for network namespaces (SPEC §3). "host" is built in and always names the
// host's own namespace; the others are registered by security officers.
#include "names.hpp"
#include "service.hpp"
#include "user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;

namespace {

constexpr char kHost[] = "host";

}  // namespace

const std::string& Service::containerOf(Session& s) {
  uint64_t epoch = containersEpoch_.load();
  if (s.containersEpoch == epoch) return s.container;
  if (proto::sameNamespace(hostNetns_, s.peer.netns)) {
    s.container = kHost;
  } else {
    s.container = "unregistered-netns-" + std::to_string(s.peer.netns.inode);
    for (const auto& c : store_.read([](const store::ReadTxn& t) { return t.containers(); }))
      if (proto::sameNamespace({c.netnsInode, c.netnsCookie}, s.peer.netns)) s.container = c.name;
  }
  s.containersEpoch = epoch;
  return s.container;
}

void Service::requireKnownContainer(const store::ReadTxn& txn, const std::string& name) {
  if (name != kHost && !txn.container(name))
    throw Refusal(ErrorCode::UNKNOWN_CONTAINER, "no container " + name);
}

void Service::containerAdd(Session& s, proto::ContainerInfo::Reader r) {
  requireSo(s, kFlagCreate);
  store::Container c{requireName("container", r.getName().cStr()), r.getNetnsInode(),
                     r.getNetnsCookie()};
  if (c.name == kHost) throw Refusal(ErrorCode::CONTAINER_EXISTS, "host is built in");
  if (c.netnsInode == 0) throw Refusal(ErrorCode::INVALID_ARGUMENT, "no network namespace given");
  if (proto::sameNamespace({c.netnsInode, c.netnsCookie}, hostNetns_))
    throw Refusal(ErrorCode::CONTAINER_EXISTS, "that namespace is the host's (container host)");
  audited(
      s, "containerAdd", c.name,
      [&](store::WriteTxn& txn) {
        if (txn.container(c.name))
          throw Refusal(ErrorCode::CONTAINER_EXISTS, "container " + c.name + " exists");
        for (const auto& other : txn.containers())
          // A dead namespace's inode is reused by new ones; its cookie never is.
          if (proto::sameNamespace({other.netnsInode, other.netnsCookie},
                                   {c.netnsInode, c.netnsCookie}))
            throw Refusal(ErrorCode::CONTAINER_EXISTS,
                          "that namespace is registered already as " + other.name);
        txn.putContainer(c);
      },
      "netns inode " + std::to_string(c.netnsInode) + (c.netnsCookie ? "" : " (no cookie)"));
  ++containersEpoch_;
  ++authEpoch_;
}

void Service::containerRemove(Session& s, const std::string& rawName) {
  requireSo(s, kFlagDelete);
  auto name = requireName("container", rawName);
  audited(s, "containerRemove", name, [&](store::WriteTxn& txn) {
    if (!txn.deleteContainer(name))
      throw Refusal(ErrorCode::UNKNOWN_CONTAINER, "no container " + name);
  });
  {
    std::lock_guard lock(unlockMutex_);
    std::erase_if(unlocked_, [&](const auto& entry) { return entry.first.second == name; });
  }
  ++containersEpoch_;
  ++authEpoch_;
}

void Service::containerList(Session& s, Response out) {
  requireSo(s, 0);
  auto containers = store_.read([](const store::ReadTxn& t) { return t.containers(); });
  auto list = out.initContainers(unsigned(containers.size()) + 1);
  list[0].setName(kHost);
  list[0].setNetnsInode(hostNetns_.inode);
  list[0].setNetnsCookie(hostNetns_.cookie);
  for (unsigned i = 0; i < containers.size(); ++i) {
    list[i + 1].setName(containers[i].name);
    list[i + 1].setNetnsInode(containers[i].netnsInode);
    list[i + 1].setNetnsCookie(containers[i].netnsCookie);
  }
}

}  // namespace vhsm::keyd
