// The installed API's enums (vhsm/types.hpp) and the schema's have equal values: each is
// checked here, and wire() / api() convert between them where the protocol meets the API (the
// client library) or keyd's crypto layer, which knows only the API's.
#pragma once

#include <cstdint>

#include <vhsm/types.hpp>
#include "protocol/vhsm.capnp.h"

namespace vhsm::proto {

#define VHSM_MIRROR(Type)                                       \
  inline Type wire(::vhsm::Type v) {                            \
    return static_cast<Type>(static_cast<uint16_t>(v));         \
  }                                                             \
  inline ::vhsm::Type api(Type v) {                             \
    return static_cast<::vhsm::Type>(static_cast<uint16_t>(v)); \
  }
VHSM_MIRROR(ErrorCode)
VHSM_MIRROR(HashAlgorithm)
VHSM_MIRROR(KeyType)
VHSM_MIRROR(KeyUsage)
VHSM_MIRROR(RsaPadding)
#undef VHSM_MIRROR

#define VHSM_SAME(Type, value) \
  static_assert(uint16_t(::vhsm::Type::value) == uint16_t(Type::value), #Type "::" #value)
VHSM_SAME(ErrorCode, OK);
VHSM_SAME(ErrorCode, MALFORMED_FRAME);
VHSM_SAME(ErrorCode, UNSUPPORTED_VERSION);
VHSM_SAME(ErrorCode, FRAME_TOO_LARGE);
VHSM_SAME(ErrorCode, MALFORMED_MESSAGE);
VHSM_SAME(ErrorCode, NOT_LOGGED_IN);
VHSM_SAME(ErrorCode, WRONG_PASSWORD);
VHSM_SAME(ErrorCode, UNKNOWN_USER);
VHSM_SAME(ErrorCode, LOGIN_THROTTLED);
VHSM_SAME(ErrorCode, CONTAINER_NOT_ALLOWED);
VHSM_SAME(ErrorCode, PERMISSION_DENIED);
VHSM_SAME(ErrorCode, UNKNOWN_KEY);
VHSM_SAME(ErrorCode, KEY_EXISTS);
VHSM_SAME(ErrorCode, KEY_TYPE_MISMATCH);
VHSM_SAME(ErrorCode, UNSUPPORTED_ALGORITHM);
VHSM_SAME(ErrorCode, INVALID_ARGUMENT);
VHSM_SAME(ErrorCode, TAG_MISMATCH);
VHSM_SAME(ErrorCode, UNKNOWN_OPERATION);
VHSM_SAME(ErrorCode, TOO_MANY_OPERATIONS);
VHSM_SAME(ErrorCode, USER_EXISTS);
VHSM_SAME(ErrorCode, UNKNOWN_CONTAINER);
VHSM_SAME(ErrorCode, CONTAINER_EXISTS);
VHSM_SAME(ErrorCode, NOT_UNLOCKED);
VHSM_SAME(ErrorCode, STORE_ERROR);
VHSM_SAME(ErrorCode, INTERNAL_ERROR);
VHSM_SAME(ErrorCode, ALREADY_LOGGED_IN);
VHSM_SAME(ErrorCode, PASSWORD_REQUIRED);
VHSM_SAME(ErrorCode, UNKNOWN_REQUEST);
VHSM_SAME(ErrorCode, USAGE_NOT_PERMITTED);
VHSM_SAME(ErrorCode, STORE_UNAVAILABLE);
VHSM_SAME(HashAlgorithm, SHA1);
VHSM_SAME(HashAlgorithm, SHA256);
VHSM_SAME(HashAlgorithm, SHA384);
VHSM_SAME(HashAlgorithm, SHA512);
VHSM_SAME(KeyType, HMAC);
VHSM_SAME(KeyType, AES);
VHSM_SAME(KeyType, EC_P256);
VHSM_SAME(KeyType, EC_P384);
VHSM_SAME(KeyType, ED25519);
VHSM_SAME(KeyType, RSA);
VHSM_SAME(KeyUsage, MAC);
VHSM_SAME(KeyUsage, ENCRYPT);
VHSM_SAME(KeyUsage, SIGN);
VHSM_SAME(RsaPadding, PKCS1);
VHSM_SAME(RsaPadding, PSS);
#undef VHSM_SAME

}  // namespace vhsm::proto
