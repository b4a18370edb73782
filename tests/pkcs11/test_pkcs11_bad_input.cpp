// Every function of the module's function list, called as a careless or hostile caller would:
// before C_Initialize, on a session or slot that does not exist, with null pointers, in the
// wrong session state and with short buffers. Each gets the code PKCS#11 v2.40 gives it, and
// the module and keyd go on serving.
#include <dlfcn.h>

#include <functional>

#include "tests/pkcs11/module_fixture.hpp"
#include "tests/support/openssl_reference.hpp"

using namespace vhsm;
using namespace vhsm::test;

namespace {

// One call of one function with a session handle and a slot id given, every pointer null.
struct Call {
  const char* name;
  enum { library, slot, session } takes;
  std::function<CK_RV(CK_FUNCTION_LIST*, CK_SESSION_HANDLE, CK_SLOT_ID)> call;
};

std::vector<Call> everyFunction() {
  using F = CK_FUNCTION_LIST*;
  using H = CK_SESSION_HANDLE;
  using S = CK_SLOT_ID;
  return {
      {"C_Finalize", Call::library, [](F p, H, S) { return p->C_Finalize(nullptr); }},
      {"C_GetInfo", Call::library, [](F p, H, S) { return p->C_GetInfo(nullptr); }},
      {"C_GetSlotList", Call::library,
       [](F p, H, S) { return p->C_GetSlotList(CK_FALSE, nullptr, nullptr); }},
      {"C_WaitForSlotEvent", Call::library,
       [](F p, H, S) { return p->C_WaitForSlotEvent(CKF_DONT_BLOCK, nullptr, nullptr); }},
      {"C_GetSlotInfo", Call::slot, [](F p, H, S s) { return p->C_GetSlotInfo(s, nullptr); }},
      {"C_GetTokenInfo", Call::slot, [](F p, H, S s) { return p->C_GetTokenInfo(s, nullptr); }},
      {"C_GetMechanismList", Call::slot,
       [](F p, H, S s) { return p->C_GetMechanismList(s, nullptr, nullptr); }},
      {"C_GetMechanismInfo", Call::slot,
       [](F p, H, S s) { return p->C_GetMechanismInfo(s, CKM_SHA256, nullptr); }},
      {"C_InitToken", Call::slot,
       [](F p, H, S s) { return p->C_InitToken(s, nullptr, 0, nullptr); }},
      {"C_OpenSession", Call::slot,
       [](F p, H, S s) {
         return p->C_OpenSession(s, CKF_SERIAL_SESSION, nullptr, nullptr, nullptr);
       }},
      {"C_CloseAllSessions", Call::slot, [](F p, H, S s) { return p->C_CloseAllSessions(s); }},
      {"C_InitPIN", Call::session, [](F p, H h, S) { return p->C_InitPIN(h, nullptr, 0); }},
      {"C_SetPIN", Call::session,
       [](F p, H h, S) { return p->C_SetPIN(h, nullptr, 0, nullptr, 0); }},
      {"C_CloseSession", Call::session, [](F p, H h, S) { return p->C_CloseSession(h); }},
      {"C_GetSessionInfo", Call::session,
       [](F p, H h, S) { return p->C_GetSessionInfo(h, nullptr); }},
      {"C_GetOperationState", Call::session,
       [](F p, H h, S) { return p->C_GetOperationState(h, nullptr, nullptr); }},
      {"C_SetOperationState", Call::session,
       [](F p, H h, S) { return p->C_SetOperationState(h, nullptr, 0, 0, 0); }},
      {"C_Login", Call::session, [](F p, H h, S) { return p->C_Login(h, CKU_USER, nullptr, 0); }},
      {"C_Logout", Call::session, [](F p, H h, S) { return p->C_Logout(h); }},
      {"C_CreateObject", Call::session,
       [](F p, H h, S) { return p->C_CreateObject(h, nullptr, 0, nullptr); }},
      {"C_CopyObject", Call::session,
       [](F p, H h, S) { return p->C_CopyObject(h, 1, nullptr, 0, nullptr); }},
      {"C_DestroyObject", Call::session, [](F p, H h, S) { return p->C_DestroyObject(h, 1); }},
      {"C_GetObjectSize", Call::session,
       [](F p, H h, S) { return p->C_GetObjectSize(h, 1, nullptr); }},
      {"C_GetAttributeValue", Call::session,
       [](F p, H h, S) { return p->C_GetAttributeValue(h, 1, nullptr, 0); }},
      {"C_SetAttributeValue", Call::session,
       [](F p, H h, S) { return p->C_SetAttributeValue(h, 1, nullptr, 0); }},
      {"C_FindObjectsInit", Call::session,
       [](F p, H h, S) { return p->C_FindObjectsInit(h, nullptr, 0); }},
      {"C_FindObjects", Call::session,
       [](F p, H h, S) { return p->C_FindObjects(h, nullptr, 0, nullptr); }},
      {"C_FindObjectsFinal", Call::session, [](F p, H h, S) { return p->C_FindObjectsFinal(h); }},
      {"C_EncryptInit", Call::session, [](F p, H h, S) { return p->C_EncryptInit(h, nullptr, 1); }},
      {"C_Encrypt", Call::session,
       [](F p, H h, S) { return p->C_Encrypt(h, nullptr, 0, nullptr, nullptr); }},
      {"C_EncryptUpdate", Call::session,
       [](F p, H h, S) { return p->C_EncryptUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_EncryptFinal", Call::session,
       [](F p, H h, S) { return p->C_EncryptFinal(h, nullptr, nullptr); }},
      {"C_DecryptInit", Call::session, [](F p, H h, S) { return p->C_DecryptInit(h, nullptr, 1); }},
      {"C_Decrypt", Call::session,
       [](F p, H h, S) { return p->C_Decrypt(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DecryptUpdate", Call::session,
       [](F p, H h, S) { return p->C_DecryptUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DecryptFinal", Call::session,
       [](F p, H h, S) { return p->C_DecryptFinal(h, nullptr, nullptr); }},
      {"C_DigestInit", Call::session, [](F p, H h, S) { return p->C_DigestInit(h, nullptr); }},
      {"C_Digest", Call::session,
       [](F p, H h, S) { return p->C_Digest(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DigestUpdate", Call::session,
       [](F p, H h, S) { return p->C_DigestUpdate(h, nullptr, 0); }},
      {"C_DigestKey", Call::session, [](F p, H h, S) { return p->C_DigestKey(h, 1); }},
      {"C_DigestFinal", Call::session,
       [](F p, H h, S) { return p->C_DigestFinal(h, nullptr, nullptr); }},
      {"C_SignInit", Call::session, [](F p, H h, S) { return p->C_SignInit(h, nullptr, 1); }},
      {"C_Sign", Call::session,
       [](F p, H h, S) { return p->C_Sign(h, nullptr, 0, nullptr, nullptr); }},
      {"C_SignUpdate", Call::session, [](F p, H h, S) { return p->C_SignUpdate(h, nullptr, 0); }},
      {"C_SignFinal", Call::session,
       [](F p, H h, S) { return p->C_SignFinal(h, nullptr, nullptr); }},
      {"C_SignRecoverInit", Call::session,
       [](F p, H h, S) { return p->C_SignRecoverInit(h, nullptr, 1); }},
      {"C_SignRecover", Call::session,
       [](F p, H h, S) { return p->C_SignRecover(h, nullptr, 0, nullptr, nullptr); }},
      {"C_VerifyInit", Call::session, [](F p, H h, S) { return p->C_VerifyInit(h, nullptr, 1); }},
      {"C_Verify", Call::session,
       [](F p, H h, S) { return p->C_Verify(h, nullptr, 0, nullptr, 0); }},
      {"C_VerifyUpdate", Call::session,
       [](F p, H h, S) { return p->C_VerifyUpdate(h, nullptr, 0); }},
      {"C_VerifyFinal", Call::session, [](F p, H h, S) { return p->C_VerifyFinal(h, nullptr, 0); }},
      {"C_VerifyRecoverInit", Call::session,
       [](F p, H h, S) { return p->C_VerifyRecoverInit(h, nullptr, 1); }},
      {"C_VerifyRecover", Call::session,
       [](F p, H h, S) { return p->C_VerifyRecover(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DigestEncryptUpdate", Call::session,
       [](F p, H h, S) { return p->C_DigestEncryptUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DecryptDigestUpdate", Call::session,
       [](F p, H h, S) { return p->C_DecryptDigestUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_SignEncryptUpdate", Call::session,
       [](F p, H h, S) { return p->C_SignEncryptUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_DecryptVerifyUpdate", Call::session,
       [](F p, H h, S) { return p->C_DecryptVerifyUpdate(h, nullptr, 0, nullptr, nullptr); }},
      {"C_GenerateKey", Call::session,
       [](F p, H h, S) { return p->C_GenerateKey(h, nullptr, nullptr, 0, nullptr); }},
      {"C_GenerateKeyPair", Call::session,
       [](F p, H h, S) {
         return p->C_GenerateKeyPair(h, nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr);
       }},
      {"C_WrapKey", Call::session,
       [](F p, H h, S) { return p->C_WrapKey(h, nullptr, 1, 1, nullptr, nullptr); }},
      {"C_UnwrapKey", Call::session,
       [](F p, H h, S) { return p->C_UnwrapKey(h, nullptr, 1, nullptr, 0, nullptr, 0, nullptr); }},
      {"C_DeriveKey", Call::session,
       [](F p, H h, S) { return p->C_DeriveKey(h, nullptr, 1, nullptr, 0, nullptr); }},
      {"C_SeedRandom", Call::session, [](F p, H h, S) { return p->C_SeedRandom(h, nullptr, 0); }},
      {"C_GenerateRandom", Call::session,
       [](F p, H h, S) { return p->C_GenerateRandom(h, nullptr, 0); }},
      {"C_GetFunctionStatus", Call::session, [](F p, H h, S) { return p->C_GetFunctionStatus(h); }},
      {"C_CancelFunction", Call::session, [](F p, H h, S) { return p->C_CancelFunction(h); }},
  };
}

// The functions of CK_FUNCTION_LIST, C_Initialize and C_GetFunctionList aside.
constexpr size_t kFunctions = 66;

}  // namespace

TEST_CASE("every function answers before C_Initialize, for unknown sessions and slots") {
  auto* p = moduleFunctions();
  auto calls = everyFunction();
  REQUIRE(calls.size() == kFunctions);
  Keyd keyd;
  keyd.newUser("alice", "pw");
  setenv("VHSM_SOCKET", keyd.socket().c_str(), 1);
  setenv("VHSM_USER", "alice", 1);
  for (const auto& c : calls) {
    INFO(c.name);
    CHECK(c.call(p, 1, 0) == CKR_CRYPTOKI_NOT_INITIALIZED);
  }
  REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
  CK_SESSION_HANDLE real = 0;
  REQUIRE(p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &real) == CKR_OK);
  for (const auto& c : calls) {
    INFO(c.name);
    if (c.takes == Call::session) CHECK(c.call(p, real + 0x1000, 0) == CKR_SESSION_HANDLE_INVALID);
    if (c.takes == Call::slot) CHECK(c.call(p, real, 99) == CKR_SLOT_ID_INVALID);
  }
  // Every function once more with null pointers on a real session and slot: a code, no crash.
  for (const auto& c : calls) {
    if (std::string(c.name) == "C_Finalize" || std::string(c.name) == "C_CloseSession" ||
        std::string(c.name) == "C_CloseAllSessions")
      continue;
    INFO(c.name);
    CK_RV rv = c.call(p, real, 0);
    CHECK(rv != CKR_GENERAL_ERROR);
    CHECK(rv != CKR_FUNCTION_FAILED);
  }
  CK_SESSION_INFO info;
  CHECK(p->C_GetSessionInfo(real, &info) == CKR_OK);  // the session survived all of it
  REQUIRE(p->C_Finalize(nullptr) == CKR_OK);
}

TEST_CASE("wrong session states and short buffers get the spec's codes") {
  ModuleFixture f;
  auto* p = f.p;
  f.alice->keyImport("mac", KeyType::HMAC, randomBytes(32));
  f.alice->keyImport("aes", KeyType::AES, randomBytes(32));
  f.alice->keyGenerate("ec", KeyType::EC_P256);

  // Not logged in: nothing is made, used or listed; a read-only session changes nothing.
  auto publicSession = f.open();
  CK_MECHANISM aesGen = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_ULONG bytes = 32;
  CK_ATTRIBUTE length[] = {{CKA_VALUE_LEN, &bytes, sizeof bytes}};
  CK_OBJECT_HANDLE made = 0;
  CHECK(p->C_GenerateKey(publicSession, &aesGen, length, 1, &made) == CKR_USER_NOT_LOGGED_IN);
  CK_MECHANISM sha = {CKM_SHA256, nullptr, 0};
  CHECK(p->C_DigestInit(publicSession, &sha) == CKR_OK);  // digests need no login
  CHECK(p->C_DigestInit(publicSession, &sha) == CKR_OPERATION_ACTIVE);
  std::string pin = ModuleFixture::kPin;
  auto* pinBytes = reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data());
  CHECK(p->C_Login(publicSession, CKU_SO, pinBytes, pin.size()) == CKR_USER_TYPE_INVALID);
  CHECK(p->C_Login(publicSession, CKU_USER, pinBytes, 3) == CKR_PIN_INCORRECT);
  REQUIRE(p->C_Login(publicSession, CKU_USER, pinBytes, pin.size()) == CKR_OK);
  CHECK(p->C_Login(publicSession, CKU_USER, pinBytes, pin.size()) == CKR_USER_ALREADY_LOGGED_IN);
  auto readOnly = f.open(false);
  CHECK(p->C_GenerateKey(readOnly, &aesGen, length, 1, &made) == CKR_SESSION_READ_ONLY);
  auto s = f.open();

  // Lists: too small a buffer gets CKR_BUFFER_TOO_SMALL and the count needed.
  CK_ULONG count = 0;
  REQUIRE(p->C_GetMechanismList(0, nullptr, &count) == CKR_OK);
  REQUIRE(count > 2);
  std::vector<CK_MECHANISM_TYPE> mechanisms(count);
  CK_ULONG tooFew = 1;
  CHECK(p->C_GetMechanismList(0, mechanisms.data(), &tooFew) == CKR_BUFFER_TOO_SMALL);
  CHECK(tooFew == count);
  CK_SLOT_ID slots[1];
  CK_ULONG slotCount = 0;
  CHECK(p->C_GetSlotList(CK_TRUE, slots, &slotCount) == CKR_BUFFER_TOO_SMALL);
  CHECK(slotCount == 1);

  // Single-part output: a length query, a buffer one byte short, then the right one; the
  // operation stays across the first two and ends with the third.
  CK_OBJECT_HANDLE mac = f.find(s, "mac", CKO_SECRET_KEY);
  CK_OBJECT_HANDLE aes = f.find(s, "aes", CKO_SECRET_KEY);
  CK_OBJECT_HANDLE ec = f.find(s, "ec", CKO_PRIVATE_KEY);
  uint8_t iv[12] = {1};
  CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, nullptr, 0, 128};
  Bytes data(100, 7);
  struct Single {
    const char* name;
    std::function<CK_RV()> init;
    std::function<CK_RV(uint8_t*, CK_ULONG*)> call;
  };
  const Single singles[] = {
      {"digest", [&] { return p->C_DigestInit(s, &sha); },
       [&](uint8_t* out, CK_ULONG* n) { return p->C_Digest(s, data.data(), data.size(), out, n); }},
      {"hmac",
       [&] {
         CK_MECHANISM m = {CKM_SHA256_HMAC, nullptr, 0};
         return p->C_SignInit(s, &m, mac);
       },
       [&](uint8_t* out, CK_ULONG* n) { return p->C_Sign(s, data.data(), data.size(), out, n); }},
      {"ecdsa",
       [&] {
         CK_MECHANISM m = {CKM_ECDSA_SHA256, nullptr, 0};
         return p->C_SignInit(s, &m, ec);
       },
       [&](uint8_t* out, CK_ULONG* n) { return p->C_Sign(s, data.data(), data.size(), out, n); }},
      {"gcm",
       [&] {
         CK_MECHANISM m = {CKM_AES_GCM, &gcm, sizeof gcm};
         return p->C_EncryptInit(s, &m, aes);
       },
       [&](uint8_t* out, CK_ULONG* n) {
         return p->C_Encrypt(s, data.data(), data.size(), out, n);
       }},
  };
  for (const auto& single : singles) {
    INFO(single.name);
    REQUIRE(single.init() == CKR_OK);
    CK_ULONG needed = 0;
    REQUIRE(single.call(nullptr, &needed) == CKR_OK);
    Bytes out(needed + 1, 0xee);
    CK_ULONG n = needed - 1;
    CHECK(single.call(out.data(), &n) == CKR_BUFFER_TOO_SMALL);
    CHECK(n == needed);
    CHECK(out[0] == 0xee);  // nothing written
    n = out.size();
    CHECK(single.call(out.data(), &n) == CKR_OK);
    CHECK(n == needed);
    CHECK(out[needed] == 0xee);  // nothing past what it said
    CHECK(single.call(out.data(), &n) == CKR_OPERATION_NOT_INITIALIZED);
  }

  // Mechanism parameters that do not fit: CKR_MECHANISM_PARAM_INVALID, no operation left.
  CK_GCM_PARAMS noIv = {nullptr, 0, 0, nullptr, 0, 128};
  CK_MECHANISM badGcm = {CKM_AES_GCM, &noIv, sizeof noIv};
  CHECK(p->C_EncryptInit(s, &badGcm, aes) == CKR_MECHANISM_PARAM_INVALID);
  CK_MECHANISM shortParams = {CKM_AES_GCM, &gcm, sizeof gcm - 1};
  CHECK(p->C_EncryptInit(s, &shortParams, aes) == CKR_MECHANISM_PARAM_INVALID);
  CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
  CK_MECHANISM pssOnEc = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss};
  CHECK(p->C_SignInit(s, &pssOnEc, ec) == CKR_KEY_TYPE_INCONSISTENT);
  CK_MECHANISM ecdsaWithParams = {CKM_ECDSA, &pss, sizeof pss};
  CHECK(p->C_SignInit(s, &ecdsaWithParams, ec) == CKR_MECHANISM_PARAM_INVALID);
  CK_MECHANISM gcmOk = {CKM_AES_GCM, &gcm, sizeof gcm};
  CHECK(p->C_EncryptInit(s, &gcmOk, aes) == CKR_OK);  // nothing was left running
}

TEST_CASE("PKCS#11 3.0 discovery finds the v2.40 function list as interface \"PKCS 11\"") {
  void* module = dlopen(VHSM_PKCS11_MODULE, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(module);
  struct Interface {
    CK_CHAR* name;
    void* functionList;
    CK_FLAGS flags;
  };
  using GetList = CK_RV (*)(Interface*, CK_ULONG*);
  using Get = CK_RV (*)(CK_UTF8CHAR*, CK_VERSION*, Interface**, CK_FLAGS);
  auto getList = reinterpret_cast<GetList>(dlsym(module, "C_GetInterfaceList"));
  auto get = reinterpret_cast<Get>(dlsym(module, "C_GetInterface"));
  REQUIRE((getList && get));
  CK_ULONG count = 0;
  CHECK(getList(nullptr, nullptr) == CKR_ARGUMENTS_BAD);
  REQUIRE(getList(nullptr, &count) == CKR_OK);
  CHECK(count == 1);
  Interface list[2];
  count = 0;
  CHECK(getList(list, &count) == CKR_BUFFER_TOO_SMALL);
  CHECK(count == 1);
  count = 2;
  REQUIRE(getList(list, &count) == CKR_OK);
  CHECK(std::string(reinterpret_cast<char*>(list[0].name)) == "PKCS 11");
  CHECK(list[0].functionList == moduleFunctions());

  Interface* found = nullptr;
  REQUIRE(get(nullptr, nullptr, &found, 0) == CKR_OK);
  CHECK(found->functionList == moduleFunctions());
  auto* functions = static_cast<CK_FUNCTION_LIST*>(found->functionList);
  CHECK((functions->version.major == 2 && functions->version.minor == 40));
  CK_UTF8CHAR name[] = "PKCS 11", other[] = "Vendor";
  CK_VERSION v240 = {2, 40}, v30 = {3, 0};
  CHECK(get(name, &v240, &found, 0) == CKR_OK);
  CHECK(get(name, &v30, &found, 0) == CKR_ARGUMENTS_BAD);  // no 3.0 table is claimed
  CHECK(get(other, nullptr, &found, 0) == CKR_ARGUMENTS_BAD);
  CHECK(get(name, nullptr, &found, 1) == CKR_ARGUMENTS_BAD);  // CKF_INTERFACE_FORK_SAFE
  CHECK(get(name, nullptr, nullptr, 0) == CKR_ARGUMENTS_BAD);
}
