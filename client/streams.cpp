// Streams: hash streams gather data and open a keyd stream only when it outgrows one frame;
// GCM streams open one at once, since every update returns output.
#include <algorithm>
#include <cstring>
#include <utility>

#include "client/channel.hpp"
#include "client/client_impl.hpp"
#include "protocol/frame.hpp"

namespace vhsm {

using Req = proto::Request::Builder;
using Rep = proto::Response::Reader;

namespace {

// A stream handle lives on one connection; a reconnect (fork, keyd restart) ends it.
struct OpenStream {
  Client& client;
  uint64_t generation = 0;
  uint32_t handle = 0;

  bool open() const { return handle != 0; }
  void checkAlive() const {
    if (client.connectionGeneration() != generation)
      throw Error(ErrorKind::disconnected, ErrorCode::UNKNOWN_OPERATION,
                  "the connection to vhsm-keyd was re-established; the stream is lost");
  }
  void start(const BuildRequest& build) {
    ClientInternals::call(client, build, [&](Rep r) { handle = r.getStream(); });
    generation = client.connectionGeneration();
  }
  // Sends streamFinal; the stream is over whatever keyd answers.
  void finish(const std::function<void(proto::Request::StreamFinal::Builder)>& fill,
              const ReadReply& read) {
    checkAlive();
    uint32_t ending = std::exchange(handle, 0);
    ClientInternals::call(
        client,
        [&](Req r) {
          auto f = r.initStreamFinal();
          f.setHandle(ending);
          fill(f);
        },
        read);
  }
  void abandon() noexcept {
    if (open()) client.abandonStream(std::exchange(handle, 0), generation);
  }
};

}  // namespace

struct HashStream::State {
  State(Client& c, std::string k, bool isHmac, HashAlgorithm a)
      : stream{c}, keyId(std::move(k)), hmac(isHmac), algorithm(a) {}
  OpenStream stream;
  std::string keyId;
  bool hmac;
  HashAlgorithm algorithm;
  Bytes pending;

  void fillInit(Req r, ByteView data) {
    auto init = r.initStreamInit();
    if (hmac) {
      auto h = init.initHmac();
      h.setKeyId(keyId);
      h.setAlgorithm(wire(algorithm));
      h.adoptData(bulk(h, data));
    } else {
      auto d = init.initDigest();
      d.setAlgorithm(wire(algorithm));
      d.adoptData(bulk(d, data));
    }
  }

  // Sends whole chunks of pending + more while more than a chunk is left (the last one goes
  // with final). Chunks are sent from `more` itself where they can be: a large update is not
  // copied into pending first.
  void feed(ByteView more) {
    if (!pending.empty() || more.size() <= proto::kMaxChunk) {
      size_t top = std::min(more.size(), proto::kMaxChunk - pending.size());
      pending.insert(pending.end(), more.begin(), more.begin() + ptrdiff_t(top));
      more = more.subspan(top);
      if (more.empty()) return;
      sendChunk(pending);
      pending.clear();
    }
    while (more.size() > proto::kMaxChunk) {
      sendChunk(more.first(proto::kMaxChunk));
      more = more.subspan(proto::kMaxChunk);
    }
    pending.assign(more.begin(), more.end());
  }

