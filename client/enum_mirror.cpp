// The API's enums (vhsm/types.hpp) mirror the schema's: each value checked here, so that a
// schema change that is not made in the API too does not compile.
#include "vhsm.capnp.h"
#include "vhsm/types.hpp"

namespace vhsm {
namespace {

template <typename Api, typename Wire>
constexpr bool same(Api api, Wire wire) {
  return static_cast<uint16_t>(api) == static_cast<uint16_t>(wire);
}

static_assert(same(ErrorCode::OK, proto::ErrorCode::OK));
static_assert(same(ErrorCode::MALFORMED_FRAME, proto::ErrorCode::MALFORMED_FRAME));
static_assert(same(ErrorCode::UNSUPPORTED_VERSION, proto::ErrorCode::UNSUPPORTED_VERSION));
static_assert(same(ErrorCode::FRAME_TOO_LARGE, proto::ErrorCode::FRAME_TOO_LARGE));
static_assert(same(ErrorCode::MALFORMED_MESSAGE, proto::ErrorCode::MALFORMED_MESSAGE));
static_assert(same(ErrorCode::NOT_LOGGED_IN, proto::ErrorCode::NOT_LOGGED_IN));
static_assert(same(ErrorCode::WRONG_PASSWORD, proto::ErrorCode::WRONG_PASSWORD));
static_assert(same(ErrorCode::UNKNOWN_USER, proto::ErrorCode::UNKNOWN_USER));
static_assert(same(ErrorCode::LOGIN_THROTTLED, proto::ErrorCode::LOGIN_THROTTLED));
static_assert(same(ErrorCode::CONTAINER_NOT_ALLOWED, proto::ErrorCode::CONTAINER_NOT_ALLOWED));
static_assert(same(ErrorCode::PERMISSION_DENIED, proto::ErrorCode::PERMISSION_DENIED));
static_assert(same(ErrorCode::UNKNOWN_KEY, proto::ErrorCode::UNKNOWN_KEY));
static_assert(same(ErrorCode::KEY_EXISTS, proto::ErrorCode::KEY_EXISTS));
static_assert(same(ErrorCode::KEY_TYPE_MISMATCH, proto::ErrorCode::KEY_TYPE_MISMATCH));
static_assert(same(ErrorCode::UNSUPPORTED_ALGORITHM, proto::ErrorCode::UNSUPPORTED_ALGORITHM));
static_assert(same(ErrorCode::INVALID_ARGUMENT, proto::ErrorCode::INVALID_ARGUMENT));
static_assert(same(ErrorCode::TAG_MISMATCH, proto::ErrorCode::TAG_MISMATCH));
static_assert(same(ErrorCode::UNKNOWN_OPERATION, proto::ErrorCode::UNKNOWN_OPERATION));
static_assert(same(ErrorCode::TOO_MANY_OPERATIONS, proto::ErrorCode::TOO_MANY_OPERATIONS));
static_assert(same(ErrorCode::USER_EXISTS, proto::ErrorCode::USER_EXISTS));
static_assert(same(ErrorCode::UNKNOWN_CONTAINER, proto::ErrorCode::UNKNOWN_CONTAINER));
static_assert(same(ErrorCode::CONTAINER_EXISTS, proto::ErrorCode::CONTAINER_EXISTS));
static_assert(same(ErrorCode::NOT_UNLOCKED, proto::ErrorCode::NOT_UNLOCKED));
static_assert(same(ErrorCode::STORE_ERROR, proto::ErrorCode::STORE_ERROR));
static_assert(same(ErrorCode::INTERNAL_ERROR, proto::ErrorCode::INTERNAL_ERROR));
static_assert(same(ErrorCode::ALREADY_LOGGED_IN, proto::ErrorCode::ALREADY_LOGGED_IN));
static_assert(same(ErrorCode::PASSWORD_REQUIRED, proto::ErrorCode::PASSWORD_REQUIRED));
static_assert(same(ErrorCode::UNKNOWN_REQUEST, proto::ErrorCode::UNKNOWN_REQUEST));
static_assert(same(ErrorCode::USAGE_NOT_PERMITTED, proto::ErrorCode::USAGE_NOT_PERMITTED));
static_assert(same(HashAlgorithm::SHA1, proto::HashAlgorithm::SHA1));
static_assert(same(HashAlgorithm::SHA256, proto::HashAlgorithm::SHA256));
static_assert(same(HashAlgorithm::SHA384, proto::HashAlgorithm::SHA384));
static_assert(same(HashAlgorithm::SHA512, proto::HashAlgorithm::SHA512));
static_assert(same(KeyType::HMAC, proto::KeyType::HMAC));
static_assert(same(KeyType::AES, proto::KeyType::AES));
static_assert(same(KeyType::EC_P256, proto::KeyType::EC_P256));
static_assert(same(KeyType::EC_P384, proto::KeyType::EC_P384));
static_assert(same(KeyType::ED25519, proto::KeyType::ED25519));
static_assert(same(KeyType::RSA, proto::KeyType::RSA));
static_assert(same(KeyUsage::MAC, proto::KeyUsage::MAC));
static_assert(same(KeyUsage::ENCRYPT, proto::KeyUsage::ENCRYPT));
static_assert(same(KeyUsage::SIGN, proto::KeyUsage::SIGN));
static_assert(same(RsaPadding::PKCS1, proto::RsaPadding::PKCS1));
static_assert(same(RsaPadding::PSS, proto::RsaPadding::PSS));

}  // namespace
}  // namespace vhsm
