// Key objects (`vhsm-admin key ...`): created inside keyd or imported, stored wrapped under the
// owner's user secret, used only by their owner. Unwrapped keys are cached per session until
// any key is deleted anywhere.
#include <chrono>

#include "enum_mirror.hpp"
#include "keyring.hpp"
#include "names.hpp"
#include "primitives.hpp"
#include "service.hpp"
#include "signing_key.hpp"
#include "user_flags.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;
using proto::KeyType;
using proto::KeyUsage;

namespace {

// Usage as stored: bits, so that a future type may allow more than one.
constexpr uint32_t kUsageSign = 1;
constexpr uint32_t kUsageEncrypt = 2;
constexpr uint32_t kUsageMac = 4;
constexpr size_t kMaxHmacKeyBytes = 1024;

const char* typeName(KeyType type) {
  switch (type) {
    case KeyType::HMAC: return "hmac";
    case KeyType::AES: return "aes";
    case KeyType::EC_P256: return "ec-p256";
    case KeyType::EC_P384: return "ec-p384";
    case KeyType::ED25519: return "ed25519";
    case KeyType::RSA: return "rsa";
  }
  return "unknown";
}

uint32_t usageBit(KeyUsage usage) {
  switch (usage) {
    case KeyUsage::MAC: return kUsageMac;
    case KeyUsage::ENCRYPT: return kUsageEncrypt;
    case KeyUsage::SIGN: return kUsageSign;
  }
  return 0;
}

const char* usageName(KeyUsage usage) {
  switch (usage) {
    case KeyUsage::MAC: return "mac";
    case KeyUsage::ENCRYPT: return "encrypt";
    case KeyUsage::SIGN: return "sign";
  }
  return "unknown";
}

// A key's usage follows from its type alone. The type is bound to the wrapped material (its
// AAD), while the stored usage field is not: a store edit could flip that field, never the
// type, so the field is written for readers of the file and never trusted. A type keyd does
// not know permits nothing.
uint32_t usageBitsOf(KeyType type) {
  switch (type) {
    case KeyType::HMAC: return kUsageMac;
    case KeyType::AES: return kUsageEncrypt;
    default: return isSigningType(proto::api(type)) ? kUsageSign : 0;
  }
}

KeyUsage usageFromBits(uint32_t bits) {
  if (bits & kUsageSign) return KeyUsage::SIGN;
  return bits & kUsageEncrypt ? KeyUsage::ENCRYPT : KeyUsage::MAC;
}

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
}

}  // namespace

void Service::storeNewKey(Session& s, store::Key key, std::span<const uint8_t> material,
                          const char* action) {
  const auto& user = requireUser(s, kFlagCreate);
  key.owner = user.name;
  key.usage = usageBitsOf(KeyType(key.type));
  key.createdUnixSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  wrapKey(key, s.userSecret, material);
  audited(
      s, action, key.id,
      [&](store::WriteTxn& txn) {
        if (!txn.putKey(key, false))
          throw Refusal(ErrorCode::KEY_EXISTS, "key " + key.id + " exists");
      },
      std::string(typeName(KeyType(key.type))) + "-" + std::to_string(key.bits));
}

void Service::keyGenerate(Session& s, Request::KeyGenerate::Reader r) {
  store::Key key;
  key.id = requireName("key", r.getId().cStr());
  key.type = uint16_t(r.getType());
  if (isSigningType(proto::api(r.getType()))) {
    key.bits = r.getBits();
    auto material = generatePrivateKey(proto::api(r.getType()), key.bits);
    return storeNewKey(s, std::move(key), material, "keyGenerate");
  }
  key.bits = checkedBits(r.getType(), r.getBits());
  auto material = randomSecret(key.bits / 8);
  storeNewKey(s, std::move(key), material, "keyGenerate");
}

void Service::keyImport(Session& s, Request::KeyImport::Reader r) {
  auto material = r.getMaterial();
  if (material.size() == 0) throw Refusal(ErrorCode::INVALID_ARGUMENT, "no key material given");
  store::Key key;
  key.id = requireName("key", r.getId().cStr());
  key.type = uint16_t(r.getType());
  if (isSigningType(proto::api(r.getType()))) {
    auto pkcs8 =
        importPrivateKey(proto::api(r.getType()), {material.begin(), material.size()}, key.bits);
    return storeNewKey(s, std::move(key), pkcs8, "keyImport");
  }
  key.bits = checkedBits(r.getType(), uint32_t(std::min<size_t>(material.size(), 1u << 20) * 8));
  storeNewKey(s, std::move(key), {material.begin(), material.size()}, "keyImport");
}

