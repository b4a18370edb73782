// The typed request API: each method builds one Request and reads one Response.
#include "client/client_impl.hpp"
#include "protocol/frame.hpp"

namespace vhsm {

using Req = proto::Request::Builder;
using Rep = proto::Response::Reader;

namespace {

void setFlags(proto::UserFlags::Builder out, const UserFlags& f) {
  out.setRead(f.read);
  out.setCreate(f.create);
  out.setModify(f.modify);
  out.setDelete(f.remove);
  out.setCreateExtended(f.createExtended);
}

void setList(capnp::List<capnp::Text>::Builder list, const std::vector<std::string>& items) {
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, items[i]);
}

UserInfo userFrom(proto::UserInfo::Reader r) {
  UserInfo u;
  u.name = r.getName();
  u.isSo = r.getType() == proto::UserType::SO;
  auto f = r.getFlags();
  u.flags = {f.getRead(), f.getCreate(), f.getModify(), f.getDelete(), f.getCreateExtended()};
  for (auto c : r.getContainers()) u.containers.emplace_back(c);
  return u;
}

KeyInfo keyFrom(proto::KeyInfo::Reader r) {
  return {r.getId(),    api(r.getType()),  r.getBits(),          r.getCreatedUnixSeconds(),
          r.getOwner(), api(r.getUsage()), r.getHasCertificate()};
}

kj::ArrayPtr<const kj::byte> textBytes(std::string_view s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

}  // namespace

void Client::ping() {
  ClientInternals::call(*this, [](Req r) { r.setPing(); });
}

UserInfo Client::whoami() {
  UserInfo out;
  ClientInternals::call(
      *this, [](Req r) { r.setWhoami(); }, [&](Rep r) { out = userFrom(r.getWhoami()); });
  return out;
}

void Client::userCreate(const UserInfo& user, std::string_view password) {
  ClientInternals::call(*this, [&](Req r) {
    auto create = r.initUserCreate();
    auto info = create.initInfo();
    info.setName(user.name);
    info.setType(user.isSo ? proto::UserType::SO : proto::UserType::USER);
    setFlags(info.initFlags(), user.flags);
    setList(info.initContainers(unsigned(user.containers.size())), user.containers);
    create.setPassword(textBytes(password));
  });
}

void Client::userModify(const std::string& name, const std::optional<UserFlags>& flags,
                        const std::optional<std::vector<std::string>>& containers) {
  ClientInternals::call(*this, [&](Req r) {
    auto modify = r.initUserModify();
    modify.setName(name);
    if (flags) {
      modify.setSetFlags(true);
      setFlags(modify.initFlags(), *flags);
    }
    if (containers) {
      modify.setSetContainers(true);
      setList(modify.initContainers(unsigned(containers->size())), *containers);
    }
  });
}

void Client::userDelete(const std::string& name) {
  ClientInternals::call(*this, [&](Req r) { r.setUserDelete(name); });
}

std::vector<UserInfo> Client::userList() {
  std::vector<UserInfo> out;
  ClientInternals::call(
      *this, [](Req r) { r.setUserList(); },
      [&](Rep r) {
        for (auto u : r.getUsers()) out.push_back(userFrom(u));
      });
  return out;
}

std::vector<std::string> Client::boundUsers() {
  std::vector<std::string> out;
  ClientInternals::call(
      *this, [](Req r) { r.setBoundUsers(); },
      [&](Rep r) {
        for (auto u : r.getUsers()) out.emplace_back(u.getName());
      });
  return out;
}

void Client::userPasswd(const std::string& name, std::string_view oldPassword,
                        std::string_view newPassword) {
  ClientInternals::call(*this, [&](Req r) {
    auto p = r.initUserPasswd();
    p.setName(name);
    p.setOldPassword(textBytes(oldPassword));
    p.setNewPassword(textBytes(newPassword));
  });
}

namespace {

NetnsIdentity addContainer(Client& client, const std::string& name,
                           const std::function<void(proto::ContainerInfo::Builder)>& fill) {
  NetnsIdentity registered;
  ClientInternals::call(
      client,
      [&](Req r) {
        auto c = r.initContainerAdd();
        c.setName(name);
        fill(c);
      },
      [&](Rep r) {
        if (r.getContainers().size() == 1)
          registered = {r.getContainers()[0].getNetnsInode(),
                        r.getContainers()[0].getNetnsCookie()};
      });
  return registered;
}

}  // namespace

NetnsIdentity Client::containerAdd(const std::string& name, NetnsIdentity netns) {
  return addContainer(*this, name, [&](proto::ContainerInfo::Builder c) {
    c.setNetnsInode(netns.inode);
    c.setNetnsCookie(netns.cookie);
  });
}

NetnsIdentity Client::containerAddPid(const std::string& name, pid_t pid) {
  return addContainer(*this, name,
                      [&](proto::ContainerInfo::Builder c) { c.setPid(uint32_t(pid)); });
}

NetnsIdentity Client::containerAddPath(const std::string& name, const std::string& netnsPath) {
  return addContainer(*this, name,
                      [&](proto::ContainerInfo::Builder c) { c.setNetnsPath(netnsPath); });
}

NetnsIdentity Client::containerBindPid(const std::string& name, pid_t pid,
                                       std::optional<uint64_t> expectedCookie) {
  return addContainer(*this, name, [&](proto::ContainerInfo::Builder c) {
    c.setPid(uint32_t(pid));
    c.setBind(true);
    c.setConditional(expectedCookie.has_value());
    c.setExpectedCookie(expectedCookie.value_or(0));
  });
}

void Client::containerUnbind(const std::string& name, std::optional<uint64_t> expectedCookie) {
  addContainer(*this, name, [&](proto::ContainerInfo::Builder c) {
    c.setBind(true);
    c.setConditional(expectedCookie.has_value());
    c.setExpectedCookie(expectedCookie.value_or(0));
  });
}

void Client::containerRemove(const std::string& name) {
  ClientInternals::call(*this, [&](Req r) { r.setContainerRemove(name); });
}

std::vector<ContainerInfo> Client::containerList() {
  std::vector<ContainerInfo> out;
  ClientInternals::call(
      *this, [](Req r) { r.setContainerList(); },
      [&](Rep r) {
        for (auto c : r.getContainers())
          out.push_back({c.getName(), {c.getNetnsInode(), c.getNetnsCookie()}});
      });
  return out;
}

void Client::unlock(const std::string& user, std::string_view password,
                    const std::string& container, uint32_t ttlSeconds) {
  ClientInternals::call(*this, [&](Req r) {
    auto u = r.initUnlock();
    u.setUser(user);
    u.setPassword(textBytes(password));
    u.setContainer(container);
    u.setTtlSeconds(ttlSeconds);
  });
}

void Client::lock(const std::string& user, const std::string& container) {
  ClientInternals::call(*this, [&](Req r) {
    auto l = r.initLock();
    l.setUser(user);
    l.setContainer(container);
  });
}

void Client::keyGenerate(const std::string& id, KeyType type, uint32_t bits) {
  ClientInternals::call(*this, [&](Req r) {
    auto g = r.initKeyGenerate();
    g.setId(id);
    g.setType(wire(type));
    g.setBits(bits);
  });
}

void Client::keyImport(const std::string& id, KeyType type, ByteView material) {
  ClientInternals::call(*this, [&](Req r) {
    auto i = r.initKeyImport();
    i.setId(id);
    i.setType(wire(type));
    i.setMaterial(capnpBytes(material));
  });
}

std::vector<KeyInfo> Client::keyList() {
  std::vector<KeyInfo> out;
  for (bool more = true; more;) {
    std::string after = out.empty() ? std::string() : out.back().id;
    ClientInternals::call(
        *this, [&](Req r) { r.initKeyListPage().setStartAfter(after); },
        [&](Rep r) {
          for (auto k : r.getKeys()) out.push_back(keyFrom(k));
          more = r.getMoreKeys() && r.getKeys().size() > 0;
        });
  }
  return out;
}

KeyInfo Client::keyInfo(const std::string& id) {
  KeyInfo out;
  ClientInternals::call(
      *this, [&](Req r) { r.setKeyInfo(id); }, [&](Rep r) { out = keyFrom(r.getKey()); });
  return out;
}

void Client::keyDelete(const std::string& id) {
  ClientInternals::call(*this, [&](Req r) { r.setKeyDelete(id); });
}

Bytes Client::hmac(const std::string& keyId, HashAlgorithm algorithm, ByteView data) {
  if (data.size() > proto::kMaxChunk) {
    auto stream = hmacStream(keyId, algorithm);
    stream.update(data);
    return stream.final();
  }
  Bytes out;
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto h = r.initHmac();
        h.setKeyId(keyId);
        h.setAlgorithm(wire(algorithm));
        h.adoptData(bulk(h, data));
      },
      [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

Bytes Client::keyPublic(const std::string& id) {
  Bytes out;
  ClientInternals::call(
      *this, [&](Req r) { r.setKeyPublic(id); }, [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

void Client::keyCertificateSet(const std::string& id, ByteView certificate) {
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto c = r.initKeyCertificateSet();
        c.setKeyId(id);
        c.setCertificate(capnpBytes(certificate));
      },
      [](Rep) {});
}

Bytes Client::keyCertificate(const std::string& id) {
  Bytes out;
  ClientInternals::call(
      *this, [&](Req r) { r.setKeyCertificate(id); }, [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

Bytes Client::sign(const std::string& keyId, const SignOptions& options, ByteView data) {
  Bytes out;
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto s = r.initSign();
        s.setKeyId(keyId);
        s.setData(capnpBytes(data));
        s.setHash(wire(options.hash));
        s.setRaw(options.raw);
        s.setRsaPadding(wire(options.rsaPadding));
        s.setPssSaltLength(options.pssSaltLength);
        s.setMgf1Hash(wire(options.mgf1Hash));
      },
      [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

Bytes Client::digest(HashAlgorithm algorithm, ByteView data) {
  if (data.size() > proto::kMaxChunk) {
    auto stream = digestStream(algorithm);
    stream.update(data);
    return stream.final();
  }
  Bytes out;
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto d = r.initDigest();
        d.setAlgorithm(wire(algorithm));
        d.adoptData(bulk(d, data));
      },
      [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

GcmSealed Client::gcmEncrypt(const std::string& keyId, ByteView iv, ByteView aad,
                             ByteView plaintext, uint8_t tagLength) {
  GcmSealed out;
  if (plaintext.size() + aad.size() > proto::kMaxChunk && !iv.empty()) {
    auto stream = gcmEncryptStream(keyId, iv);
    stream.aad(aad);
    out.iv.assign(iv.begin(), iv.end());
    out.ciphertext.resize(plaintext.size());
    stream.update(plaintext, out.ciphertext.data());
    auto rest = stream.finalEncrypt(out.tag, tagLength);
    out.ciphertext.insert(out.ciphertext.end(), rest.begin(), rest.end());
    return out;
  }
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto g = r.initGcmEncrypt();
        g.setKeyId(keyId);
        g.setIv(capnpBytes(iv));
        g.setAad(capnpBytes(aad));
        g.adoptPlaintext(bulk(g, plaintext));
        g.setTagLength(tagLength);
      },
      [&](Rep r) {
        auto g = r.getGcm();
        out.iv = toBytes(g.getIv());
        out.ciphertext = toBytes(g.getCiphertext());
        out.tag = toBytes(g.getTag());
      });
  return out;
}

Bytes Client::gcmDecrypt(const std::string& keyId, ByteView iv, ByteView aad, ByteView ciphertext,
                         ByteView tag) {
  if (ciphertext.size() + aad.size() > proto::kMaxChunk) {
    // Streamed, but all-or-nothing like the one-shot call: nothing is returned unless the tag
    // verifies.
    auto stream = gcmDecryptStream(keyId, iv);
    stream.aad(aad);
    Bytes out(ciphertext.size());
    stream.update(ciphertext, out.data());
    auto rest = stream.finalDecrypt(tag);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  }
  Bytes out;
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto g = r.initGcmDecrypt();
        g.setKeyId(keyId);
        g.setIv(capnpBytes(iv));
        g.setAad(capnpBytes(aad));
        g.adoptCiphertext(bulk(g, ciphertext));
        g.setTag(capnpBytes(tag));
      },
      [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

std::vector<AuditRecord> Client::auditList(uint64_t fromSequence, uint32_t limit) {
  std::vector<AuditRecord> out;
  ClientInternals::call(
      *this,
      [&](Req r) {
        auto a = r.initAuditList();
        a.setFromSequence(fromSequence);
        a.setLimit(limit);
      },
      [&](Rep r) {
        for (auto a : r.getAudit())
          out.push_back({a.getSequence(), a.getUnixMillis(), a.getActor(), a.getContainer(),
                         a.getAction(), a.getTarget(), a.getDetail(), a.getHost(),
                         api(a.getResult())});
      });
  return out;
}

AuditVerdict Client::auditVerify() {
  AuditVerdict out;
  ClientInternals::call(
      *this, [](Req r) { r.setAuditVerify(); },
      [&](Rep r) {
        auto v = r.getAuditVerify();
        out = {v.getRecords(), v.getOk(), v.getFirstBadSequence()};
      });
  return out;
}

uint64_t Client::backupChunk(uint64_t offset, Bytes& chunk) {
  uint64_t size = 0;
  ClientInternals::call(
      *this, [&](Req r) { r.setBackup(offset); },
      [&](Rep r) {
        auto b = r.getBytes();
        chunk.assign(b.begin(), b.end());
        size = r.getBackupSize();
      });
  return size;
}

ServiceStatus Client::status() {
  ServiceStatus out;
  ClientInternals::call(
      *this, [](Req r) { r.setStatus(); },
      [&](Rep r) {
        auto s = r.getStatus();
        out.version = s.getVersion();
        out.store = s.getStore();
        out.uptimeSeconds = s.getUptimeSeconds();
        out.auditQueued = s.getAuditQueued();
        out.ready = s.getReady();
        out.storeProblem = s.getStoreProblem();
        out.host = s.getHost();
        for (auto c : s.getContainers())
          out.containers.push_back({c.getName(), c.getConnections(), c.getSessions()});
        for (auto c : s.getRequests()) out.requests.emplace_back(c.getName(), c.getCount());
        for (auto c : s.getRefusals()) out.refusals.emplace_back(c.getName(), c.getCount());
      });
  return out;
}

}  // namespace vhsm
