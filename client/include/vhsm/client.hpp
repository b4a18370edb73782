// libvhsm-client: the one C++ API to keyd, used by the provider, vhsm-admin, tests and bench.
//
// A Client owns one connection and is safe to share between threads (requests on it are
// serialised). It connects lazily, reconnects and logs in again after fork() (the child never
// uses its parent's socket) and after keyd restarts, and gives every failure as vhsm::Error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <vhsm/types.hpp>

namespace vhsm {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

enum class ErrorKind {
  refused,       // keyd answered with an error code
  unreachable,   // no keyd at the socket
  timeout,       // keyd did not answer in time
  disconnected,  // the connection broke while a request was in flight
  protocol,      // keyd's reply made no sense
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, ErrorCode code, const std::string& message, uint32_t retryAfterMillis = 0)
      : std::runtime_error(message), kind_(kind), code_(code), retryAfter_(retryAfterMillis) {}
  ErrorKind kind() const { return kind_; }
  ErrorCode code() const { return code_; }  // meaningful for ErrorKind::refused
  uint32_t retryAfterMillis() const { return retryAfter_; }

 private:
  ErrorKind kind_;
  ErrorCode code_;
  uint32_t retryAfter_;
};

// "wrongPassword" etc: the schema's own name for a code.
std::string errorName(ErrorCode code);

enum class Transport { unixSocket, netlink };
// "unix" or "netlink" (the provider's `transport =`); throws Error (invalidArgument) for anything
// else.
Transport transportNamed(const std::string& name);

struct ClientOptions {
  Transport transport = Transport::unixSocket;
  std::string socketPath = "/run/vhsm/keyd.sock";  // for Transport::unixSocket
  std::chrono::milliseconds timeout{30000};        // per request; PBKDF2 logins take a while
  // Once a connection has been lost, how long reconnecting waits for keyd to come back (a
  // restart) before giving up; a first connection fails at once.
  std::chrono::milliseconds restartGrace{3000};
};

struct UserFlags {
  bool read = false, create = false, modify = false, remove = false, createExtended = false;
};

struct UserInfo {
  std::string name;
  bool isSo = false;
  UserFlags flags;
  std::vector<std::string> containers;
};

struct ContainerInfo {
  std::string name;
  NetnsIdentity netns;
};

struct KeyInfo {
  std::string id;
  KeyType type = KeyType::HMAC;
  uint32_t bits = 0;
  int64_t createdUnixSeconds = 0;
  std::string owner;
  KeyUsage usage = KeyUsage::MAC;
  bool hasCertificate = false;
};

// How keyd signs: ECDSA and RSA sign a digest of `hash` (or, with raw, the bytes as given);
// Ed25519 signs the whole message and ignores the rest.
struct SignOptions {
  HashAlgorithm hash = HashAlgorithm::SHA256;
  bool raw = false;
  RsaPadding rsaPadding = RsaPadding::PKCS1;
  int32_t pssSaltLength = -1;  // OpenSSL's convention: -1 digest length, -2/-3 maximum
  HashAlgorithm mgf1Hash = HashAlgorithm::SHA256;
};

struct AuditRecord {
  uint64_t sequence = 0;
  int64_t unixMillis = 0;
  std::string actor, container, action, target, detail;
  std::string host;  // the keyd that wrote it, on a shared store
  ErrorCode result = ErrorCode::OK;
};

struct AuditVerdict {
  uint64_t records = 0;
  bool ok = false;
  uint64_t firstBadSequence = 0;
};

// What keyd is doing (security officers): see vhsm-admin status.
struct ServiceStatus {
  struct ContainerLoad {
    std::string name;
    uint32_t connections = 0, sessions = 0;
  };
  std::string version, store;
  uint64_t uptimeSeconds = 0, auditQueued = 0;
  bool ready = true;         // the store answers
  std::string storeProblem;  // why not, when not ready
  std::string host;          // --host-name, on a shared store
  std::vector<ContainerLoad> containers;
  std::vector<std::pair<std::string, uint64_t>> requests, refusals;  // by kind, by code
};

struct GcmSealed {
  Bytes iv, ciphertext, tag;
};

class Client;

// A digest or HMAC over data given piece by piece. Small pieces are gathered and sent in large
// frames that need no reply, so a stream of any size costs one round trip at the end.
class HashStream {
 public:
  HashStream(HashStream&&) noexcept;
  ~HashStream();
  void update(ByteView data);
  Bytes final();
  // An independent stream in the same state (for EVP dup): the state is copied inside keyd,
  // never sent to the client.
  HashStream clone() const;

 private:
  friend class Client;
  struct State;
  explicit HashStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// AES-GCM over data given piece by piece; output comes back per update (as with EVP).
class GcmStream {
 public:
  GcmStream(GcmStream&&) noexcept;
  ~GcmStream();
  void aad(ByteView aad);  // before any update
  // Writes data.size() bytes of output to out.
  void update(ByteView data, uint8_t* out);
  // Encrypt: returns the last output and fills tag (tagLength bytes). Decrypt: checks tag and
  // throws Error(tagMismatch) when it does not match.
  Bytes finalEncrypt(Bytes& tag, uint8_t tagLength = 16);
  Bytes finalDecrypt(ByteView tag);
  // An independent stream in the same state, copied inside keyd (for EVP_CIPHER_CTX_copy).
  GcmStream clone() const;

