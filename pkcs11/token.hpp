// A token: one vhsm user, its connection to keyd and the handles of its objects. PKCS#11 logs
// an application in per token, so every session of a token shares its connection (a Client
// serialises its requests and reconnects after fork on its own).
#pragma once

#include "pkcs11/cryptoki.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <vhsm/client.hpp>
#include "pkcs11/config.hpp"
#include "pkcs11/public_key.hpp"

namespace vhsm::pkcs11 {

// What an object handle names: one of the user's keys, as one of its PKCS#11 objects.
struct ObjectRef {
  std::string keyId;
  CK_OBJECT_CLASS objectClass;  // CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE
  bool operator<(const ObjectRef& o) const {
    return keyId != o.keyId ? keyId < o.keyId : objectClass < o.objectClass;
  }
};

// What the token last heard from keyd about a key, with its public half once fetched.
struct KnownKey {
  KeyInfo info;
  std::shared_ptr<const PublicKey> publicKey;  // null until fetched, and for secret keys
};

class Token {
 public:
  Token(CK_SLOT_ID slot, std::string user, const Config& config);

  CK_SLOT_ID slot() const { return slot_; }
  const std::string& user() const { return user_; }
  Client& client() { return client_; }

  // Whether the token is logged in now. If not, and not tried since the last retryLogin(),
  // first tries the configured password or an unlock for this container (one round trip),
  // which need no C_Login. C_OpenSession calls retryLogin(): an unlock made meanwhile counts.
  bool loggedIn();
  void retryLogin();
  void login(std::string_view pin);
  void logout();
  // The spec: closing an application's last session with a token logs it out.
  void lastSessionClosed();
  // keyd said the session is no longer logged in (an unlock expired, access revoked): the
  // token is public again, and C_Login can be called.
  void noteRefusal(const Error& e);

  // Operations that keyd carries out (sign, HMAC, GCM) start from what the token knows of a
  // key without asking keyd again: keyd checks the key on each request, and a failure there
  // makes the token forget (forgetKeys). Attributes and verification ask keyd each time, and
  // what they hear is learnt; learn() returns it without a public half (see token.cpp).
  KnownKey learn(const KeyInfo& info);
  void learnPublic(const KeyInfo& info, std::shared_ptr<const PublicKey> publicKey);
  std::optional<KnownKey> known(const std::string& id);
  void forgetKeys();

  // Stable handles for the life of the module; 0 is never one.
  CK_OBJECT_HANDLE handleOf(const ObjectRef& object);
  std::optional<ObjectRef> objectOf(CK_OBJECT_HANDLE handle);

 private:
  CK_SLOT_ID slot_;
  std::string user_;
  std::string password_;
  Client client_;
  std::mutex mutex_;  // the login state; held through a login's round trip
  bool loggedIn_ = false, tried_ = false;
  std::mutex knownMutex_;
  std::map<std::string, KnownKey> known_;
  std::mutex handlesMutex_;
  std::map<ObjectRef, CK_OBJECT_HANDLE> handles_;
  std::map<CK_OBJECT_HANDLE, ObjectRef> objects_;
  CK_OBJECT_HANDLE next_;
};

}  // namespace vhsm::pkcs11
