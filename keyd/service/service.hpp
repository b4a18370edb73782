// The transport-independent heart of keyd: one Request in, one Response out, for a Session
// whose peer identity the transport has already established. Service owns the pieces —
// containers, unlocks, access rules, the key cache, the audit path — and routes each request to
// the handler for its kind; it turns every failure into an error code and an audit record.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/audit_requests.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/backup_requests.hpp"
#include "keyd/service/container_directory.hpp"
#include "keyd/service/container_requests.hpp"
#include "keyd/service/key_cache.hpp"
#include "keyd/service/key_requests.hpp"
#include "keyd/service/login_requests.hpp"
#include "keyd/service/metrics.hpp"
#include "keyd/service/operations.hpp"
#include "keyd/service/refusal.hpp"
#include "keyd/service/session.hpp"
#include "keyd/service/status_requests.hpp"
#include "keyd/service/unlocks.hpp"
#include "keyd/service/user_requests.hpp"
#include "protocol/vhsm.capnp.h"
#include "store/store.hpp"

namespace vhsm::keyd {

struct ServiceLimits {
  size_t maxStreamsPerSession = 16;
  size_t maxCachedKeysPerSession = 256;
  uint32_t maxUnlockSeconds = 7 * 24 * 3600;
};

class Service {
 public:
  // storeName: how status reports the store (its directory or URI); hostName: --host-name.
  // On a shared store, changes other hosts make end what sessions cached of them.
  Service(store::Store& store, proto::NetnsIdentity hostNetns, ServiceLimits limits = {},
          std::string storeName = {}, std::string hostName = {});
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Never throws: every failure becomes the reply's error, built afresh so that nothing a
  // failed handler had written (say, unauthenticated plaintext) can leak. Returns false when
  // the request asked for no reply.
  bool handle(Session& session, proto::Request::Reader request, capnp::MessageBuilder& reply,
              bool noReply);

  // For a refusal the transport detects before any request is parsed (bad frame).
  void auditTransportRefusal(Session& session, proto::ErrorCode code, const std::string& detail);
  // For a connection (or netlink session) refused over a budget: no reply waits for it, so its
  // record is queued for the audit writer rather than written on the accepting thread.
  void auditConnectionRefusal(Session& session, const std::string& detail);

  // How a transport budgets a peer's namespace: the host, a registered container, or one of
  // the namespaces anyone can make for free, which share one budget.
  using NamespaceClass = ContainerDirectory::NamespaceClass;
  NamespaceClass classify(const proto::NetnsIdentity& netns) const {
    return containers_.classify(netns);
  }
  // Changes whenever a container is added or removed: classifications made before are stale.
  uint64_t containersEpoch() const { return containers_.epoch(); }

  // Each audit record also goes to syslog (authpriv) as it is committed (--audit-syslog).
  void mirrorAuditToSyslog() { auditor_.mirrorToSyslog(); }

  // The metrics socket's text (Prometheus exposition format).
  std::string prometheusMetrics() { return status_.prometheus(); }

 private:
  void dispatch(Session& s, proto::Request::Reader request, proto::Response::Builder out);
  void refuse(Session& s, proto::Request::Reader request, const Refusal& refusal,
              capnp::MessageBuilder& reply);

  void storeChanged(store::StoreChange change);
  void withdrawStaleUnlocks();

  store::Store& store_;
  ContainerDirectory containers_;
  Metrics metrics_;
  Unlocks unlocks_;
  Access access_;
  KeyCache keys_;
  Auditor auditor_;
  LoginRequests logins_;
  UserRequests users_;
  ContainerRequests containerRequests_;
  KeyRequests keyRequests_;
  Operations operations_;
  AuditRequests auditRequests_;
  BackupRequests backups_;
  StatusRequests status_;
};

}  // namespace vhsm::keyd
