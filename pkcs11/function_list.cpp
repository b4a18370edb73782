// The module's exported symbols and the table they hand out: C_GetFunctionList, and PKCS#11
// 3.0's discovery entries C_GetInterfaceList and C_GetInterface, which offer the same v2.40
// table as the one interface "PKCS 11" — what the module implements, no more — so that a 3.0
// application finds it the 3.0 way and sees from its version which functions it has.
#include <cstring>

#include "pkcs11/calls.hpp"

namespace vhsm::pkcs11 {
namespace {

using namespace calls;

CK_RV getFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

CK_FUNCTION_LIST kFunctions = {
    kCryptokiVersion,
    C_Initialize,
    C_Finalize,
    C_GetInfo,
    getFunctionList,
    C_GetSlotList,
    C_GetSlotInfo,
    C_GetTokenInfo,
    C_GetMechanismList,
    C_GetMechanismInfo,
    C_InitToken,
    C_InitPIN,
    C_SetPIN,
    C_OpenSession,
    C_CloseSession,
    C_CloseAllSessions,
    C_GetSessionInfo,
    C_GetOperationState,
    C_SetOperationState,
    C_Login,
    C_Logout,
    C_CreateObject,
    C_CopyObject,
    C_DestroyObject,
    C_GetObjectSize,
    C_GetAttributeValue,
    C_SetAttributeValue,
    C_FindObjectsInit,
    C_FindObjects,
    C_FindObjectsFinal,
    C_EncryptInit,
    C_Encrypt,
    C_EncryptUpdate,
    C_EncryptFinal,
    C_DecryptInit,
    C_Decrypt,
    C_DecryptUpdate,
    C_DecryptFinal,
    C_DigestInit,
    C_Digest,
    C_DigestUpdate,
    C_DigestKey,
    C_DigestFinal,
    C_SignInit,
    C_Sign,
    C_SignUpdate,
    C_SignFinal,
    C_SignRecoverInit,
    C_SignRecover,
    C_VerifyInit,
    C_Verify,
    C_VerifyUpdate,
    C_VerifyFinal,
    C_VerifyRecoverInit,
    C_VerifyRecover,
    C_DigestEncryptUpdate,
    C_DecryptDigestUpdate,
    C_SignEncryptUpdate,
    C_DecryptVerifyUpdate,
    C_GenerateKey,
    C_GenerateKeyPair,
    C_WrapKey,
    C_UnwrapKey,
    C_DeriveKey,
    C_SeedRandom,
    C_GenerateRandom,
    C_GetFunctionStatus,
    C_CancelFunction,
    C_WaitForSlotEvent,
};

CK_RV getFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (!list) return CKR_ARGUMENTS_BAD;
  *list = &kFunctions;
  return CKR_OK;
}

}  // namespace

// PKCS#11 3.0's CK_INTERFACE, which Debian 12's v2.40 header does not have. (A 3.x header,
// such as p11-kit 0.25's, declares it and these two functions itself.)
struct Interface {
  CK_CHAR* pInterfaceName;
  CK_VOID_PTR pFunctionList;
  CK_FLAGS flags;
};

namespace {

CK_CHAR kInterfaceName[] = "PKCS 11";
Interface kInterface = {kInterfaceName, &kFunctions, 0};

}  // namespace
}  // namespace vhsm::pkcs11

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(
    CK_FUNCTION_LIST_PTR_PTR list) {
  return vhsm::pkcs11::getFunctionList(list);
}

extern "C" __attribute__((visibility("default"))) CK_RV C_GetInterfaceList(
    vhsm::pkcs11::Interface* list, CK_ULONG_PTR count) {
  if (!count) return CKR_ARGUMENTS_BAD;
  if (!list) {
    *count = 1;
    return CKR_OK;
  }
  if (*count < 1) {
    *count = 1;
    return CKR_BUFFER_TOO_SMALL;
  }
  list[0] = vhsm::pkcs11::kInterface;
  *count = 1;
  return CKR_OK;
}

// No name: the default interface. A name, version or flags the interface does not have is
// refused with CKR_ARGUMENTS_BAD, as the specification has it.
extern "C" __attribute__((visibility("default"))) CK_RV C_GetInterface(
    CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, vhsm::pkcs11::Interface** interface,
    CK_FLAGS flags) {
  using vhsm::pkcs11::kInterface;
  if (!interface) return CKR_ARGUMENTS_BAD;
  if (name && std::strcmp(reinterpret_cast<const char*>(name),
                          reinterpret_cast<const char*>(kInterface.pInterfaceName)) != 0)
    return CKR_ARGUMENTS_BAD;
  auto* functions = static_cast<CK_FUNCTION_LIST*>(kInterface.pFunctionList);
  if (version &&
      (version->major != functions->version.major || version->minor != functions->version.minor))
    return CKR_ARGUMENTS_BAD;
  if ((flags & kInterface.flags) != flags) return CKR_ARGUMENTS_BAD;
  *interface = &kInterface;
  return CKR_OK;
}
