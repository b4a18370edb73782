#include "keyd/store_location.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "keyd/service/names.hpp"
#include "store/etcd_store.hpp"

namespace vhsm::keyd {
namespace {

// One keyd per LMDB store: a second would race the first for nothing but confusion. (On etcd
// several keyds share the store by design; each host's records carry its name.)
class LockedStore final : public store::Store {
 public:
  LockedStore(std::unique_ptr<store::Store> inner, const std::string& dir)
      : inner_(std::move(inner)) {
    std::string path = dir + "/keyd.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + strerror(errno));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      close(fd_);
      throw std::runtime_error("store " + dir + " is in use by another vhsm-keyd");
    }
  }
  ~LockedStore() override { close(fd_); }
  void write(const std::function<void(store::WriteTxn&)>& fn) override { inner_->write(fn); }

 protected:
  void readSnapshot(const std::function<void(const store::ReadTxn&)>& fn) const override {
    inner_->read([&](const store::ReadTxn& txn) { fn(txn); });
  }

 private:
  std::unique_ptr<store::Store> inner_;
  int fd_ = -1;
};

// The record key authenticates every record keyd reads from etcd: a file others can read or
// write would hand that to them.
std::vector<uint8_t> readRecordKey(const std::string& path) {
  if (path.empty())
    throw std::runtime_error(
        "an etcd store needs --etcd-record-key FILE: the cluster's record key, the same file on "
        "every host (docs/cluster.md)");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw std::runtime_error("--etcd-record-key " + path + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
    throw std::runtime_error("--etcd-record-key " + path +
                             ": must be a regular file only its owner may read (chmod 600)");
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

bool StoreLocation::shared() const {
  return store::isEtcdUri(spec);
}

std::unique_ptr<store::Store> StoreLocation::open(bool create) const {
  if (!shared()) {
    if (!etcdCa.empty() || !etcdCert.empty() || !etcdKey.empty() || !etcdRecordKey.empty())
      throw std::runtime_error("the --etcd-* options need an etcd:// store");
    auto lmdb = create ? store::Store::create(spec) : store::Store::open(spec);
    return std::make_unique<LockedStore>(std::move(lmdb), spec);
  }
  // etcd's records are wrapped, but records in transit could be replayed or withheld and its
  // answers forged: keyd speaks to etcd over TLS with a client certificate, or not at all.
  if (etcdCa.empty() || etcdCert.empty() || etcdKey.empty())
    throw std::runtime_error(
        "an etcd store needs --etcd-cacert, --etcd-cert and --etcd-key (TLS with a client "
        "certificate)");
  auto options = store::parseEtcdUri(spec);
  options.etcd.caFile = etcdCa;
  options.etcd.certFile = etcdCert;
  options.etcd.keyFile = etcdKey;
  options.host = hostName;
  options.recordKey = readRecordKey(etcdRecordKey);
  if (!isValidName(hostName))
    throw std::runtime_error("--host-name \"" + hostName +
                             "\": 1-64 of A-Za-z0-9._- (it names this host's records)");
  if (create) return store::EtcdStore::create(std::move(options));
  return store::EtcdStore::open(std::move(options));
}

std::string defaultHostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

}  // namespace vhsm::keyd
