#include "keyd/service/container_requests.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <system_error>

#include "keyd/service/names.hpp"
#include "keyd/service/user_flags.hpp"

namespace vhsm::keyd {
namespace {

// Advances the container and access epochs when it goes, however the change went.
class EpochsAdvance {
 public:
  EpochsAdvance(ContainerDirectory& containers, Access& access)
      : containers_(containers), access_(access) {}
  ~EpochsAdvance() {
    containers_.changed();
    access_.changed();
  }
  EpochsAdvance(const EpochsAdvance&) = delete;
  EpochsAdvance& operator=(const EpochsAdvance&) = delete;

 private:
  ContainerDirectory& containers_;
  Access& access_;
};

}  // namespace

using proto::ErrorCode;

namespace {

// keyd reads a registration's namespace itself, so that it is pinned to the cookie, whatever
// rights the administrator's tool had. The file is first opened without reading (O_PATH) and
// must be a namespace file: an SO's path can then not make keyd open a FIFO or a device.
proto::NetnsIdentity namespaceAt(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > 4096)
    throw Refusal(ErrorCode::INVALID_ARGUMENT, "a namespace path must be absolute");
  int probe = open(path.c_str(), O_PATH | O_CLOEXEC);
  struct statfs fs {};
  bool isNamespace = probe >= 0 && fstatfs(probe, &fs) == 0 && fs.f_type == NSFS_MAGIC;
  int error = errno;
  int fd = isNamespace
               ? open(("/proc/self/fd/" + std::to_string(probe)).c_str(), O_RDONLY | O_CLOEXEC)
               : -1;
  if (probe >= 0) close(probe);
  if (fd < 0)
    throw Refusal(ErrorCode::INVALID_ARGUMENT,
                  "cannot read a network namespace at " + path + ": " +
                      (probe >= 0 && !isNamespace ? "not a namespace file"
                                                  : std::system_category().message(error)));
  try {
    auto id = proto::netnsIdentity(fd, path);
    close(fd);
    return id;
  } catch (const std::system_error& e) {
    close(fd);
    throw Refusal(ErrorCode::INVALID_ARGUMENT, e.what());
  }
}

proto::NetnsIdentity registrationOf(proto::ContainerInfo::Reader r) {
  if (r.getPid() != 0) return namespaceAt("/proc/" + std::to_string(r.getPid()) + "/ns/net");
  if (r.getNetnsPath().size() != 0) return namespaceAt(r.getNetnsPath());
  return {r.getNetnsInode(), r.getNetnsCookie()};
}

}  // namespace

ContainerRequests::ContainerRequests(store::Store& store, ContainerDirectory& containers,
                                     Unlocks& unlocks, Access& access, Auditor& auditor)
    : store_(store),
      containers_(containers),
      unlocks_(unlocks),
      access_(access),
      auditor_(auditor) {}

