#include "pkcs11/state.hpp"

#include <openssl/crypto.h>
#include <unistd.h>

#include <stdexcept>

#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {

std::mutex gMutex;
std::unique_ptr<State> gState;
pid_t gPid = 0;

// With no users configured, the tokens are the users keyd has bound to this process's
// container, asked once: an application sees its slots as they were at C_Initialize. A
// program that loads every module (through p11-kit) is held up by a slow keyd for at most
// this long, not for the configured timeout.
constexpr std::chrono::milliseconds kBoundUsersTimeout{1000};

std::vector<std::string> boundUsers(ClientOptions options) {
  options.timeout = std::min(options.timeout, kBoundUsersTimeout);
  options.restartGrace = std::chrono::milliseconds(0);
  try {
    return Client(options).boundUsers();
  } catch (const Error&) {
    return {};  // keyd away: no tokens until the application initializes again
  }
}

}  // namespace

State::State(Config config) : config_(std::move(config)) {
  if (config_.users.empty()) {
    config_.users = boundUsers(config_.client);
    // A configured password belongs to the configured users: tried on every user keyd names,
    // it would count as a wrong password against each of them (and lock them out).
    OPENSSL_cleanse(config_.password.data(), config_.password.size());
    config_.password.clear();
  }
  for (size_t i = 0; i < config_.users.size(); ++i)
    tokens_.push_back(std::make_unique<Token>(CK_SLOT_ID(i), config_.users[i], config_));
}

Token& State::token(CK_SLOT_ID slot) {
  if (slot >= tokens_.size()) throw Failure{CKR_SLOT_ID_INVALID};
  return *tokens_[slot];
}

CK_SESSION_HANDLE State::open(Token& token, CK_FLAGS flags) {
  std::lock_guard lock(mutex_);
  CK_SESSION_HANDLE handle = next_++;
  sessions_.emplace(handle, std::make_shared<Session>(token, flags));
  return handle;
}

std::shared_ptr<Session> State::session(CK_SESSION_HANDLE handle) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(handle);
  if (it == sessions_.end()) throw Failure{CKR_SESSION_HANDLE_INVALID};
  return it->second;
}

void State::close(CK_SESSION_HANDLE handle) {
  Token* token;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(handle);
    if (it == sessions_.end()) throw Failure{CKR_SESSION_HANDLE_INVALID};
    token = &it->second->token;
    sessions_.erase(it);
  }
  if (sessionsOf(*token, false) == 0) token->lastSessionClosed();
}

void State::closeAll(CK_SLOT_ID slot) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(sessions_, [&](const auto& s) { return s.second->token.slot() == slot; });
  }
  token(slot).lastSessionClosed();
}

size_t State::sessionsOf(const Token& token, bool readWriteOnly) {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [handle, s] : sessions_)
    n += &s->token == &token && (!readWriteOnly || s->readWrite());
  return n;
}

State& state() {
  std::lock_guard lock(gMutex);
  if (!gState || gPid != getpid()) throw Failure{CKR_CRYPTOKI_NOT_INITIALIZED};
  return *gState;
}

CK_RV initialize(CK_VOID_PTR args) {
  if (args) {
    auto* a = static_cast<CK_C_INITIALIZE_ARGS*>(args);
    if (a->pReserved) return CKR_ARGUMENTS_BAD;
    // Either all mutex callbacks or none; with them the caller must also allow OS locking,
    // which is what this module uses.
    bool some = a->CreateMutex || a->DestroyMutex || a->LockMutex || a->UnlockMutex;
    bool all = a->CreateMutex && a->DestroyMutex && a->LockMutex && a->UnlockMutex;
    if (some && !all) return CKR_ARGUMENTS_BAD;
    if (all && !(a->flags & CKF_OS_LOCKING_OK)) return CKR_CANT_LOCK;
  }
  std::lock_guard lock(gMutex);
  if (gState && gPid == getpid()) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
  // A forked child's copy of the parent's state is left, not destroyed: a thread of the
  // parent may have held one of its locks at the fork, and destroying it could wait forever.
  if (gState && gPid != getpid()) (void)gState.release();
  try {
    gState = std::make_unique<State>(loadConfig());
  } catch (const std::bad_alloc&) {
    return CKR_HOST_MEMORY;
  } catch (const std::exception&) {
    return CKR_GENERAL_ERROR;
  }
  gPid = getpid();
  return CKR_OK;
}

CK_RV refusedFor(CK_SESSION_HANDLE session, CK_RV rv) {
  return guarded([&] {
    state().session(session);
    return rv;
  });
}

CK_RV finalize(CK_VOID_PTR reserved) {
  if (reserved) return CKR_ARGUMENTS_BAD;
  std::lock_guard lock(gMutex);
  if (!gState || gPid != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
  gState.reset();
  return CKR_OK;
}

}  // namespace vhsm::pkcs11