 private:
  friend class Client;
  struct State;
  explicit GcmStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Remembered, so a reconnect logs in again. An empty password logs in through an unlock.
  void login(const std::string& user, std::string_view password);
  void logout();
  void ping();
  UserInfo whoami();

  void userCreate(const UserInfo& user, std::string_view password);
  void userModify(const std::string& name, const std::optional<UserFlags>& flags,
                  const std::optional<std::vector<std::string>>& containers);
  void userDelete(const std::string& name);
  std::vector<UserInfo> userList();
  // Needs no login: the names of the key users bound to this process's container.
  std::vector<std::string> boundUsers();
  void userPasswd(const std::string& name, std::string_view oldPassword,
                  std::string_view newPassword);

  // Registers a namespace by its identity (inode and cookie, both required), or by a process in
  // it or its namespace file, which keyd reads itself. Returns the identity keyd registered.
  NetnsIdentity containerAdd(const std::string& name, NetnsIdentity netns);
  NetnsIdentity containerAddPid(const std::string& name, pid_t pid);
  NetnsIdentity containerAddPath(const std::string& name, const std::string& netnsPath);
  // Binds name to the namespace of pid, whether or not name exists (a restarted container's
  // new namespace replaces the old); unbinding keeps the name, naming no namespace. With
  // expectedCookie, only if the name now names the namespace of that cookie (0: none), else
  // Error(containerExists).
  NetnsIdentity containerBindPid(const std::string& name, pid_t pid,
                                 std::optional<uint64_t> expectedCookie = std::nullopt);
  void containerUnbind(const std::string& name,
                       std::optional<uint64_t> expectedCookie = std::nullopt);
  void containerRemove(const std::string& name);
  std::vector<ContainerInfo> containerList();

  void unlock(const std::string& user, std::string_view password, const std::string& container,
              uint32_t ttlSeconds);
  void lock(const std::string& user, const std::string& container = {});

  // A key's usage is fixed by its type: hmac → mac, aes → encrypt, the others → sign.
  void keyGenerate(const std::string& id, KeyType type, uint32_t bits = 0);
  // material: raw bytes for hmac/aes; a PEM or DER private key for the signing types.
  void keyImport(const std::string& id, KeyType type, ByteView material);
  std::vector<KeyInfo> keyList();
  KeyInfo keyInfo(const std::string& id);
  void keyDelete(const std::string& id);
  // DER SubjectPublicKeyInfo of a signing key.
  Bytes keyPublic(const std::string& id);
  // A DER X.509 certificate kept beside a signing key (its public key must be the key's);
  // an empty one removes it. keyCertificate: Error(unknownKey) when the key has none.
  void keyCertificateSet(const std::string& id, ByteView certificate);
  Bytes keyCertificate(const std::string& id);

  Bytes hmac(const std::string& keyId, HashAlgorithm algorithm, ByteView data);
  Bytes digest(HashAlgorithm algorithm, ByteView data);
  // An empty iv asks keyd for a random 12-byte one (returned in the result).
  GcmSealed gcmEncrypt(const std::string& keyId, ByteView iv, ByteView aad, ByteView plaintext,
                       uint8_t tagLength = 16);
  Bytes gcmDecrypt(const std::string& keyId, ByteView iv, ByteView aad, ByteView ciphertext,
                   ByteView tag);

  Bytes sign(const std::string& keyId, const SignOptions& options, ByteView data);

  HashStream hmacStream(const std::string& keyId, HashAlgorithm algorithm);
  HashStream digestStream(HashAlgorithm algorithm);
  GcmStream gcmEncryptStream(const std::string& keyId, ByteView iv);
  GcmStream gcmDecryptStream(const std::string& keyId, ByteView iv);

  std::vector<AuditRecord> auditList(uint64_t fromSequence = 0, uint32_t limit = 0);
  AuditVerdict auditVerify();
  ServiceStatus status();
  // Security officers: one chunk of a backup of the whole store, from one snapshot; offset 0
  // takes a new snapshot. Returns the backup's whole length; chunk is empty past it.
  uint64_t backupChunk(uint64_t offset, Bytes& chunk);

  // Raw bytes, for tests of keyd's frame handling; returns the raw reply.
  Bytes exchangeRaw(ByteView frame);

  // Incremented on every new connection: streams opened on an older one are gone.
  uint64_t connectionGeneration() const;
  // Lets a stream of connection `generation` go: keyd drops it when the next request on that
  // connection arrives, so that costs no request of its own.
  void abandonStream(uint32_t handle, uint64_t generation) noexcept;

 private:
  // Requests built from the protocol's schema (client/client_impl.hpp), which this header
  // does not include.
  friend struct ClientInternals;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vhsm
