#include "keyd/service/key_cache.hpp"

#include "keyd/crypto/keyring.hpp"
#include "keyd/crypto/signing_key.hpp"
#include "keyd/service/key_usage.hpp"
#include "keyd/service/names.hpp"
#include "keyd/service/refusal.hpp"
#include "keyd/service/user_flags.hpp"
#include "protocol/enum_mirror.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;
using proto::KeyType;

KeyCache::KeyCache(store::Store& store, Access& access, size_t maxPerSession)
    : store_(store), access_(access), maxPerSession_(maxPerSession) {}

const UnwrappedKey& KeyCache::usable(Session& s, const std::string& rawId, proto::KeyUsage usage) {
  const auto& user = access_.requireUser(s, kFlagRead);
  uint64_t epoch = epoch_.current();
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
    if (s.keys.size() >= maxPerSession_) s.keys.clear();
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

}  // namespace vhsm::keyd
