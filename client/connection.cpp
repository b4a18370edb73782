// The Client's connection: connect lazily, frame requests, match replies, reconnect after
// fork() or a keyd restart, time out instead of hanging.
#include <unistd.h>

#include <capnp/schema.h>

#include <thread>

#include "client/channel.hpp"
#include "client/client_impl.hpp"
#include "protocol/frame.hpp"

namespace vhsm {

using namespace std::chrono_literals;

std::string errorName(ErrorCode code) {
  auto enumerants = capnp::Schema::from<proto::ErrorCode>().getEnumerants();
  if (unsigned(code) < enumerants.size())
    return enumerants[unsigned(code)].getProto().getName().cStr();
  return "error" + std::to_string(unsigned(code));
}

Transport transportNamed(const std::string& name) {
  if (name == "unix") return Transport::unixSocket;
  if (name == "netlink") return Transport::netlink;
  throw Error(ErrorKind::refused, ErrorCode::INVALID_ARGUMENT,
              "unknown transport \"" + name + "\" (unix or netlink)");
}

Client::Impl::Impl(ClientOptions o)
    : options(std::move(o)),
      // Room for the largest frame after any transport header (netlink's is 16 bytes).
      receiveBufferSize((proto::kMaxFrame + 64 + 4095) / 4096 * 4096) {
  receiveBuffer.reset(static_cast<std::byte*>(std::aligned_alloc(4096, receiveBufferSize)));
  if (!receiveBuffer) throw std::bad_alloc();
}

Client::Impl::~Impl() {
  disconnect();
}

void Client::Impl::disconnect() {
  channel.reset();
  loggedIn = false;
}

void Client::Impl::connect() {
  channel = options.transport == Transport::netlink ? openNetlinkChannel(options)
                                                    : openUnixChannel(options, generation > 0);
  pid = getpid();
  ++generation;
  abandonedStreams.clear();  // they were the last connection's, and ended with it
}

namespace {

// keyd checks only a few password attempts of one user at a time; a login kept waiting for the
// others is refused with a retry time of a few milliseconds (longer ones mean failed
// passwords), and tried again here until the request timeout.
void retryWhileOthersLogIn(const std::function<void()>& login, std::chrono::milliseconds timeout) {
  constexpr uint32_t kBusyRetryMaxMillis = 100;
  auto giveUp = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      return login();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::refused || e.code() != ErrorCode::LOGIN_THROTTLED ||
          e.retryAfterMillis() == 0 || e.retryAfterMillis() > kBusyRetryMaxMillis ||
          std::chrono::steady_clock::now() >= giveUp)
        throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(e.retryAfterMillis()));
    }
  }
}

}  // namespace

void Client::Impl::ensureConnected() {
  // After fork() the child must not talk on its parent's socket: replies would go astray.
  if (channel && pid != getpid()) disconnect();
  if (channel) return;
  connect();
  if (credentials) {
    retryWhileOthersLogIn(
        [&] {
          exchange(
              [&](proto::Request::Builder r) {
                auto login = r.initLogin();
                login.setUser(credentials->user);
                login.setPassword(
                    kj::arrayPtr(reinterpret_cast<const kj::byte*>(credentials->password.data()),
                                 credentials->password.size()));
              },
              {}, false);
        },
        options.timeout);
    loggedIn = true;
  }
}

// Returns false when the frame could not be sent because the connection is dead (keyd went
// away): nothing reached keyd, so the caller may reconnect and send again.
bool Client::Impl::sendFrame(capnp::MessageBuilder& message, uint64_t requestId, uint16_t flags) {
  proto::FrameHeader header;
  header.requestId = requestId;
  header.flags = flags;
  proto::OutgoingFrame frame(header, message);
  if (frame.size() > proto::kMaxFrame)
    throw Error(ErrorKind::refused, ErrorCode::FRAME_TOO_LARGE,
                "request exceeds the maximum frame size");
  try {
    if (channel->send(frame.pieces(), requestId)) return true;
  } catch (const Error&) {
    disconnect();
    throw;
  }
  disconnect();
  return false;
}

