#include "keyd/service/service.hpp"

#include <algorithm>

#include <capnp/dynamic.h>

#include "keyd/base/log.hpp"
#include "keyd/service/names.hpp"
#include "keyd/service/streams.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;
using Which = proto::Request::Which;

namespace {

// Only these may be sent without waiting for a reply; their failures surface at streamFinal.
bool mayOmitReply(proto::Request::Reader r) {
  return r.which() == Which::STREAM_UPDATE || r.which() == Which::STREAM_ABORT;
}

std::string actionOf(proto::Request::Reader request) {
  KJ_IF_MAYBE (field, capnp::toDynamic(request).which()) {
    return field->getProto().getName();
  }
  return "unknownRequest";
}

std::string keyIdOf(proto::Request::StreamInit::Reader init) {
  switch (init.which()) {
    case proto::Request::StreamInit::HMAC: return init.getHmac().getKeyId();
    case proto::Request::StreamInit::GCM_ENCRYPT: return init.getGcmEncrypt().getKeyId();
    case proto::Request::StreamInit::GCM_DECRYPT: return init.getGcmDecrypt().getKeyId();
    default: return "";
  }
}

// What a refusal is about, for the audit record.
std::string targetOf(proto::Request::Reader r) {
  switch (r.which()) {
    case Which::LOGIN: return r.getLogin().getUser();
    case Which::USER_CREATE: return r.getUserCreate().getInfo().getName();
    case Which::USER_MODIFY: return r.getUserModify().getName();
    case Which::USER_DELETE: return r.getUserDelete();
    case Which::USER_PASSWD: return r.getUserPasswd().getName();
    case Which::CONTAINER_ADD: return r.getContainerAdd().getName();
    case Which::CONTAINER_REMOVE: return r.getContainerRemove();
    case Which::UNLOCK: return r.getUnlock().getUser();
    case Which::LOCK: return r.getLock().getUser();
    case Which::KEY_GENERATE: return r.getKeyGenerate().getId();
    case Which::KEY_IMPORT: return r.getKeyImport().getId();
    case Which::KEY_INFO: return r.getKeyInfo();
    case Which::KEY_DELETE: return r.getKeyDelete();
    case Which::KEY_PUBLIC: return r.getKeyPublic();
    case Which::KEY_CERTIFICATE_SET: return r.getKeyCertificateSet().getKeyId();
    case Which::KEY_CERTIFICATE: return r.getKeyCertificate();
    case Which::SIGN: return r.getSign().getKeyId();
    case Which::HMAC: return r.getHmac().getKeyId();
    case Which::GCM_ENCRYPT: return r.getGcmEncrypt().getKeyId();
    case Which::GCM_DECRYPT: return r.getGcmDecrypt().getKeyId();
    case Which::STREAM_INIT: return keyIdOf(r.getStreamInit());
    default: return "";
  }
}

}  // namespace

Service::Service(store::Store& store, proto::NetnsIdentity hostNetns, ServiceLimits limits,
                 std::string storeName, std::string hostName)
    : store_(store),
      containers_(store, hostNetns),
      access_(store, containers_, unlocks_),
      keys_(store, access_, limits.maxCachedKeysPerSession),
      auditor_(store, containers_),
      logins_(store, containers_, unlocks_, access_, auditor_, limits.maxUnlockSeconds),
      users_(store, containers_, unlocks_, access_, auditor_, logins_, keys_),
      containerRequests_(store, containers_, unlocks_, access_, auditor_),
      keyRequests_(store, access_, auditor_, keys_),
      operations_(keys_, limits.maxStreamsPerSession),
      auditRequests_(store, access_, auditor_),
      backups_(store, access_, auditor_),
      status_(metrics_, containers_, access_, auditor_, store, std::move(storeName),
              std::move(hostName)) {
  store_.watch([this](store::StoreChange change) { storeChanged(change); });
}