void ContainerRequests::add(Session& s, proto::ContainerInfo::Reader r, Response out) {
  access_.requireSo(s, kFlagCreate);
  auto name = requireName("container", r.getName().cStr());
  if (name == ContainerDirectory::kHost)
    throw Refusal(ErrorCode::CONTAINER_EXISTS, "host is built in");
  // keyd names every namespace nobody registered unregistered-netns-INODE: a container of
  // such a name would let a user bound to it in from any namespace with that inode.
  if (ContainerDirectory::isUnregisteredName(name))
    throw Refusal(ErrorCode::INVALID_ARGUMENT,
                  "names starting with unregistered-netns- are keyd's");
  bool bind = r.getBind();
  bool unbind = bind && r.getPid() == 0 && r.getNetnsPath().size() == 0 && r.getNetnsInode() == 0;
  auto netns = unbind ? proto::NetnsIdentity{} : registrationOf(r);
  store::Container c{name, netns.inode, netns.cookie, containers_.bootId()};
  if (!unbind) {
    if (c.netnsInode == 0) throw Refusal(ErrorCode::INVALID_ARGUMENT, "no network namespace given");
    if (c.netnsCookie == 0)
      throw Refusal(ErrorCode::INVALID_ARGUMENT,
                    "no net cookie for that namespace: an inode alone may name a later namespace "
                    "(give a pid or a namespace path, and keyd reads both)");
    if (proto::sameNamespace({c.netnsInode, c.netnsCookie}, containers_.hostNetns()))
      throw Refusal(ErrorCode::CONTAINER_EXISTS, "that namespace is the host's (container host)");
  }
  const char* action = !bind ? "containerAdd" : unbind ? "containerUnbind" : "containerBind";
  uint64_t before = 0;  // the cookie of the namespace the name named, 0 for none
  // Whatever the outcome — a commit whose answer was lost may have been applied — names
  // resolved before are re-read, and sessions re-checked.
  EpochsAdvance advance(containers_, access_);
  try {
    auditor_.audited(
        s, action, c.name,
        [&](store::WriteTxn& txn) {
          auto existing = txn.container(c.name);
          if (!bind && existing)
            throw Refusal(ErrorCode::CONTAINER_EXISTS, "container " + c.name + " exists");
          before = existing && containers_.current(*existing) ? existing->netnsCookie : 0;
          if (bind && r.getConditional() && before != r.getExpectedCookie())
            throw Refusal(
                ErrorCode::CONTAINER_EXISTS,
                "container " + c.name +
                    (before ? " names another namespace now (cookie " + std::to_string(before) + ")"
                            : " names no namespace now"));
          for (const auto& other : txn.containers())
            // A dead namespace's inode is reused by new ones; its cookie never is, in one boot.
            if (other.name != c.name && containers_.current(other) &&
                proto::sameNamespace({other.netnsInode, other.netnsCookie},
                                     {c.netnsInode, c.netnsCookie}))
              throw Refusal(ErrorCode::CONTAINER_EXISTS,
                            "that namespace is registered already as " + other.name);
          txn.putContainer(c);
        },
        unbind ? "no namespace"
               : "netns inode " + std::to_string(c.netnsInode) + " cookie " +
                     std::to_string(c.netnsCookie));
  } catch (const store::StoreUnavailable&) {
    unlocks_.endContainer(c.name);  // the change may have been applied
    throw;
  }
  // An unlock was granted to the container the name named: whoever the name names next (a
  // restarted container, or whatever container claims the name while it is free) gets none.
  if (before != c.netnsCookie) unlocks_.endContainer(c.name);
  auto added = out.initContainers(1)[0];
  added.setName(c.name);
  added.setNetnsInode(c.netnsInode);
  added.setNetnsCookie(c.netnsCookie);
  // Sessions from the namespace the name named before now come from an unregistered one
  // (advance, on the way out).
}

void ContainerRequests::remove(Session& s, const std::string& rawName) {
  access_.requireSo(s, kFlagDelete);
  auto name = requireName("container", rawName);
  EpochsAdvance advance(containers_, access_);
  // Ended before the change: an unlock must not outlive a removal whose commit was applied
  // but not confirmed.
  unlocks_.endContainer(name);
  auditor_.audited(s, "containerRemove", name, [&](store::WriteTxn& txn) {
    if (!txn.deleteContainer(name))
      throw Refusal(ErrorCode::UNKNOWN_CONTAINER, "no container " + name);
  });
}

void ContainerRequests::list(Session& s, Response out) {
  access_.requireSo(s, 0);
  auto containers = store_.read([](const store::ReadTxn& t) { return t.containers(); });
  auto list = out.initContainers(unsigned(containers.size()) + 1);
  list[0].setName(ContainerDirectory::kHost);
  list[0].setNetnsInode(containers_.hostNetns().inode);
  list[0].setNetnsCookie(containers_.hostNetns().cookie);
  for (unsigned i = 0; i < containers.size(); ++i) {
    list[i + 1].setName(containers[i].name);
    // A registration from an earlier boot names nothing: listed as unbound.
    if (containers_.current(containers[i])) {
      list[i + 1].setNetnsInode(containers[i].netnsInode);
      list[i + 1].setNetnsCookie(containers[i].netnsCookie);
    }
  }
}

}  // namespace vhsm::keyd
