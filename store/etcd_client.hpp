// etcd's v3 API through its JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/watch) over libcurl:
// both maintained libraries Debian ships, no generated code, the same requests `curl` shows in
// etcd's own documentation. (gRPC would need Debian's grpc++ and etcd's .proto files vendored
// for the handful of calls a store makes.) Keys and values are bytes; the gateway's base64 and
// 64-bit numbers-as-strings stay in etcd_client.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace vhsm::store {

struct EtcdOptions {
  std::vector<std::string> endpoints;     // host:port
  std::string caFile, certFile, keyFile;  // TLS (https) when caFile is set
  long requestTimeoutMillis = 3000;
  long connectTimeoutMillis = 500;
};

struct EtcdKeyValue {
  std::string key, value;
  int64_t modRevision = 0, createRevision = 0, version = 0;
};

struct EtcdRange {
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;  // the store's revision the range was read at
  bool more = false;
};

struct EtcdCompare {
  enum class Target { modRevision, createRevision };
  enum class Result { equal, less };
  std::string key, rangeEnd;  // rangeEnd empty: the key alone; every key in the range must match
  Target target = Target::modRevision;
  Result result = Result::equal;
  int64_t value = 0;
};

struct EtcdOp {
  std::string key;
  std::string value;
  bool erase = false;
  std::string rangeEnd;  // erase: [key, rangeEnd) rather than the key alone
};

struct EtcdEvent {
  std::string key;
  bool erase = false;
  int64_t modRevision = 0, version = 0;
};

// etcd refused the request, or answered what this client cannot read.
class EtcdError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The request reached no member, or a member without a leader: the caller may say
// "unavailable". sent: the request may have been applied (a commit whose outcome is unknown).
class EtcdUnavailable : public std::runtime_error {
 public:
  EtcdUnavailable(const std::string& what, bool sent) : std::runtime_error(what), sent_(sent) {}
  bool sent() const { return sent_; }

 private:
  bool sent_;
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // [key, rangeEnd) ("" = key alone) at revision (0 = now), at most limit (0 = all).
  EtcdRange range(const std::string& key, const std::string& rangeEnd, int64_t revision = 0,
                  int64_t limit = 0, bool descending = false);
  // Applies ops if every compare holds; returns whether it did. revision: the store's after.
  bool txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& ops,
           int64_t* revision = nullptr);
  // Streams the events on [key, rangeEnd) after startRevision until stop is set or the
  // connection ends (then throws EtcdUnavailable). onEvents gets each batch and the revision
  // it brings the watcher to. A compacted start revision throws EtcdCompacted.
  void watch(const std::string& key, const std::string& rangeEnd, int64_t startRevision,
             const std::atomic<bool>& stop,
             const std::function<void(const std::vector<EtcdEvent>&, int64_t)>& onEvents);

  // The first key after every key that starts with prefix.
  static std::string prefixEnd(std::string prefix);

 private:
  struct Handle;
  std::string post(const std::string& path, const std::string& body, bool retrySent);
  std::unique_ptr<Handle> takeHandle();
  void giveBack(std::unique_ptr<Handle> handle);

  EtcdOptions options_;
  std::string scheme_;
  std::atomic<size_t> preferred_{0};  // the endpoint that last answered
  std::mutex poolMutex_;
  std::vector<std::unique_ptr<Handle>> pool_;
};

class EtcdCompacted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vhsm::store
