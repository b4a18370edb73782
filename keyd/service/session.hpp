// Everything keyd knows about one client connection: who the transport says it is, who it
// logged in as, its open streams and the keys it has unwrapped. Only the worker currently
// serving the connection touches it, so it needs no lock.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "keyd/base/secure_memory.hpp"
#include "keyd/crypto/hashes.hpp"
#include "protocol/identity.hpp"
#include "store/store.hpp"

namespace vhsm::keyd {

class Stream;
class SigningKey;
class Metrics;

// Set by the transport, never by the client.
struct Peer {
  proto::NetnsIdentity netns;
  pid_t pid = 0;
  uid_t uid = 0;
};

struct UnwrappedKey {
  uint16_t type = 0;
  uint32_t bits = 0;
  uint32_t usage = 0;
  SecretBytes material;
  std::shared_ptr<const SigningKey> signer;  // parsed once, for signing keys
  // Keyed HMAC per hash algorithm, made on first use: a one-shot HMAC then reuses it (it
  // restarts keyed after each final) instead of allocating and keying a new one.
  mutable std::array<Hasher, 4> hmacs;
};

struct Session {
  explicit Session(Peer p);
  ~Session();
  void logout();

  Peer peer;
  // Resolved container name, valid while containersEpoch matches the service's.
  std::string container;
  uint64_t containersEpoch = ~uint64_t(0);

  std::optional<store::User> user;
  SecretBytes userSecret;
  // Set for a passwordless login: the session ends with the unlock it came from.
  std::optional<std::chrono::steady_clock::time_point> unlockExpires;
  uint64_t authEpoch = 0;

  std::unordered_map<std::string, UnwrappedKey> keys;
  uint64_t keysEpoch = 0;

  std::map<uint32_t, std::unique_ptr<Stream>> streams;
  // A backup being read out in chunks (backup_requests.hpp): wrapped records only.
  std::shared_ptr<const std::string> backup;
  uint32_t nextStreamHandle = 1;

  // Set by the service at the first request; the session counts itself there until it ends.
  Metrics* metrics = nullptr;
};

}  // namespace vhsm::keyd