// An unlock ends with its user, with a password change and with the binding it was for, as
// when the change is made here (login_requests.cpp). Should the store not answer now, the
// unlocks stay until the next change is seen: their sessions re-check the user meanwhile.
void Service::withdrawStaleUnlocks() {
  std::vector<store::User> users;
  try {
    users = store_.read([](const store::ReadTxn& t) { return t.users(); });
  } catch (const store::StoreError& e) {
    logWarn(std::string("cannot re-check unlocks: ") + e.what());
    return;
  }
  unlocks_.retain([&](const std::string& name, const std::string& container,
                      const Unlocks::Grant& grant) {
    for (const auto& u : users)
      if (u.name == name)
        return u.id == grant.userId && u.wrappedSecret == grant.wrappedSecret &&
               std::find(u.containers.begin(), u.containers.end(), container) != u.containers.end();
    return false;
  });
}

Service::~Service() {
  store_.watch({});
}

// Another host changed the shared store: every session re-checks what it cached of users
// (rights, bindings) or of keys at its next request, as after the same change made here.
void Service::storeChanged(store::StoreChange change) {
  switch (change) {
    case store::StoreChange::users:
      access_.changed();
      keys_.keysDeleted();  // a removed user's keys went with it
      withdrawStaleUnlocks();
      break;
    case store::StoreChange::keysRemoved: keys_.keysDeleted(); break;
    case store::StoreChange::containers:  // this keyd's own change, or one it could not confirm
      containers_.changed();
      access_.changed();
      break;
    case store::StoreChange::everything:
      containers_.changed();
      access_.changed();
      keys_.keysDeleted();
      withdrawStaleUnlocks();
      break;
  }
}

bool Service::handle(Session& s, proto::Request::Reader request, capnp::MessageBuilder& reply,
                     bool noReply) {
  if (!s.metrics) {
    s.metrics = &metrics_;
    metrics_.connectionOpened(s.peer.netns);
  }
  bool wasLoggedIn = s.user.has_value();
  try {
    try {
      metrics_.request(unsigned(request.which()));
      for (uint32_t handle : request.getAbandonedStreams()) s.streams.erase(handle);
      dispatch(s, request, reply.initRoot<proto::Response>());
      if (!wasLoggedIn && s.user) metrics_.sessionStarted(s.peer.netns);
      return !(noReply && mayOmitReply(request));
    } catch (const Refusal&) {
      throw;
    } catch (const CryptoError& e) {
      throw refusalFor(e);
    } catch (const store::StoreUnavailable& e) {
      logWarn(std::string("store unavailable: ") + e.what());
      throw Refusal(ErrorCode::STORE_UNAVAILABLE, std::string("store unavailable: ") + e.what());
    } catch (const store::StoreError& e) {
      logError(std::string("store: ") + e.what());
      throw Refusal(ErrorCode::STORE_ERROR, std::string("store error: ") + e.what());
    } catch (const kj::Exception& e) {
      throw Refusal(ErrorCode::MALFORMED_MESSAGE,
                    "malformed request: " + std::string(e.getDescription().cStr()));
    } catch (const std::bad_alloc&) {
      throw Refusal(ErrorCode::INTERNAL_ERROR, "out of memory");
    } catch (const std::exception& e) {
      logError(std::string("internal error: ") + e.what());
      throw Refusal(ErrorCode::INTERNAL_ERROR, "internal error");
    }
  } catch (const Refusal& refusal) {
    if (noReply && mayOmitReply(request)) {
      if (request.which() == Which::STREAM_UPDATE) {
        auto it = s.streams.find(request.getStreamUpdate().getHandle());
        if (it != s.streams.end()) it->second->fail(refusal);
      }
      return false;
    }
    refuse(s, request, refusal, reply);
    return true;
  }
}

void Service::refuse(Session& s, proto::Request::Reader request, const Refusal& refusal,
                     capnp::MessageBuilder& reply) {
  metrics_.refusal(unsigned(refusal.code()));
  auto out = reply.initRoot<proto::Response>();  // discards whatever the handler had built
  out.setError(refusal.code());
  out.setMessage(refusal.what());
  out.setRetryAfterMillis(refusal.retryAfterMillis());
  std::string action, target;
  try {
    action = actionOf(request);
    target = loggableName(targetOf(request));
  } catch (const kj::Exception&) {
    action = "malformedRequest";
  }
  logDebug("refused " + action + " " + target + ": " + refusal.what());
  auditor_.refusal(s, action.c_str(), target, refusal.code(), refusal.what());
}