void Client::Impl::receiveReply(uint64_t requestId, const ReadReply& read) {
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::span<std::byte> buffer(receiveBuffer.get(), receiveBufferSize);
  for (;;) {
    std::optional<std::span<std::byte>> frame;
    try {
      frame = std::chrono::steady_clock::now() < deadline ? channel->receive(buffer) : std::nullopt;
    } catch (const Error&) {
      // Whatever broke, the next request starts on a fresh channel and session.
      disconnect();
      throw;
    }
    if (!frame) {
      // A late reply would be mistaken for the next one's: start afresh.
      disconnect();
      throw transportError(ErrorKind::timeout, "vhsm-keyd did not answer within " +
                                                   std::to_string(options.timeout.count()) + " ms");
    }
    proto::FrameHeader header;
    if (proto::decodeHeader(*frame, header) != proto::FrameError::none ||
        header.type != proto::FrameType::response) {
      disconnect();
      throw transportError(ErrorKind::protocol, "malformed reply from vhsm-keyd");
    }
    if (header.requestId != requestId) continue;  // a reply to an abandoned request
    keydAnswered = true;
    kj::ArrayPtr<const capnp::word> words(
        reinterpret_cast<const capnp::word*>(frame->data() + proto::kHeaderSize),
        header.payloadLength / sizeof(capnp::word));
    try {
      auto message = proto::openMessage(words);
      auto response = message->getRoot<proto::Response>();
      if (auto code = api(response.getError()); code != ErrorCode::OK)
        throw Error(ErrorKind::refused, code,
                    response.getMessage().size() ? std::string(response.getMessage().cStr())
                                                 : errorName(code),
                    response.getRetryAfterMillis());
      if (read) read(response);
    } catch (const kj::Exception& e) {
      throw transportError(ErrorKind::protocol, std::string("malformed reply from vhsm-keyd: ") +
                                                    e.getDescription().cStr());
    }
    return;
  }
}

bool Client::Impl::exchange(const BuildRequest& build, const ReadReply& read, bool noReply) {
  proto::SmallMessageBuilder message;
  auto request = message.initRoot<proto::Request>();
  build(request);
  if (!abandonedStreams.empty()) {
    auto list = request.initAbandonedStreams(unsigned(abandonedStreams.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, abandonedStreams[i]);
  }
  uint64_t id = ++nextRequestId;
  if (!sendFrame(message, id, noReply ? proto::kFlagNoReply : 0)) return false;
  abandonedStreams.clear();
  if (!noReply) receiveReply(id, read);
  return true;
}

namespace {

// Requests that change nothing in keyd: when the connection breaks before their reply
// arrives (keyd restarting), asking again on a new connection is safe.
bool changesNothing(const BuildRequest& build) {
  capnp::MallocMessageBuilder message;
  build(message.initRoot<proto::Request>());
  using W = proto::Request::Which;
  switch (message.getRoot<proto::Request>().which()) {
    case W::PING:
    case W::WHOAMI:
    case W::BOUND_USERS:
    case W::USER_LIST:
    case W::CONTAINER_LIST:
    case W::KEY_LIST:
    case W::KEY_LIST_PAGE:
    case W::KEY_INFO:
    case W::KEY_PUBLIC:
    case W::KEY_CERTIFICATE:
    case W::HMAC:
    case W::DIGEST:
    case W::GCM_ENCRYPT:
    case W::GCM_DECRYPT:
    case W::SIGN:
    case W::AUDIT_LIST:
    case W::AUDIT_VERIFY: return true;
    default: return false;
  }
}

}  // namespace

// Whether an error says that the keyd we were talking to went away (and may come back).
bool Client::Impl::keydLost(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::disconnected: return true;
    // Netlink has no connection to break: no keyd registered after one had answered.
    case ErrorKind::unreachable: return keydAnswered;
    // Over netlink a restarted keyd knows nothing of our login: log in again.
    case ErrorKind::refused:
      if (options.transport == Transport::netlink && e.code() == ErrorCode::NOT_LOGGED_IN &&
          credentials && loggedIn) {
        disconnect();
        return true;
      }
      return false;
    default: return false;
  }
}

