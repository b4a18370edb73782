#include "keyd/service/key_requests.hpp"

#include <chrono>

#include "keyd/crypto/certificate.hpp"
#include "keyd/crypto/keyring.hpp"
#include "keyd/crypto/primitives.hpp"
#include "keyd/crypto/signing_key.hpp"
#include "keyd/service/key_usage.hpp"
#include "keyd/service/names.hpp"
#include "keyd/service/user_flags.hpp"
#include "protocol/enum_mirror.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;
using proto::KeyType;
using proto::KeyUsage;

namespace {

constexpr size_t kMaxHmacKeyBytes = 1024;

// Checks a key length for its type; 0 bits asks for the type's default.
uint32_t checkedBits(KeyType type, uint32_t bits) {
  switch (type) {
    case KeyType::HMAC:
      if (bits == 0) return 256;
      if (bits % 8 != 0 || bits > kMaxHmacKeyBytes * 8)
        throw Refusal(ErrorCode::INVALID_ARGUMENT, "HMAC keys are 8 to 8192 bits, a multiple of 8");
      return bits;
    case KeyType::AES:
      if (bits == 0) return 256;
      if (bits != 128 && bits != 192 && bits != 256)
        throw Refusal(ErrorCode::INVALID_ARGUMENT, "AES keys are 128, 192 or 256 bits");
      return bits;
    default: break;
  }
  throw Refusal(ErrorCode::UNSUPPORTED_ALGORITHM, "unsupported key type");
}

void fillInfo(proto::KeyInfo::Builder out, const store::Key& key) {
  out.setId(key.id);
  out.setType(KeyType(key.type));
  out.setBits(key.bits);
  out.setCreatedUnixSeconds(key.createdUnixSeconds);
  out.setOwner(key.owner);
  out.setUsage(usageFromBits(usageBitsOf(KeyType(key.type))));
  out.setHasCertificate(!key.certificate.empty());
}

}  // namespace

KeyRequests::KeyRequests(store::Store& store, Access& access, Auditor& auditor, KeyCache& keys)
    : store_(store), access_(access), auditor_(auditor), keys_(keys) {}

void KeyRequests::save(Session& s, store::Key key, std::span<const uint8_t> material,
                       const char* action) {
  const auto& user = access_.requireUser(s, kFlagCreate);
  key.owner = user.name;
  key.usage = usageBitsOf(KeyType(key.type));
  key.createdUnixSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  wrapKey(key, s.userSecret, material);
  auditor_.audited(
      s, action, key.id,
      [&](store::WriteTxn& txn) {
        // The owner as committed: on a shared store another host may have deleted the user
        // (and its keys) since this session logged in, and a key must not outlive it.
        auto owner = txn.user(user.name);
        if (!owner || owner->id != user.id)
          throw Refusal(ErrorCode::NOT_LOGGED_IN, "the logged-in user was deleted");
        if (!txn.putKey(key, false))
          throw Refusal(ErrorCode::KEY_EXISTS, "key " + key.id + " exists");
      },
      std::string(typeName(KeyType(key.type))) + "-" + std::to_string(key.bits));
}

void KeyRequests::generate(Session& s, Request::KeyGenerate::Reader r) {
  store::Key key;
  key.id = requireName("key", r.getId().cStr());
  key.type = uint16_t(r.getType());
  if (isSigningType(proto::api(r.getType()))) {
    key.bits = r.getBits();
    auto material = generatePrivateKey(proto::api(r.getType()), key.bits);
    return save(s, std::move(key), material, "keyGenerate");
  }
  key.bits = checkedBits(r.getType(), r.getBits());
  auto material = randomSecret(key.bits / 8);
  save(s, std::move(key), material, "keyGenerate");
}

void KeyRequests::import(Session& s, Request::KeyImport::Reader r) {
  auto material = r.getMaterial();
  if (material.size() == 0) throw Refusal(ErrorCode::INVALID_ARGUMENT, "no key material given");
  store::Key key;
  key.id = requireName("key", r.getId().cStr());
  key.type = uint16_t(r.getType());
  if (isSigningType(proto::api(r.getType()))) {
    auto pkcs8 =
        importPrivateKey(proto::api(r.getType()), {material.begin(), material.size()}, key.bits);
    return save(s, std::move(key), pkcs8, "keyImport");
  }
  key.bits = checkedBits(r.getType(), uint32_t(std::min<size_t>(material.size(), 1u << 20) * 8));
  save(s, std::move(key), {material.begin(), material.size()}, "keyImport");
}

// keyList lists every key in one reply, which stops fitting a frame past a few thousand keys;
// keyListPage lists pages of at most kKeyPage, which fit whatever the ids.
void KeyRequests::list(Session& s, Response out) {
  listFrom(s, {}, 0, out);
}

