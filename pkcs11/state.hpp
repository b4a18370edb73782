// The module between C_Initialize and C_Finalize: its tokens (one per configured user) and
// sessions. A process that forked sees no state until it calls C_Initialize again, as the
// spec and p11-kit expect; the parent's connections stay the parent's.
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <map>
#include <memory>
#include <vector>

#include "pkcs11/config.hpp"
#include "pkcs11/session.hpp"
#include "pkcs11/token.hpp"

namespace vhsm::pkcs11 {

class State {
 public:
  explicit State(Config config);

  std::vector<std::unique_ptr<Token>>& tokens() { return tokens_; }
  // Failure{CKR_SLOT_ID_INVALID} for a slot that is not one.
  Token& token(CK_SLOT_ID slot);

  CK_SESSION_HANDLE open(Token& token, CK_FLAGS flags);
  // Failure{CKR_SESSION_HANDLE_INVALID} for a handle that is not an open session.
  std::shared_ptr<Session> session(CK_SESSION_HANDLE handle);
  void close(CK_SESSION_HANDLE handle);
  void closeAll(CK_SLOT_ID slot);
  size_t sessionsOf(const Token& token, bool readWriteOnly);

 private:
  Config config_;
  std::vector<std::unique_ptr<Token>> tokens_;
  std::mutex mutex_;
  std::map<CK_SESSION_HANDLE, std::shared_ptr<Session>> sessions_;
  CK_SESSION_HANDLE next_ = 1;
};

// The current state: Failure{CKR_CRYPTOKI_NOT_INITIALIZED} before C_Initialize, after
// C_Finalize, and in a forked child until it calls C_Initialize.
State& state();
CK_RV initialize(CK_VOID_PTR args);
// For the calls this module refuses whatever they carry: rv for an open session, the spec's
// code for anything else (no session, not initialized).
CK_RV refusedFor(CK_SESSION_HANDLE session, CK_RV rv);
CK_RV finalize(CK_VOID_PTR reserved);

}  // namespace vhsm::pkcs11
