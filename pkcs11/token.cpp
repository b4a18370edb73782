#include "pkcs11/token.hpp"

#include "pkcs11/errors.hpp"

namespace vhsm::pkcs11 {

namespace {
// Handles carry their slot in the top byte, so one token never resolves another's handle.
constexpr int kSlotShift = 24;
// More keys than this and the token starts learning afresh: bounded memory for huge users.
constexpr size_t kMaxKnownKeys = 4096;

bool sameKey(const KeyInfo& a, const KeyInfo& b) {
  return a.id == b.id && a.type == b.type && a.bits == b.bits &&
         a.createdUnixSeconds == b.createdUnixSeconds;
}
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
  if (e.kind() == ErrorKind::refused &&
      (e.code() == ErrorCode::UNKNOWN_KEY || e.code() == ErrorCode::KEY_TYPE_MISMATCH ||
       e.code() == ErrorCode::USAGE_NOT_PERMITTED))
    forgetKeys();  // deleted, or made again as another kind, since the token learnt of it
  if (e.kind() != ErrorKind::refused ||
      (e.code() != ErrorCode::NOT_LOGGED_IN && e.code() != ErrorCode::NOT_UNLOCKED))
    return;
  std::lock_guard lock(mutex_);
  loggedIn_ = false;
}

KnownKey Token::learn(const KeyInfo& info) {
  std::lock_guard lock(knownMutex_);
  auto it = known_.find(info.id);
  // What is handed back has no public half: keyd's key records say when they were made to the
  // second, so a key deleted and made again within one second looks the same, and its old
  // public half must not verify or describe the new key. Signing alone takes the public half
  // from known(), for the signature's length, which such a key shares.
  if (it != known_.end() && sameKey(it->second.info, info)) {
    it->second.info = info;  // whether it has a certificate may have changed
    return KnownKey{info, nullptr};
  }
  if (it == known_.end() && known_.size() >= kMaxKnownKeys) known_.clear();
  known_[info.id] = KnownKey{info, nullptr};
  return KnownKey{info, nullptr};
}

void Token::learnPublic(const KeyInfo& info, std::shared_ptr<const PublicKey> publicKey) {
  std::lock_guard lock(knownMutex_);
  auto it = known_.find(info.id);
  if (it != known_.end() && sameKey(it->second.info, info))
    it->second.publicKey = std::move(publicKey);
}

std::optional<KnownKey> Token::known(const std::string& id) {
  std::lock_guard lock(knownMutex_);
  auto it = known_.find(id);
  if (it == known_.end()) return std::nullopt;
  return it->second;
}

void Token::forgetKeys() {
  std::lock_guard lock(knownMutex_);
  known_.clear();
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