  void sendChunk(ByteView chunk) {
    if (!stream.open()) {
      stream.start([&](Req r) { fillInit(r, chunk); });
      return;
    }
    stream.checkAlive();
    ClientInternals::send(stream.client, [&](Req r) {
      auto u = r.initStreamUpdate();
      u.setHandle(stream.handle);
      u.adoptData(bulk(u, chunk));
    });
  }
};

HashStream::HashStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
HashStream::HashStream(HashStream&&) noexcept = default;
HashStream::~HashStream() {
  if (state_) state_->stream.abandon();
}

void HashStream::update(ByteView data) {
  state_->feed(data);
}

Bytes HashStream::final() {
  auto& s = *state_;
  if (!s.stream.open()) {
    // Everything fitted in one frame: one round trip, no stream at all.
    Bytes out = s.hmac ? s.stream.client.hmac(s.keyId, s.algorithm, s.pending)
                       : s.stream.client.digest(s.algorithm, s.pending);
    s.pending.clear();
    return out;
  }
  Bytes out;
  s.stream.finish([&](auto f) { f.adoptData(bulk(f, s.pending)); },
                  [&](Rep r) { out = toBytes(r.getBytes()); });
  s.pending.clear();
  return out;
}

HashStream HashStream::clone() const {
  const auto& s = *state_;
  auto copy = std::make_unique<State>(s.stream.client, s.keyId, s.hmac, s.algorithm);
  copy->pending = s.pending;
  if (s.stream.open()) {
    s.stream.checkAlive();
    copy->stream.start([&](Req r) { r.setStreamClone(s.stream.handle); });
  }
  return HashStream(std::move(copy));
}

HashStream Client::hmacStream(const std::string& keyId, HashAlgorithm algorithm) {
  return HashStream(std::make_unique<HashStream::State>(*this, keyId, true, algorithm));
}

HashStream Client::digestStream(HashAlgorithm algorithm) {
  return HashStream(std::make_unique<HashStream::State>(*this, "", false, algorithm));
}

// Opened lazily: the first data travels with the init (one round trip for init and first
// update), and a message with no data at all is one one-shot request at final.
struct GcmStream::State {
  State(Client& c, std::string k, ByteView v, bool e)
      : stream{c}, keyId(std::move(k)), iv(v.begin(), v.end()), encrypt(e) {}
  OpenStream stream;
  std::string keyId;
  Bytes iv;
  bool encrypt;
  Bytes pendingAad;
  Bytes tagSoFar;  // encryption: the tag if the message ended now

  // Opens the keyd stream carrying the AAD so far and `first` (which must fit beside it); its
  // output goes to out.
  void open(ByteView first, uint8_t* out) {
    bool aadFits = pendingAad.size() <= proto::kMaxChunk;
    ClientInternals::call(
        stream.client,
        [&](Req r) {
          auto init = r.initStreamInit();
          auto aad = aadFits ? capnpBytes(pendingAad) : kj::ArrayPtr<const kj::byte>();
          if (encrypt) {
            auto g = init.initGcmEncrypt();
            g.setKeyId(keyId);
            g.setIv(capnpBytes(iv));
            g.setAad(aad);
            g.adoptPlaintext(bulk(g, first));
            g.setTagSoFar(aadFits);
          } else {
            auto g = init.initGcmDecrypt();
            g.setKeyId(keyId);
            g.setIv(capnpBytes(iv));
            g.setAad(aad);
            g.adoptCiphertext(bulk(g, first));
          }
        },
        [&](Rep r) {
          stream.handle = r.getStream();
          copyOutput(r.getOutput(), first.size(), out);
          tagSoFar = toBytes(r.getTagSoFar());
        });
    stream.generation = stream.client.connectionGeneration();
    if (!aadFits) sendAad(pendingAad);
    pendingAad.clear();
  }

  // GCM output is exactly as long as its input: anything else is a broken reply, not data to
  // write past the caller's buffer.
  static void copyOutput(capnp::Data::Reader bytes, size_t expected, uint8_t* out) {
    if (bytes.size() != expected)
      throw transportError(ErrorKind::protocol, "AES-GCM reply of the wrong length from vhsm-keyd");
    std::memcpy(out, bytes.begin(), expected);
  }

