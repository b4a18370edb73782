#include "pkcs11/token.hpp"

#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {
// Handles carry their slot in the top byte, so one token never resolves another's handle.
constexpr int kSlotShift = 24;
}  // namespace

Token::Token(CK_SLOT_ID slot, std::string user, const Config& config)
    : slot_(slot),
      user_(std::move(user)),
      password_(config.password),
      client_(config.client),
      next_((CK_OBJECT_HANDLE(slot) + 1) << kSlotShift) {}

bool Token::loggedIn() {
  std::lock_guard lock(mutex_);
  if (loggedIn_ || tried_) return loggedIn_;
  try {
    client_.login(user_, password_);  // an empty password logs in through an unlock
    loggedIn_ = true;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::refused) throw;  // keyd away: try again next time
    // A configured password keyd refuses is not tried again (each try counts towards the
    // user's login throttle); an unlock still may be.
    if (e.code() == ErrorCode::WRONG_PASSWORD) password_.clear();
  }
  tried_ = true;
  return loggedIn_;
}

void Token::retryLogin() {
  std::lock_guard lock(mutex_);
  tried_ = false;
}

void Token::login(std::string_view pin) {
  std::lock_guard lock(mutex_);
  if (loggedIn_) throw Failure{CKR_USER_ALREADY_LOGGED_IN};
  client_.login(user_, pin);
  loggedIn_ = true;
}

void Token::logout() {
  std::lock_guard lock(mutex_);
  if (!loggedIn_) throw Failure{CKR_USER_NOT_LOGGED_IN};
  loggedIn_ = false;
  tried_ = true;  // logged out on purpose: no implicit login until the next session opens
  client_.logout();
}

void Token::lastSessionClosed() {
  std::lock_guard lock(mutex_);
  if (!loggedIn_) return;
  loggedIn_ = false;
  try {
    client_.logout();
  } catch (const Error&) {
    // keyd gone: the session it knew is gone with it
  }
}

void Token::noteRefusal(const Error& e) {
  if (e.kind() != ErrorKind::refused ||
      (e.code() != ErrorCode::NOT_LOGGED_IN && e.code() != ErrorCode::NOT_UNLOCKED))
    return;
  std::lock_guard lock(mutex_);
  loggedIn_ = false;
}

CK_OBJECT_HANDLE Token::handleOf(const ObjectRef& object) {
  std::lock_guard lock(handlesMutex_);
  auto [it, added] = handles_.try_emplace(object, next_);
  if (added) objects_.emplace(next_++, object);
  return it->second;
}

std::optional<ObjectRef> Token::objectOf(CK_OBJECT_HANDLE handle) {
  std::lock_guard lock(handlesMutex_);
  auto it = objects_.find(handle);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

}  // namespace vhsm::pkcs11
