// Key objects (`vhsm-admin key ...`): created inside keyd or imported, stored wrapped under the
// owner's user secret, listed, described, given a certificate and deleted by their owner alone.
#pragma once

#include <span>
#include <string>

#include "keyd/service/access.hpp"
#include "keyd/service/auditor.hpp"
#include "keyd/service/key_cache.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class KeyRequests {
 public:
  using Request = proto::Request;
  using Response = proto::Response::Builder;

  KeyRequests(store::Store& store, Access& access, Auditor& auditor, KeyCache& keys);

  void generate(Session& s, Request::KeyGenerate::Reader r);
  void import(Session& s, Request::KeyImport::Reader r);
  void list(Session& s, Response out);
  void listPage(Session& s, Request::KeyListPage::Reader r, Response out);
  void info(Session& s, const std::string& id, Response out);
  void remove(Session& s, const std::string& id);
  void publicKey(Session& s, const std::string& id, Response out);
  // A certificate kept beside a key pair for PKCS#11 programs; its public key must be the
  // key's, checked when it is set and again whenever it is handed out (the store is not
  // trusted with it).
  void setCertificate(Session& s, Request::KeyCertificate::Reader r);
  void certificate(Session& s, const std::string& id, Response out);

 private:
  void listFrom(Session& s, const std::string& startAfter, uint32_t page, Response out);
  void save(Session& s, store::Key key, std::span<const uint8_t> material, const char* action);

  store::Store& store_;
  Access& access_;
  Auditor& auditor_;
  KeyCache& keys_;
};

}  // namespace vhsm::keyd