void Service::auditTransportRefusal(Session& s, ErrorCode code, const std::string& detail) {
  metrics_.refusal(unsigned(code));
  auditor_.refusal(s, "frame", "", code, detail);
}

void Service::auditConnectionRefusal(Session& s, const std::string& detail) {
  metrics_.refusal(unsigned(ErrorCode::TOO_MANY_OPERATIONS));
  auditor_.refusal(s, "connect", "", ErrorCode::TOO_MANY_OPERATIONS, detail, true);
}

void Service::dispatch(Session& s, proto::Request::Reader r, proto::Response::Builder out) {
  switch (r.which()) {
    case Which::PING: return;
    case Which::LOGIN: return logins_.login(s, r.getLogin());
    case Which::LOGOUT: return s.logout();
    case Which::WHOAMI: return users_.whoami(s, out);
    case Which::USER_CREATE: return users_.create(s, r.getUserCreate());
    case Which::USER_MODIFY: return users_.modify(s, r.getUserModify());
    case Which::USER_DELETE: return users_.remove(s, r.getUserDelete());
    case Which::USER_LIST: return users_.list(s, out);
    case Which::USER_PASSWD: return logins_.passwd(s, r.getUserPasswd());
    case Which::CONTAINER_ADD: return containerRequests_.add(s, r.getContainerAdd(), out);
    case Which::CONTAINER_REMOVE: return containerRequests_.remove(s, r.getContainerRemove());
    case Which::CONTAINER_LIST: return containerRequests_.list(s, out);
    case Which::UNLOCK: return logins_.unlock(s, r.getUnlock());
    case Which::LOCK: return logins_.lock(s, r.getLock());
    case Which::KEY_GENERATE: return keyRequests_.generate(s, r.getKeyGenerate());
    case Which::KEY_IMPORT: return keyRequests_.import(s, r.getKeyImport());
    case Which::KEY_LIST: return keyRequests_.list(s, out);
    case Which::KEY_LIST_PAGE: return keyRequests_.listPage(s, r.getKeyListPage(), out);
    case Which::KEY_INFO: return keyRequests_.info(s, r.getKeyInfo(), out);
    case Which::KEY_DELETE: return keyRequests_.remove(s, r.getKeyDelete());
    case Which::HMAC: return operations_.hmac(s, r.getHmac(), out);
    case Which::DIGEST: return Operations::digest(r.getDigest(), out);
    case Which::GCM_ENCRYPT: return operations_.gcmEncrypt(s, r.getGcmEncrypt(), out);
    case Which::GCM_DECRYPT: return operations_.gcmDecrypt(s, r.getGcmDecrypt(), out);
    case Which::STREAM_INIT: return operations_.streamInit(s, r.getStreamInit(), out);
    case Which::STREAM_UPDATE: return Operations::streamUpdate(s, r.getStreamUpdate(), out);
    case Which::STREAM_FINAL: return Operations::streamFinal(s, r.getStreamFinal(), out);
    case Which::STREAM_ABORT: return Operations::streamAbort(s, r.getStreamAbort());
    case Which::AUDIT_LIST: return auditRequests_.list(s, r.getAuditList(), out);
    case Which::AUDIT_VERIFY: return auditRequests_.verify(s, out);
    case Which::STREAM_CLONE: return operations_.streamClone(s, r.getStreamClone(), out);
    case Which::SIGN: return operations_.sign(s, r.getSign(), out);
    case Which::KEY_PUBLIC: return keyRequests_.publicKey(s, r.getKeyPublic(), out);
    case Which::STATUS: return status_.status(s, out);
    case Which::BACKUP: return backups_.backup(s, r.getBackup(), out);
    case Which::KEY_CERTIFICATE_SET:
      return keyRequests_.setCertificate(s, r.getKeyCertificateSet());
    case Which::KEY_CERTIFICATE: return keyRequests_.certificate(s, r.getKeyCertificate(), out);
    case Which::BOUND_USERS: return users_.boundUsers(s, out);
  }
  throw Refusal(ErrorCode::UNKNOWN_REQUEST, "request type not supported by this keyd");
}

}  // namespace vhsm::keyd
