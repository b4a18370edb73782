// Which container a network namespace is: "host" (keyd's own namespace, built in), a name a
// security officer registered, or one of the namespaces anyone can make, which keyd names
// unregistered-netns-INODE and budgets together.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keyd/service/epoch.hpp"
#include "keyd/service/session.hpp"
#include "protocol/identity.hpp"
#include "store/store.hpp"

namespace vhsm::keyd {

class ContainerDirectory {
 public:
  static constexpr char kHost[] = "host";
  enum class NamespaceClass { host, registered, unregistered };

  ContainerDirectory(store::Store& store, proto::NetnsIdentity hostNetns);

  std::string nameOf(const proto::NetnsIdentity& netns) const;
  // The same for many namespaces, from one read of the registrations.
  std::vector<std::string> namesOf(const std::vector<proto::NetnsIdentity>& netns) const;
  NamespaceClass classify(const proto::NetnsIdentity& netns) const noexcept;
  // The net cookie of the namespace a name registered in this boot names now (host's for
  // host), 0 for none.
  uint64_t cookieOf(const std::string& name) const;
  // The session's container, resolved again only after a registration changed.
  const std::string& of(Session& s) const;
  void requireKnown(const store::ReadTxn& txn, const std::string& name) const;
  static bool isUnregisteredName(const std::string& container);
  // Whether a stored registration names a namespace now: bound, and in this boot.
  bool current(const store::Container& c) const {
    return c.netnsCookie != 0 && c.bootId == bootId_;
  }
  const std::string& bootId() const { return bootId_; }

  const proto::NetnsIdentity& hostNetns() const { return hostNetns_; }
  // Advanced whenever a container is added or removed: names resolved before are stale.
  uint64_t epoch() const { return epoch_.current(); }
  void changed() { epoch_.advance(); }

 private:
  std::string nameIn(const std::vector<store::Container>& registered,
                     const proto::NetnsIdentity& netns) const;
  // This host's registrations, read from the store again only after a change: every
  // connection is classified, and a shared store may be out of reach (the host is then still
  // the host; anything else waits for the store).
  std::shared_ptr<const std::vector<store::Container>> registered() const;

  store::Store& store_;
  mutable std::mutex cacheMutex_;
  mutable std::shared_ptr<const std::vector<store::Container>> cache_;
  mutable uint64_t cacheEpoch_ = 0;
  proto::NetnsIdentity hostNetns_;
  std::string bootId_;
  Epoch epoch_;
};

}  // namespace vhsm::keyd
