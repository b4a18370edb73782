// libvhsm-pkcs11.so loaded as an application loads it (dlopen, C_GetFunctionList) against a
// real keyd with a user "alice", the environment set as a user would set it.
#pragma once

#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "pkcs11/cryptoki.hpp"
#include "tests/support/keyd_process.hpp"

namespace vhsm::test {

inline CK_FUNCTION_LIST* moduleFunctions() {
  static CK_FUNCTION_LIST* functions = [] {
    void* handle = dlopen(VHSM_PKCS11_MODULE, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(handle);
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    REQUIRE(get);
    CK_FUNCTION_LIST* list = nullptr;
    REQUIRE(get(&list) == CKR_OK);
    return list;
  }();
  return functions;
}

struct ModuleFixture {
  static constexpr const char* kPin = "alice-password";

  ModuleFixture() : p(moduleFunctions()) {
    alice = keyd.newUser("alice", kPin);
    setenv("VHSM_SOCKET", keyd.socket().c_str(), 1);
    setenv("VHSM_USER", "alice", 1);
    unsetenv("VHSM_PASSWORD");
    unsetenv("VHSM_PKCS11_CONF");
    REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
  }
  ~ModuleFixture() { p->C_Finalize(nullptr); }

  CK_SESSION_HANDLE open(bool readWrite = true) {
    CK_SESSION_HANDLE s = 0;
    CK_FLAGS flags = CKF_SERIAL_SESSION | (readWrite ? CKF_RW_SESSION : 0);
    REQUIRE(p->C_OpenSession(0, flags, nullptr, nullptr, &s) == CKR_OK);
    return s;
  }
  CK_SESSION_HANDLE loggedIn() {
    CK_SESSION_HANDLE s = open();
    std::string pin = kPin;
    REQUIRE(p->C_Login(s, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()), pin.size()) ==
            CKR_OK);
    return s;
  }
  // The first object of class with CKA_ID id, or 0.
  CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, const std::string& id, CK_OBJECT_CLASS cls) {
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_OBJECT_HANDLE h = 0;
    CK_ULONG n = 0;
    REQUIRE(p->C_FindObjectsInit(s, t, 2) == CKR_OK);
    REQUIRE(p->C_FindObjects(s, &h, 1, &n) == CKR_OK);
    REQUIRE(p->C_FindObjectsFinal(s) == CKR_OK);
    return n ? h : 0;
  }

  Keyd keyd;
  std::unique_ptr<Client> alice;
  CK_FUNCTION_LIST* p;
};

}  // namespace vhsm::test