// keyList lists every key in one reply, which stops fitting a frame past a few thousand keys;
// keyListPage lists pages of at most kKeyPage, which fit whatever the ids.
void Service::keyList(Session& s, Response out) {
  listKeys(s, {}, 0, out);
}

void Service::keyListPage(Session& s, Request::KeyListPage::Reader r, Response out) {
  constexpr uint32_t kKeyPage = 1000;
  uint32_t limit = r.getLimit();
  listKeys(s, r.getStartAfter(), limit && limit < kKeyPage ? limit : kKeyPage, out);
}

void Service::listKeys(Session& s, const std::string& startAfter, uint32_t page, Response out) {
  const auto& user = requireUser(s, kFlagRead);
  auto keys = store_.read(
      [&](const store::ReadTxn& t) { return t.keys(user.name, startAfter, page ? page + 1 : 0); });
  bool more = page && keys.size() > page;
  if (more) keys.pop_back();
  auto list = out.initKeys(unsigned(keys.size()));
  for (unsigned i = 0; i < list.size(); ++i) fillInfo(list[i], keys[i]);
  out.setMoreKeys(more);
}

void Service::keyInfo(Session& s, const std::string& rawId, Response out) {
  const auto& user = requireUser(s, kFlagRead);
  auto id = requireName("key", rawId);
  auto key = store_.read([&](const store::ReadTxn& t) { return t.key(user.name, id); });
  if (!key) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
  fillInfo(out.initKey(), *key);
}

void Service::keyDelete(Session& s, const std::string& rawId) {
  const auto& user = requireUser(s, kFlagDelete);
  auto id = requireName("key", rawId);
  audited(s, "keyDelete", id, [&](store::WriteTxn& txn) {
    if (!txn.deleteKey(user.name, id)) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
  });
  ++keysEpoch_;
}

const UnwrappedKey& Service::usableKey(Session& s, const std::string& rawId, KeyUsage usage) {
  const auto& user = requireUser(s, kFlagRead);
  uint64_t epoch = keysEpoch_.load();
  if (s.keysEpoch != epoch) {
    s.keys.clear();
    s.keysEpoch = epoch;
  }
  auto cached = s.keys.find(rawId);
  if (cached == s.keys.end()) {
    auto id = requireName("key", rawId);
    auto key = store_.read([&](const store::ReadTxn& t) { return t.key(user.name, id); });
    if (!key) throw Refusal(ErrorCode::UNKNOWN_KEY, "no key " + id);
    auto material = unwrapKey(*key, s.userSecret);
    if (!material)
      throw Refusal(ErrorCode::STORE_ERROR, "key " + id + " fails authentication in the store");
    if (s.keys.size() >= limits_.maxCachedKeysPerSession) s.keys.clear();
    UnwrappedKey unwrapped{
        key->type, key->bits, usageBitsOf(KeyType(key->type)), std::move(*material), nullptr, {}};
    if (isSigningType(proto::api(KeyType(key->type))))
      unwrapped.signer = loadSigningKey(proto::api(KeyType(key->type)), unwrapped.material);
    cached = s.keys.emplace(id, std::move(unwrapped)).first;
  }
  const auto& key = cached->second;
  if (!(key.usage & usageBit(usage)))
    throw Refusal(ErrorCode::USAGE_NOT_PERMITTED,
                  "key " + rawId + " (" + typeName(KeyType(key.type)) + ") may be used to " +
                      (key.usage ? usageName(usageFromBits(key.usage)) : "nothing") + ", not to " +
                      usageName(usage));
  return key;
}

void Service::keyPublic(Session& s, const std::string& id, Response out) {
  const auto& key = usableKey(s, id, KeyUsage::SIGN);
  const auto& der = key.signer->publicKey();
  out.setBytes({der.data(), der.size()});
}

}  // namespace vhsm::keyd
