// Client internals shared by the client's source files.
#pragma once

#include <capnp/message.h>
#include <capnp/orphan.h>
#include <sys/types.h>

#include <cstdlib>
#include <memory>

#include <vhsm/client.hpp>
#include "protocol/enum_mirror.hpp"
#include "protocol/vhsm.capnp.h"

namespace vhsm {

class Channel;

using proto::api;
using proto::wire;

using BuildRequest = std::function<void(proto::Request::Builder)>;
using ReadReply = std::function<void(proto::Response::Reader)>;

// What the client's own files (and tests of keyd's protocol) do with a Client beyond its API.
struct ClientInternals {
  // One request built by `build`, its reply read by `read` (only valid inside the callback).
  // Throws Error for an error reply.
  static void call(Client& client, const BuildRequest& build, const ReadReply& read = {});
  // Sends a frame without waiting for a reply (streamUpdate with the no-reply flag).
  static void send(Client& client, const BuildRequest& build);
};

struct Client::Impl {
  explicit Impl(ClientOptions options);
  ~Impl();

  void connect();
  void ensureConnected();
  void disconnect();
  bool sendFrame(capnp::MessageBuilder& message, uint64_t requestId, uint16_t flags);
  void receiveReply(uint64_t requestId, const ReadReply& read);
  bool exchange(const BuildRequest& build, const ReadReply& read, bool noReply);
  // retry: resend once on a fresh connection when the old one turned out dead before sending,
  // or broke before the reply to a request that changes nothing.
  void call(const BuildRequest& build, const ReadReply& read, bool noReply, bool retry);
  bool keydLost(const Error& e);

  struct Credentials {
    std::string user;
    std::string password;
  };

  ClientOptions options;
  mutable std::mutex mutex;
  std::unique_ptr<Channel> channel;
  pid_t pid = 0;
  uint64_t generation = 0;
  uint64_t nextRequestId = 0;
  bool loggedIn = false;
  bool keydAnswered = false;
  std::optional<Credentials> credentials;
  std::vector<uint32_t> abandonedStreams;  // this connection's, listed in the next request
  // Page-aligned: the kernel copies a large datagram out of page-aligned memory, and on some
  // CPUs that copy runs several times slower into a destination a few bytes past a page
  // boundary, where malloc puts a large block (bench/README.md).
  struct FreeAligned {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte[], FreeAligned> receiveBuffer;
  size_t receiveBufferSize;
};

inline kj::ArrayPtr<const kj::byte> capnpBytes(ByteView v) {
  return {v.data(), v.size()};
}
// Bulk data for a message field (adopt it: field.adoptData(bulk(field, data))). Whole words at a
// word boundary become a segment of their own, sent from the caller's memory: neither zeroed
// nor copied into the message first, which for 256 KiB chunks cost more than sending them.
// Anything else is copied as set would (a partial word would send the bytes past its end).
template <typename Builder>
capnp::Orphan<capnp::Data> bulk(Builder builder, ByteView data) {
  auto orphanage = capnp::Orphanage::getForMessageContaining(builder);
  bool ownSegment = data.size() >= 4096 && data.size() % sizeof(capnp::word) == 0 &&
                    reinterpret_cast<uintptr_t>(data.data()) % alignof(capnp::word) == 0;
  if (ownSegment) return orphanage.referenceExternalData(capnpBytes(data));
  return orphanage.newOrphanCopy(capnp::Data::Reader(capnpBytes(data)));
}

inline Bytes toBytes(capnp::Data::Reader d) {
  return Bytes(d.begin(), d.end());
}

}  // namespace vhsm
