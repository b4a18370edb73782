// Cryptographic operations on keys by id: HMAC, digest, AES-GCM and signing, in one frame, and
// HMAC, digest and AES-GCM streamed (init, update…, final; cloned and abandoned streams).
#pragma once

#include <cstddef>
#include <cstdint>

#include "keyd/service/key_cache.hpp"
#include "keyd/service/session.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm::keyd {

class Operations {
 public:
  using Request = proto::Request;
  using Response = proto::Response::Builder;

  Operations(KeyCache& keys, size_t maxStreamsPerSession);

  void hmac(Session& s, Request::Hmac::Reader r, Response out);
  static void digest(Request::Digest::Reader r, Response out);
  void gcmEncrypt(Session& s, Request::GcmEncrypt::Reader r, Response out);
  void gcmDecrypt(Session& s, Request::GcmDecrypt::Reader r, Response out);
  void sign(Session& s, Request::Sign::Reader r, Response out);
  void streamInit(Session& s, Request::StreamInit::Reader r, Response out);
  static void streamUpdate(Session& s, Request::StreamUpdate::Reader r, Response out);
  static void streamFinal(Session& s, Request::StreamFinal::Reader r, Response out);
  static void streamAbort(Session& s, uint32_t handle);
  void streamClone(Session& s, uint32_t handle, Response out);

 private:
  void requireStreamRoom(const Session& s) const;

  KeyCache& keys_;
  size_t maxStreams_;
};

}  // namespace vhsm::keyd
