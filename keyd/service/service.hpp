// The transport-independent heart of keyd: one Request in, one Response out, for a Session
// whose peer identity the transport has already established. Authentication, authorisation,
// auditing and every operation live behind Service::handle.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "audit.hpp"
#include "audit_writer.hpp"
#include "login_throttle.hpp"
#include "refusal.hpp"
#include "refusal_limiter.hpp"
#include "session.hpp"
#include "store.hpp"
#include "vhsm.capnp.h"

namespace vhsm::keyd {

struct ServiceLimits {
  size_t maxStreamsPerSession = 16;
  size_t maxCachedKeysPerSession = 256;
  uint32_t maxUnlockSeconds = 7 * 24 * 3600;
};

class Service {
 public:
  Service(store::Store& store, proto::NetnsIdentity hostNetns, ServiceLimits limits = {});

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
  enum class NamespaceClass { host, registered, unregistered };
  NamespaceClass classify(const proto::NetnsIdentity& netns);
  // Changes whenever a container is added or removed: classifications made before are stale.
  uint64_t containersEpoch() const { return containersEpoch_.load(); }
  static bool isUnregisteredName(const std::string& container);

 private:
  using Response = proto::Response::Builder;
  using Request = proto::Request;

  void dispatch(Session& s, Request::Reader request, Response out);
  void refuse(Session& s, Request::Reader request, const Refusal& refusal,
              capnp::MessageBuilder& reply);
  // Appends a refusal record, within the per-container rate limit.
  void auditRefusal(Session& s, const char* action, const std::string& target,
                    proto::ErrorCode code, const std::string& detail, bool queued = false);

  // login.cpp
  void login(Session& s, Request::Login::Reader r);
  void unlock(Session& s, Request::Unlock::Reader r);
  void lock(Session& s, Request::Lock::Reader r);
  void userPasswd(Session& s, Request::UserPasswd::Reader r);
  SecretBytes checkPassword(Session& s, const store::User& user, capnp::Data::Reader password);
  // users.cpp
  void userCreate(Session& s, Request::UserCreate::Reader r);
  void userModify(Session& s, Request::UserModify::Reader r);
  void userDelete(Session& s, const std::string& name);
  void userList(Session& s, Response out);
  void whoami(Session& s, Response out);
  // containers.cpp
  void containerAdd(Session& s, proto::ContainerInfo::Reader r, Response out);
  void containerRemove(Session& s, const std::string& name);
  void containerList(Session& s, Response out);
  const std::string& containerOf(Session& s);
  // host, the registered container's name, or unregistered-netns-INODE.
  std::string containerNamed(const proto::NetnsIdentity& netns);
  void requireKnownContainer(const store::ReadTxn& txn, const std::string& name);
  // keys.cpp
  void keyGenerate(Session& s, Request::KeyGenerate::Reader r);
  void keyImport(Session& s, Request::KeyImport::Reader r);
  void keyList(Session& s, Response out);
  void keyListPage(Session& s, Request::KeyListPage::Reader r, Response out);
  void listKeys(Session& s, const std::string& startAfter, uint32_t page, Response out);
  void keyInfo(Session& s, const std::string& id, Response out);
  void keyDelete(Session& s, const std::string& id);
  void storeNewKey(Session& s, store::Key key, std::span<const uint8_t> material,
                   const char* action);
  // The caller's key id, unwrapped (and cached in the session), if usage is permitted.
  const UnwrappedKey& usableKey(Session& s, const std::string& id, proto::KeyUsage usage);
  void keyPublic(Session& s, const std::string& id, Response out);
  // operations.cpp
  void hmac(Session& s, Request::Hmac::Reader r, Response out);
  void digest(Request::Digest::Reader r, Response out);
  void gcmEncrypt(Session& s, Request::GcmEncrypt::Reader r, Response out);
  void gcmDecrypt(Session& s, Request::GcmDecrypt::Reader r, Response out);
  void sign(Session& s, Request::Sign::Reader r, Response out);
  void streamInit(Session& s, Request::StreamInit::Reader r, Response out);
  void streamUpdate(Session& s, Request::StreamUpdate::Reader r, Response out);
  void streamFinal(Session& s, Request::StreamFinal::Reader r, Response out);
  void streamAbort(Session& s, uint32_t handle);
  void streamClone(Session& s, uint32_t handle, Response out);
  // audit_requests.cpp
  void auditList(Session& s, Request::AuditList::Reader r, Response out);
  void auditVerify(Session& s, Response out);

  // access.cpp: the authorisation rules, in one place.
  const store::User& requireLogin(Session& s);
  const store::User& requireUser(Session& s, uint32_t flag);  // a key owner with flag
  const store::User& requireSo(Session& s, uint32_t flag);
  // Makes the change and appends its record in one durable transaction.
  void audited(Session& s, const char* action, const std::string& target,
               const std::function<void(store::WriteTxn&)>& change, std::string detail = {});
  AuditEvent eventFor(Session& s, const char* action, const std::string& target);

  store::Store& store_;
  proto::NetnsIdentity hostNetns_;
  ServiceLimits limits_;
  LoginThrottle throttle_;
  RefusalLimiter refusalLimiter_;

  // Bumped on every change that can invalidate what sessions cached: authEpoch_ on any user
  // or container change (logins are re-checked), the others for their caches.
  std::atomic<uint64_t> authEpoch_{1};
  std::atomic<uint64_t> keysEpoch_{1};
  std::atomic<uint64_t> containersEpoch_{1};

  struct Unlocked {
    std::vector<uint8_t> userId;  // the user it was made for, not merely the name
    SecretBytes secret;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex unlockMutex_;
  std::map<std::pair<std::string, std::string>, Unlocked> unlocked_;  // (user, container)
  // Ends user's unlocks for which keep(container) is false.
  void endUnlocks(const std::string& user, const std::function<bool(const std::string&)>& keep);

  // Last: destroyed first, writing its queue while the rest still stands.
  AuditWriter auditWriter_{store_};
};

}  // namespace vhsm::keyd