  void sendAad(ByteView aad) {
    tagSoFar.clear();
    for (size_t at = 0; at < aad.size(); at += proto::kMaxChunk) {
      ByteView piece = aad.subspan(at, std::min(proto::kMaxChunk, aad.size() - at));
      stream.checkAlive();
      ClientInternals::call(stream.client, [&](Req r) {
        auto u = r.initStreamUpdate();
        u.setHandle(stream.handle);
        u.setAad(capnpBytes(piece));
      });
    }
  }
};

GcmStream::GcmStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
GcmStream::GcmStream(GcmStream&&) noexcept = default;
GcmStream::~GcmStream() {
  if (state_) state_->stream.abandon();
}

void GcmStream::aad(ByteView aad) {
  auto& s = *state_;
  if (s.stream.open())
    s.sendAad(aad);
  else
    s.pendingAad.insert(s.pendingAad.end(), aad.begin(), aad.end());
}

void GcmStream::update(ByteView data, uint8_t* out) {
  auto& s = *state_;
  size_t at = 0;
  if (!s.stream.open()) {
    size_t room =
        s.pendingAad.size() <= proto::kMaxChunk ? proto::kMaxChunk - s.pendingAad.size() : 0;
    at = std::min(room, data.size());
    s.open(data.first(at), out);
  }
  for (; at < data.size(); at += proto::kMaxChunk) {
    ByteView piece = data.subspan(at, std::min(proto::kMaxChunk, data.size() - at));
    bool last = at + piece.size() == data.size();
    s.stream.checkAlive();
    ClientInternals::call(
        s.stream.client,
        [&](Req r) {
          auto u = r.initStreamUpdate();
          u.setHandle(s.stream.handle);
          u.adoptData(bulk(u, piece));
          u.setTagSoFar(s.encrypt && last);
        },
        [&](Rep r) {
          State::copyOutput(r.getBytes(), piece.size(), out + at);
          s.tagSoFar = toBytes(r.getTagSoFar());
        });
  }
}

GcmStream GcmStream::clone() const {
  const auto& s = *state_;
  auto copy = std::make_unique<State>(s.stream.client, s.keyId, s.iv, s.encrypt);
  copy->pendingAad = s.pendingAad;
  if (s.stream.open()) {
    s.stream.checkAlive();
    copy->stream.start([&](Req r) { r.setStreamClone(s.stream.handle); });
  }
  return GcmStream(std::move(copy));
}

Bytes GcmStream::finalEncrypt(Bytes& tag, uint8_t tagLength) {
  auto& s = *state_;
  if (!s.stream.open()) {
    auto sealed = s.stream.client.gcmEncrypt(s.keyId, s.iv, s.pendingAad, {}, tagLength);
    tag = std::move(sealed.tag);
    return {};
  }
  if (!s.tagSoFar.empty() && tagLength >= 1 && tagLength <= s.tagSoFar.size()) {
    // Nothing came since the last update: its tag is the message's (a GCM tag of any length
    // is a prefix of the full one), and the keyd stream is simply dropped.
    tag.assign(s.tagSoFar.begin(), s.tagSoFar.begin() + tagLength);
    s.stream.abandon();
    return {};
  }
  Bytes out;
  s.stream.finish([&](auto f) { f.setTagLength(tagLength); },
                  [&](Rep r) {
                    out = toBytes(r.getGcm().getCiphertext());
                    tag = toBytes(r.getGcm().getTag());
                  });
  return out;
}

Bytes GcmStream::finalDecrypt(ByteView tag) {
  auto& s = *state_;
  if (!s.stream.open()) return s.stream.client.gcmDecrypt(s.keyId, s.iv, s.pendingAad, {}, tag);
  Bytes out;
  s.stream.finish([&](auto f) { f.setTag(capnpBytes(tag)); },
                  [&](Rep r) { out = toBytes(r.getBytes()); });
  return out;
}

GcmStream Client::gcmEncryptStream(const std::string& keyId, ByteView iv) {
  if (iv.empty())
    throw Error(ErrorKind::refused, ErrorCode::INVALID_ARGUMENT,
                "a streamed AES-GCM encryption needs an IV");
  return GcmStream(std::make_unique<GcmStream::State>(*this, keyId, iv, true));
}

GcmStream Client::gcmDecryptStream(const std::string& keyId, ByteView iv) {
  return GcmStream(std::make_unique<GcmStream::State>(*this, keyId, iv, false));
}

}  // namespace vhsm