void Client::Impl::call(const BuildRequest& build, const ReadReply& read, bool noReply,
                        bool retry) {
  // A restarting keyd may still accept a connection it is about to close: a harmless request
  // is asked again until it is answered or the restart grace is over.
  auto giveUp = std::chrono::steady_clock::now() + options.restartGrace;
  for (int attempt = 0;; ++attempt) {
    ensureConnected();
    try {
      if (exchange(build, read, noReply)) return;
      // The connection was dead before the request left: nothing reached keyd.
      if (!retry || attempt > 0)
        throw transportError(ErrorKind::disconnected, "the connection to vhsm-keyd was lost");
    } catch (const Error& e) {
      bool again = retry && keydLost(e) && std::chrono::steady_clock::now() < giveUp &&
                   changesNothing(build);
      if (!again) throw;
      std::this_thread::sleep_for(20ms);
    }
  }
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

void ClientInternals::call(Client& client, const BuildRequest& build, const ReadReply& read) {
  std::lock_guard lock(client.impl_->mutex);
  client.impl_->call(build, read, false, true);
}

void ClientInternals::send(Client& client, const BuildRequest& build) {
  std::lock_guard lock(client.impl_->mutex);
  client.impl_->call(build, {}, true, false);
}

void Client::abandonStream(uint32_t handle, uint64_t generation) noexcept {
  std::lock_guard lock(impl_->mutex);
  if (impl_->generation != generation) return;  // the stream ended with its connection
  try {
    impl_->abandonedStreams.push_back(handle);
  } catch (const std::bad_alloc&) {
    // keyd drops it with the connection; until then it counts towards the connection's streams
  }
}

uint64_t Client::connectionGeneration() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->generation;
}

Bytes Client::exchangeRaw(ByteView frame) {
  std::lock_guard lock(impl_->mutex);
  impl_->ensureConnected();
  std::vector<std::span<const std::byte>> pieces{std::as_bytes(frame)};
  if (!impl_->channel->send(pieces, 0))
    throw transportError(ErrorKind::disconnected, "keyd closed the connection");
  Bytes buffer(proto::kMaxFrame + 64);
  auto reply = impl_->channel->receive(std::as_writable_bytes(std::span(buffer)));
  if (!reply) throw transportError(ErrorKind::timeout, "no reply");
  auto bytes = std::as_bytes(*reply);
  return Bytes(reinterpret_cast<const uint8_t*>(bytes.data()),
               reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size());
}

void Client::login(const std::string& user, std::string_view password) {
  std::lock_guard lock(impl_->mutex);
  impl_->credentials.reset();
  auto relogin = [&] {
    impl_->ensureConnected();
    if (impl_->loggedIn)
      impl_->call([](proto::Request::Builder r) { r.setLogout(); }, {}, false, true);
    impl_->loggedIn = false;
  };
  relogin();
  retryWhileOthersLogIn(
      [&] {
        impl_->call(
            [&](proto::Request::Builder r) {
              auto login = r.initLogin();
              login.setUser(user);
              login.setPassword(kj::arrayPtr(reinterpret_cast<const kj::byte*>(password.data()),
                                             password.size()));
            },
            {}, false, true);
      },
      impl_->options.timeout);
  impl_->loggedIn = true;
  impl_->credentials = Impl::Credentials{user, std::string(password)};
}

void Client::logout() {
  std::lock_guard lock(impl_->mutex);
  impl_->credentials.reset();
  if (impl_->channel && impl_->loggedIn && impl_->pid == getpid())
    impl_->call([](proto::Request::Builder r) { r.setLogout(); }, {}, false, false);
  impl_->loggedIn = false;
}

}  // namespace vhsm
