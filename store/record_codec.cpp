#include "store/record_codec.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>

#include "store/records.capnp.h"

namespace vhsm::store {
namespace {

std::vector<uint8_t> bytes(capnp::Data::Reader data) {
  return {data.begin(), data.end()};
}
kj::ArrayPtr<const kj::byte> view(const std::vector<uint8_t>& v) {
  return {v.data(), v.size()};
}

std::string flatten(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto b = words.asBytes();
  return std::string(reinterpret_cast<const char*>(b.begin()), b.size());
}

// Values are copied into word-aligned memory: neither LMDB nor a network buffer guarantees
// alignment. A value that is not a whole message is a StoreError, not a crash.
template <typename T, typename Decode>
auto decodeRecord(std::string_view value, Decode decode) {
  if (value.size() % sizeof(capnp::word) != 0)
    throw StoreError("damaged record: " + std::to_string(value.size()) + " bytes");
  auto words = kj::heapArray<capnp::word>(value.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), value.data(), value.size());
  try {
    capnp::FlatArrayMessageReader reader(words.asPtr());
    return decode(reader.getRoot<T>());
  } catch (const kj::Exception& e) {
    throw StoreError(std::string("damaged record: ") + e.getDescription().cStr());
  }
}

}  // namespace

std::string encodeUser(const User& u) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<records::User>();
  r.setName(u.name);
  r.setIsSo(u.isSo);
  r.setFlags(u.flags);
  auto list = r.initContainers(unsigned(u.containers.size()));
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, u.containers[i]);
  r.setKdfSalt(view(u.kdfSalt));
  r.setKdfIterations(u.kdfIterations);
  r.setWrappedSecret(view(u.wrappedSecret));
  r.setCreatedUnixSeconds(u.createdUnixSeconds);
  r.setId(view(u.id));
  return flatten(m);
}

std::string encodeContainer(const Container& c) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<records::Container>();
  r.setName(c.name);
  r.setNetnsInode(c.netnsInode);
  r.setNetnsCookie(c.netnsCookie);
  r.setBootId(c.bootId);
  return flatten(m);
}

std::string encodeKey(const Key& key) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<records::Key>();
  r.setOwner(key.owner);
  r.setId(key.id);
  r.setType(key.type);
  r.setBits(key.bits);
  r.setUsage(key.usage);
  r.setCreatedUnixSeconds(key.createdUnixSeconds);
  r.setWrapped(view(key.wrapped));
  r.setCertificate(view(key.certificate));
  return flatten(m);
}

std::string encodeAudit(const AuditEntry& e) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<records::AuditEntry>();
  r.setSequence(e.sequence);
  r.setUnixMillis(e.unixMillis);
  r.setActor(e.actor);
  r.setContainer(e.container);
  r.setAction(e.action);
  r.setTarget(e.target);
  r.setResult(e.result);
  r.setDetail(e.detail);
  r.setPrevHash(view(e.prevHash));
  r.setHash(view(e.hash));
  r.setHost(e.host);
  return flatten(m);
}

User decodeUser(std::string_view value) {
  return decodeRecord<records::User>(value, [](records::User::Reader r) {
    User u;
    u.name = r.getName();
    u.isSo = r.getIsSo();
    u.flags = r.getFlags();
    for (auto c : r.getContainers()) u.containers.emplace_back(c);
    u.kdfSalt = bytes(r.getKdfSalt());
    u.kdfIterations = r.getKdfIterations();
    u.wrappedSecret = bytes(r.getWrappedSecret());
    u.createdUnixSeconds = r.getCreatedUnixSeconds();
    u.id = bytes(r.getId());
    return u;
  });
}

Container decodeContainer(std::string_view value) {
  return decodeRecord<records::Container>(value, [](records::Container::Reader r) {
    return Container{r.getName(), r.getNetnsInode(), r.getNetnsCookie(), r.getBootId()};
  });
}

Key decodeKey(std::string_view value) {
  return decodeRecord<records::Key>(value, [](records::Key::Reader r) {
    Key k;
    k.owner = r.getOwner();
    k.id = r.getId();
    k.type = r.getType();
    k.bits = r.getBits();
    k.usage = r.getUsage();
    k.createdUnixSeconds = r.getCreatedUnixSeconds();
    k.wrapped = bytes(r.getWrapped());
    k.certificate = bytes(r.getCertificate());
    return k;
  });
}

AuditEntry decodeAudit(std::string_view value) {
  return decodeRecord<records::AuditEntry>(value, [](records::AuditEntry::Reader r) {
    AuditEntry e;
    e.sequence = r.getSequence();
    e.unixMillis = r.getUnixMillis();
    e.actor = r.getActor();
    e.container = r.getContainer();
    e.action = r.getAction();
    e.target = r.getTarget();
    e.result = r.getResult();
    e.detail = r.getDetail();
    e.prevHash = bytes(r.getPrevHash());
    e.hash = bytes(r.getHash());
    e.host = r.getHost();
    return e;
  });
}

}  // namespace vhsm::store
