#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

CK_RV rvOf(const Error& e) {
  if (e.kind() != ErrorKind::refused) return CKR_DEVICE_ERROR;  // keyd unreachable or gone
  switch (e.code()) {
    case ErrorCode::WRONG_PASSWORD: return CKR_PIN_INCORRECT;
    case ErrorCode::PASSWORD_REQUIRED: return CKR_PIN_INCORRECT;
    case ErrorCode::NOT_LOGGED_IN:
    case ErrorCode::NOT_UNLOCKED: return CKR_USER_NOT_LOGGED_IN;
    case ErrorCode::ALREADY_LOGGED_IN: return CKR_USER_ALREADY_LOGGED_IN;
    // keyd does not tell a container whether a user exists elsewhere: no token for it here.
    case ErrorCode::UNKNOWN_USER:
    case ErrorCode::CONTAINER_NOT_ALLOWED: return CKR_TOKEN_NOT_RECOGNIZED;
    case ErrorCode::LOGIN_THROTTLED: return CKR_PIN_LOCKED;
    case ErrorCode::PERMISSION_DENIED: return CKR_ACTION_PROHIBITED;
    case ErrorCode::UNKNOWN_KEY: return CKR_KEY_HANDLE_INVALID;
    case ErrorCode::KEY_EXISTS: return CKR_ATTRIBUTE_VALUE_INVALID;
    case ErrorCode::KEY_TYPE_MISMATCH: return CKR_KEY_TYPE_INCONSISTENT;
    case ErrorCode::USAGE_NOT_PERMITTED: return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case ErrorCode::UNSUPPORTED_ALGORITHM: return CKR_MECHANISM_INVALID;
    case ErrorCode::INVALID_ARGUMENT: return CKR_ARGUMENTS_BAD;
    case ErrorCode::TAG_MISMATCH: return CKR_ENCRYPTED_DATA_INVALID;
    case ErrorCode::TOO_MANY_OPERATIONS: return CKR_DEVICE_MEMORY;
    default: return CKR_DEVICE_ERROR;
  }
}

}  // namespace vhsm::pkcs11
