// A session: its token, its flags, and what runs in it — at most one operation of each kind
// at a time, as the spec has it. Calls on one session are serialised by its mutex; calls on
// different sessions run in parallel.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "pkcs11/operation.hpp"
#include "pkcs11/token.hpp"

namespace vhsm::pkcs11 {

struct Session {
  Session(Token& t, CK_FLAGS f) : token(t), flags(f) {}
  Token& token;
  CK_FLAGS flags;
  std::mutex mutex;
  std::optional<std::vector<CK_OBJECT_HANDLE>> found;  // between FindObjectsInit and Final
  std::unique_ptr<Operation> digest, sign, encrypt, decrypt;
  std::unique_ptr<Verifier> verify;

  bool readWrite() const { return flags & CKF_RW_SESSION; }
};

}  // namespace vhsm::pkcs11
