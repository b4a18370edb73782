// The library, its slots and tokens (one per configured vhsm user, else per user keyd has bound
// to the container), sessions and login.
#include <openssl/sha.h>

#include <cstring>
#include <string>

#include "pkcs11/calls.hpp"
#include "pkcs11/errors.hpp"
#include "pkcs11/mechanisms.hpp"
#include "pkcs11/state.hpp"

namespace vhsm::pkcs11::calls {

namespace {

// PKCS#11's fixed-width text fields: blank-padded, not terminated.
template <size_t N>
void padded(CK_UTF8CHAR (&field)[N], const std::string& text) {
  std::memset(field, ' ', N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}

const CK_VERSION kVersion = {0, 1};

// A serial number that names the user, whatever its slot (programs such as NSS and p11-kit
// tell tokens apart by label and serial): 16 hex digits of a SHA-256 of the name.
std::string serialOf(const std::string& user) {
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(user.data()), user.size(), digest);
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

}  // namespace

CK_RV C_Initialize(CK_VOID_PTR args) {
  return guarded([&] { return initialize(args); });
}

CK_RV C_Finalize(CK_VOID_PTR reserved) {
  return guarded([&] { return finalize(reserved); });
}

CK_RV C_GetInfo(CK_INFO_PTR info) {
  return guarded([&] {
    state();
    if (!info) return CKR_ARGUMENTS_BAD;
    info->cryptokiVersion = kCryptokiVersion;
    padded(info->manufacturerID, "vhsm");
    info->flags = 0;
    padded(info->libraryDescription, "vhsm: keys held by vhsm-keyd");
    info->libraryVersion = kVersion;
    return CKR_OK;
  });
}

CK_RV C_GetSlotList(CK_BBOOL, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
  return guarded([&] {
    auto& tokens = state().tokens();
    if (!count) return CKR_ARGUMENTS_BAD;
    if (!list) {
      *count = tokens.size();
      return CKR_OK;
    }
    if (*count < tokens.size()) {
      *count = tokens.size();
      return CKR_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < tokens.size(); ++i) list[i] = tokens[i]->slot();
    *count = tokens.size();
    return CKR_OK;
  });
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
  return guarded([&] {
    auto& token = state().token(slot);
    if (!info) return CKR_ARGUMENTS_BAD;
    padded(info->slotDescription, "vhsm user " + token.user());
    padded(info->manufacturerID, "vhsm");
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion = kVersion;
    info->firmwareVersion = kVersion;
    return CKR_OK;
  });
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
  return guarded([&] {
    auto& s = state();
    auto& token = s.token(slot);
    if (!info) return CKR_ARGUMENTS_BAD;
    padded(info->label, token.user());
    padded(info->manufacturerID, "vhsm");
    padded(info->model, "vhsm-keyd");
    padded(info->serialNumber, serialOf(token.user()));
    // A token logged in by a configured password or an SO's unlock needs no C_Login.
    info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_RNG |
                  (token.loggedIn() ? 0 : CKF_LOGIN_REQUIRED);
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = s.sessionsOf(token, false);
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulRwSessionCount = s.sessionsOf(token, true);
    info->ulMaxPinLen = 1024;
    info->ulMinPinLen = 1;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion = kVersion;
    info->firmwareVersion = kVersion;
    std::memset(info->utcTime, ' ', sizeof info->utcTime);
    return CKR_OK;
  });
}

CK_RV C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
  return guarded([&] {
    state().token(slot);
    if (!count) return CKR_ARGUMENTS_BAD;
    const auto& all = mechanisms();
    if (!list) {
      *count = all.size();
      return CKR_OK;
    }
    if (*count < all.size()) {
      *count = all.size();
      return CKR_BUFFER_TOO_SMALL;
    }
    for (size_t i = 0; i < all.size(); ++i) list[i] = all[i].type;
    *count = all.size();
    return CKR_OK;
  });
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
  return guarded([&] {
    state().token(slot);
    if (!info) return CKR_ARGUMENTS_BAD;
    const Mechanism* m = mechanismNamed(type);
    if (!m) return CKR_MECHANISM_INVALID;
    *info = m->info;
    return CKR_OK;
  });
}

// Tokens and PINs are vhsm users and passwords, managed with vhsm-admin.
CK_RV C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR) {
  return guarded([&] {
    state().token(slot);
    return CKR_FUNCTION_NOT_SUPPORTED;
  });
}

CK_RV C_InitPIN(CK_SESSION_HANDLE session, CK_UTF8CHAR_PTR, CK_ULONG) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE session, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY,
                    CK_SESSION_HANDLE_PTR session) {
  return guarded([&] {
    auto& s = state();
    auto& token = s.token(slot);
    if (!session) return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    token.retryLogin();
    *session = s.open(token, flags);
    return CKR_OK;
  });
}

CK_RV C_CloseSession(CK_SESSION_HANDLE session) {
  return guarded([&] {
    state().close(session);
    return CKR_OK;
  });
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slot) {
  return guarded([&] {
    auto& s = state();
    s.token(slot);
    s.closeAll(slot);
    return CKR_OK;
  });
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE session, CK_SESSION_INFO_PTR info) {
  return guarded([&] {
    auto s = state().session(session);
    if (!info) return CKR_ARGUMENTS_BAD;
    bool user = s->token.loggedIn();
    info->slotID = s->token.slot();
    info->state = s->readWrite() ? (user ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION)
                                 : (user ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION);
    info->flags = s->flags;
    info->ulDeviceError = 0;
    return CKR_OK;
  });
}

// An operation's state is in keyd (a stream), never handed out.
CK_RV C_GetOperationState(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG_PTR) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE session, CK_BYTE_PTR, CK_ULONG, CK_OBJECT_HANDLE,
                          CK_OBJECT_HANDLE) {
  return refusedFor(session, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_Login(CK_SESSION_HANDLE session, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin, CK_ULONG length) {
  return guarded([&] {
    auto s = state().session(session);
    if (!pin && length) return CKR_ARGUMENTS_BAD;
    if (type == CKU_CONTEXT_SPECIFIC) return CKR_OPERATION_NOT_INITIALIZED;
    if (type == CKU_SO) return CKR_USER_TYPE_INVALID;  // a token is one user; SOs use vhsm-admin
    if (type != CKU_USER) return CKR_USER_TYPE_INVALID;
    s->token.login(std::string_view(reinterpret_cast<const char*>(pin), length));
    return CKR_OK;
  });
}

CK_RV C_Logout(CK_SESSION_HANDLE session) {
  return guarded([&] {
    auto s = state().session(session);
    s->token.logout();
    return CKR_OK;
  });
}

CK_RV C_WaitForSlotEvent(CK_FLAGS, CK_SLOT_ID_PTR, CK_VOID_PTR) {
  return guarded([&] {
    state();
    return CKR_FUNCTION_NOT_SUPPORTED;
  });
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE session) {
  return refusedFor(session, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE session) {
  return refusedFor(session, CKR_FUNCTION_NOT_PARALLEL);
}

}  // namespace vhsm::pkcs11::calls
