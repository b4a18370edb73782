// Where keyd's store is: an LMDB directory (the default) or an etcd URI with its TLS files and
// this host's name (docs/cluster.md). The one place the command line becomes a store.
#pragma once

#include <cctype>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace vhsm::keyd {

struct StoreLocation {
  std::string spec;  // DIR or etcd://HOST:PORT[,…]/PREFIX
  std::string etcdCa, etcdCert, etcdKey;
  std::string etcdRecordKey;  // file: the cluster's record key (store/etcd_store.hpp)
  std::string hostName;

  bool shared() const;
  // create: a new store (fails if one is there); otherwise the existing one. An LMDB store is
  // also locked against a second keyd (released when the store is destroyed).
  std::unique_ptr<store::Store> open(bool create) const;
};

// gethostname(), for --host-name's default.
std::string defaultHostName();

}  // namespace vhsm::keyd
