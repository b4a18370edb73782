// The installed API's own vocabulary: error codes, algorithms, key types and container
// identity, without the protocol's generated headers. The values are the wire protocol's
// (capnp/vhsm.capnp); capnp/enum_mirror.hpp checks every one against the schema at compile
// time.
#pragma once

#include <cstdint>

namespace vhsm {

enum class ErrorCode : uint16_t {
  OK = 0,
  MALFORMED_FRAME = 1,
  UNSUPPORTED_VERSION = 2,
  FRAME_TOO_LARGE = 3,
  MALFORMED_MESSAGE = 4,
  NOT_LOGGED_IN = 5,
  WRONG_PASSWORD = 6,
  UNKNOWN_USER = 7,
  LOGIN_THROTTLED = 8,
  CONTAINER_NOT_ALLOWED = 9,
  PERMISSION_DENIED = 10,
  UNKNOWN_KEY = 11,
  KEY_EXISTS = 12,
  KEY_TYPE_MISMATCH = 13,
  UNSUPPORTED_ALGORITHM = 14,
  INVALID_ARGUMENT = 15,
  TAG_MISMATCH = 16,
  UNKNOWN_OPERATION = 17,
  TOO_MANY_OPERATIONS = 18,
  USER_EXISTS = 19,
  UNKNOWN_CONTAINER = 20,
  CONTAINER_EXISTS = 21,
  NOT_UNLOCKED = 22,
  STORE_ERROR = 23,
  INTERNAL_ERROR = 24,
  ALREADY_LOGGED_IN = 25,
  PASSWORD_REQUIRED = 26,
  UNKNOWN_REQUEST = 27,
  USAGE_NOT_PERMITTED = 28,
  STORE_UNAVAILABLE = 29,
};

enum class HashAlgorithm : uint16_t {
  SHA1 = 0,
  SHA256 = 1,
  SHA384 = 2,
  SHA512 = 3,
};

enum class KeyType : uint16_t {
  HMAC = 0,
  AES = 1,
  EC_P256 = 2,
  EC_P384 = 3,
  ED25519 = 4,
  RSA = 5,
};

enum class KeyUsage : uint16_t {
  MAC = 0,
  ENCRYPT = 1,
  SIGN = 2,
};

enum class RsaPadding : uint16_t {
  PKCS1 = 0,
  PSS = 1,
};

// A network namespace named by its inode (what `stat -L /proc/PID/ns/net` shows) and its net
// cookie. Inodes are reused as soon as a namespace dies; cookies never repeat within a boot,
// so the pair cannot name a newer namespace by accident.
struct NetnsIdentity {
  uint64_t inode = 0;
  uint64_t cookie = 0;  // 0 when it could not be read (needs CAP_SYS_ADMIN)
  bool operator==(const NetnsIdentity&) const = default;
};

}  // namespace vhsm
