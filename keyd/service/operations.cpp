#include "keyd/service/operations.hpp"

#include "keyd/crypto/aes_gcm.hpp"
#include "keyd/crypto/hashes.hpp"
#include "keyd/crypto/primitives.hpp"
#include "keyd/crypto/signing_key.hpp"
#include "keyd/service/streams.hpp"
#include "protocol/enum_mirror.hpp"

namespace vhsm::keyd {

using proto::ErrorCode;
using proto::KeyUsage;

namespace {

std::span<const uint8_t> bytesOf(capnp::Data::Reader d) {
  return {d.begin(), d.size()};
}

void finishHash(CryptoPP::HashTransformation& h, capnp::Data::Reader data,
                proto::Response::Builder out) {
  h.Update(data.begin(), data.size());
  auto result = out.initBytes(h.DigestSize());
  h.TruncatedFinal(result.begin(), result.size());
}

}  // namespace

Operations::Operations(KeyCache& keys, size_t maxStreamsPerSession)
    : keys_(keys), maxStreams_(maxStreamsPerSession) {}

void Operations::requireStreamRoom(const Session& s) const {
  if (s.streams.size() >= maxStreams_)
    throw Refusal(ErrorCode::TOO_MANY_OPERATIONS, "at most " + std::to_string(maxStreams_) +
                                                      " streams may be open on one connection");
}

void Operations::hmac(Session& s, Request::Hmac::Reader r, Response out) {
  const auto& key = keys_.usable(s, r.getKeyId(), KeyUsage::MAC);
  auto algorithm = r.getAlgorithm();
  if (size_t(algorithm) >= key.hmacs.size())
    throw Refusal(ErrorCode::UNSUPPORTED_ALGORITHM, "unsupported hash algorithm");
  auto& keyed = key.hmacs[size_t(algorithm)];
  if (!keyed) keyed = newHmac(proto::api(algorithm), key.material);
  keyed->Restart();  // in case an earlier request stopped between update and final
  finishHash(*keyed, r.getData(), out);
}

void Operations::digest(Request::Digest::Reader r, Response out) {
  finishHash(*newDigest(proto::api(r.getAlgorithm())), r.getData(), out);
}

void Operations::gcmEncrypt(Session& s, Request::GcmEncrypt::Reader r, Response out) {
  const auto& key = keys_.usable(s, r.getKeyId(), KeyUsage::ENCRYPT);
  AesGcm::checkTagLength(r.getTagLength());
  auto result = out.initGcm();
  std::span<const uint8_t> iv = bytesOf(r.getIv());
  if (iv.empty()) {
    auto fresh = result.initIv(kDefaultGcmIvBytes);
    randomBytes({fresh.begin(), fresh.size()});
    iv = {fresh.begin(), fresh.size()};
  } else {
    result.setIv(r.getIv());
  }
  AesGcm gcm(true, key.material, iv);
  gcm.addAad(bytesOf(r.getAad()));
  auto plaintext = bytesOf(r.getPlaintext());
  gcm.process(plaintext, result.initCiphertext(unsigned(plaintext.size())).begin());
  auto tag = result.initTag(r.getTagLength());
  gcm.tag({tag.begin(), tag.size()});
}

void Operations::gcmDecrypt(Session& s, Request::GcmDecrypt::Reader r, Response out) {
  const auto& key = keys_.usable(s, r.getKeyId(), KeyUsage::ENCRYPT);
  AesGcm gcm(false, key.material, bytesOf(r.getIv()));
  gcm.addAad(bytesOf(r.getAad()));
  auto ciphertext = bytesOf(r.getCiphertext());
  gcm.finishDecrypt(ciphertext, out.initBytes(unsigned(ciphertext.size())).begin(),
                    bytesOf(r.getTag()));
}

void Operations::sign(Session& s, Request::Sign::Reader r, Response out) {
  const auto& key = keys_.usable(s, r.getKeyId(), KeyUsage::SIGN);
  SignParams params{proto::api(r.getHash()), r.getRaw(), proto::api(r.getRsaPadding()),
                    r.getPssSaltLength(), proto::api(r.getMgf1Hash())};
  auto signature = key.signer->sign(params, bytesOf(r.getData()));
  out.setBytes({signature.data(), signature.size()});
}

void Operations::streamInit(Session& s, Request::StreamInit::Reader r, Response out) {
  requireStreamRoom(s);
  std::unique_ptr<Stream> stream;
  switch (r.which()) {
    case Request::StreamInit::HMAC: {
      auto h = r.getHmac();
      const auto& key = keys_.usable(s, h.getKeyId(), KeyUsage::MAC);
      auto hasher = newHmac(proto::api(h.getAlgorithm()), key.material);
      hasher->Update(h.getData().begin(), h.getData().size());
      stream = newHashStream(std::move(hasher));
      break;
    }
    case Request::StreamInit::DIGEST: {
      auto d = r.getDigest();
      auto hasher = newDigest(proto::api(d.getAlgorithm()));
      hasher->Update(d.getData().begin(), d.getData().size());
      stream = newHashStream(std::move(hasher));
      break;
    }
    case Request::StreamInit::GCM_ENCRYPT: {
      auto g = r.getGcmEncrypt();
      const auto& key = keys_.usable(s, g.getKeyId(), KeyUsage::ENCRYPT);
      if (g.getIv().size() == 0)
        throw Refusal(ErrorCode::INVALID_ARGUMENT, "a streamed AES-GCM encryption needs an IV");
      stream = newGcmStream(true, key.material, bytesOf(g.getIv()), {});
      stream->first(bytesOf(g.getAad()), bytesOf(g.getPlaintext()), g.getTagSoFar(), out);
      break;
    }
    case Request::StreamInit::GCM_DECRYPT: {
      auto g = r.getGcmDecrypt();
      const auto& key = keys_.usable(s, g.getKeyId(), KeyUsage::ENCRYPT);
      stream = newGcmStream(false, key.material, bytesOf(g.getIv()), bytesOf(g.getTag()));
      stream->first(bytesOf(g.getAad()), bytesOf(g.getCiphertext()), false, out);
      break;
    }
    default: throw Refusal(ErrorCode::UNSUPPORTED_ALGORITHM, "unknown stream type");
  }
  uint32_t handle = s.nextStreamHandle++;
  s.streams.emplace(handle, std::move(stream));
  out.setStream(handle);
}

void Operations::streamUpdate(Session& s, Request::StreamUpdate::Reader r, Response out) {
  auto it = s.streams.find(r.getHandle());
  if (it == s.streams.end())
    throw Refusal(ErrorCode::UNKNOWN_OPERATION, "no open stream " + std::to_string(r.getHandle()));
  it->second->throwIfFailed();
  it->second->update(r, out);
}

void Operations::streamFinal(Session& s, Request::StreamFinal::Reader r, Response out) {
  auto node = s.streams.extract(r.getHandle());
  if (!node)
    throw Refusal(ErrorCode::UNKNOWN_OPERATION, "no open stream " + std::to_string(r.getHandle()));
  node.mapped()->throwIfFailed();
  node.mapped()->final(r, out);
}

void Operations::streamAbort(Session& s, uint32_t handle) {
  if (!s.streams.erase(handle))
    throw Refusal(ErrorCode::UNKNOWN_OPERATION, "no open stream " + std::to_string(handle));
}

void Operations::streamClone(Session& s, uint32_t handle, Response out) {
  auto it = s.streams.find(handle);
  if (it == s.streams.end())
    throw Refusal(ErrorCode::UNKNOWN_OPERATION, "no open stream " + std::to_string(handle));
  requireStreamRoom(s);
  uint32_t copy = s.nextStreamHandle++;
  s.streams.emplace(copy, it->second->clone());
  out.setStream(copy);
}

}  // namespace vhsm::keyd