void KeyRequests::listPage(Session& s, Request::KeyListPage::Reader r, Response out) {
  constexpr uint32_t kKeyPage = 1000;
  uint32_t limit = r.getLimit();
  listFrom(s, r.getStartAfter(), limit && limit < kKeyPage ? limit : kKeyPage, out);
}

void KeyRequests::listFrom(Session& s, const std::string& startAfter, uint32_t page, Response out) {
  const auto& user = access_.requireUser(s, kFlagRead);
  auto keys = store_.read(
      [&](const store::ReadTxn& t) { return t.keys(user.name, startAfter, page ? page + 1 : 0); });
  bool more = page && keys.size() > page;
  if (more) keys.pop_back();
  auto list = out.initKeys(unsigned(keys.size()));
  for (unsigned i = 0; i < list.size(); ++i) fillInfo(list[i], keys[i]);
  out.setMoreKeys(more);
}

void KeyRequests::info(Session& s, const std::string& rawId, Response out) {
  const auto& user = access_.requireUser(s, kFlagRead);
  auto id = requireName("key", rawId);
  auto key = store_.read([&](const store::ReadTxn& t) { return t.key(user.name, id); });
  if (!key) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
  fillInfo(out.initKey(), *key);
}

void KeyRequests::remove(Session& s, const std::string& rawId) {
  const auto& user = access_.requireUser(s, kFlagDelete);
  auto id = requireName("key", rawId);
  auditor_.audited(s, "keyDelete", id, [&](store::WriteTxn& txn) {
    if (!txn.deleteKey(user.name, id)) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
  });
  keys_.keysDeleted();
}

void KeyRequests::publicKey(Session& s, const std::string& id, Response out) {
  const auto& key = keys_.usable(s, id, KeyUsage::SIGN);
  const auto& der = key.signer->publicKey();
  out.setBytes({der.data(), der.size()});
}

void KeyRequests::setCertificate(Session& s, Request::KeyCertificate::Reader r) {
  auto given = r.getCertificate();
  std::vector<uint8_t> certificate(given.begin(), given.end());
  // A certificate is an object of its own to PKCS#11: made under create, removed under delete
  // (and replacing one removes one).
  const auto& user = access_.requireUser(s, certificate.empty() ? kFlagDelete : kFlagCreate);
  auto id = requireName("key", r.getKeyId().cStr());
  std::vector<uint8_t> certificateKey;
  if (!certificate.empty()) certificateKey = certificatePublicKey(certificate);
  auditor_.audited(
      s, "keyCertificateSet", id,
      [&](store::WriteTxn& txn) {
        auto key = txn.key(user.name, id);
        if (!key) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
        auto type = proto::api(KeyType(key->type));
        if (!isSigningType(type))
          throw Refusal(ErrorCode::KEY_TYPE_MISMATCH, "only key pairs have certificates");
        if (!certificate.empty()) {
          if (!key->certificate.empty() && !(user.flags & kFlagDelete))
            throw Refusal(ErrorCode::PERMISSION_DENIED,
                          "replacing key " + id +
                              "'s certificate removes one: user lacks the "
                              "delete flag");
          // Checked against the record this transaction writes, not one read before it.
          auto material = unwrapKey(*key, s.userSecret);
          if (!material)
            throw Refusal(ErrorCode::STORE_ERROR,
                          "key " + id + " fails authentication in the store");
          if (loadSigningKey(type, *material)->publicKey() != certificateKey)
            throw Refusal(ErrorCode::KEY_TYPE_MISMATCH,
                          "the certificate's public key is not key " + id + "'s");
        }
        key->certificate = certificate;
        txn.putKey(*key, true);
      },
      certificate.empty() ? "removed" : "set");
}

void KeyRequests::certificate(Session& s, const std::string& rawId, Response out) {
  const auto& user = access_.requireUser(s, kFlagRead);
  auto id = requireName("key", rawId);
  auto key = store_.read([&](const store::ReadTxn& t) { return t.key(user.name, id); });
  if (!key) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
  if (key->certificate.empty())
    throw Refusal(ErrorCode::UNKNOWN_KEY, "key " + id + " has no certificate");
  // Set when the key was another (deleted and made again meanwhile), or edited in the store.
  if (certificatePublicKey(key->certificate) !=
      keys_.usable(s, id, KeyUsage::SIGN).signer->publicKey())
    throw Refusal(ErrorCode::KEY_TYPE_MISMATCH,
                  "the stored certificate's public key is not key " + id + "'s");
  out.setBytes({key->certificate.data(), key->certificate.size()});
}

}  // namespace vhsm::keyd
