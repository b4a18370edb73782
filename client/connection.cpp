// The Client's connection: connect lazily, frame requests, match replies, reconnect after
// fork() or a keyd restart, time out instead of hanging.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/schema.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "client_impl.hpp"
#include "frame.hpp"

namespace vhsm {

using namespace std::chrono_literals;

std::string errorName(ErrorCode code) {
  auto enumerants = capnp::Schema::from<ErrorCode>().getEnumerants();
  if (unsigned(code) < enumerants.size())
    return enumerants[unsigned(code)].getProto().getName().cStr();
  return "error" + std::to_string(unsigned(code));
}

namespace {

Error transportError(ErrorKind kind, const std::string& what) {
  return Error(kind, ErrorCode::INTERNAL_ERROR, what);
}

int remainingMillis(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? int(left.count()) : 0;
}

}  // namespace

Client::Impl::Impl(ClientOptions o)
    : options(std::move(o)),
      receiveWords(kj::heapArray<capnp::word>(proto::kMaxFrame / sizeof(capnp::word))) {}

Client::Impl::~Impl() {
  disconnect();
}

void Client::Impl::disconnect() {
  if (fd >= 0) ::close(fd);
  fd = -1;
  loggedIn = false;
}

void Client::Impl::connectSocket() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (options.socketPath.size() >= sizeof addr.sun_path)
    throw transportError(ErrorKind::unreachable, "socket path too long: " + options.socketPath);
  std::memcpy(addr.sun_path, options.socketPath.c_str(), options.socketPath.size() + 1);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0)
    throw transportError(ErrorKind::unreachable, std::string("socket: ") + strerror(errno));
  auto giveUp = std::chrono::steady_clock::now() + (generation ? options.restartGrace : 0ms);
  while (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    bool restarting = e == ECONNREFUSED || e == ENOENT || e == EAGAIN;
    if (e == EINTR || (restarting && std::chrono::steady_clock::now() < giveUp)) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    ::close(s);
    throw transportError(ErrorKind::unreachable,
                         "cannot reach vhsm-keyd at " + options.socketPath + ": " + strerror(e));
  }
  // Sends of large frames must not hang on a keyd that stopped reading.
  timeval tv{};
  tv.tv_sec = options.timeout.count() / 1000;
  tv.tv_usec = (options.timeout.count() % 1000) * 1000;
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int buffer = 1 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  fd = s;
  pid = getpid();
  ++generation;
}

void Client::Impl::ensureConnected() {
  // After fork() the child must not talk on its parent's socket: replies would go astray.
  if (fd >= 0 && pid != getpid()) {
    ::close(fd);
    fd = -1;
    loggedIn = false;
  }
  if (fd >= 0) return;
  connectSocket();
  if (credentials) {
    exchange(
        [&](proto::Request::Builder r) {
          auto login = r.initLogin();
          login.setUser(credentials->user);
          login.setPassword(
              kj::arrayPtr(reinterpret_cast<const kj::byte*>(credentials->password.data()),
                           credentials->password.size()));
        },
        {}, false);
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
  std::vector<iovec> iov;
  for (auto piece : frame.pieces())
    iov.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  for (;;) {
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return true;
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
      disconnect();
      return false;
    }
    int e = errno;
    disconnect();
    throw transportError(e == EAGAIN ? ErrorKind::timeout : ErrorKind::disconnected,
                         std::string("sending to vhsm-keyd: ") + strerror(e));
  }
}

void Client::Impl::receiveReply(uint64_t requestId, const Read& read) {
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  auto* buffer = reinterpret_cast<std::byte*>(receiveWords.begin());
  size_t capacity = receiveWords.size() * sizeof(capnp::word);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, remainingMillis(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      // A late reply would be mistaken for the next one's: start afresh.
      disconnect();
      throw transportError(ErrorKind::timeout, "vhsm-keyd did not answer within " +
                                                   std::to_string(options.timeout.count()) + " ms");
    }
    ssize_t n = recv(fd, buffer, capacity, MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      disconnect();
      throw transportError(ErrorKind::disconnected,
                           "vhsm-keyd closed the connection during the request");
    }
    proto::FrameHeader header;
    if (size_t(n) > capacity ||
        proto::decodeHeader({buffer, size_t(n)}, header) != proto::FrameError::none ||
        header.type != proto::FrameType::response) {
      disconnect();
      throw transportError(ErrorKind::protocol, "malformed reply from vhsm-keyd");
    }
    if (header.requestId != requestId) continue;  // a reply to an abandoned request
    kj::ArrayPtr<const capnp::word> words(receiveWords.begin() + proto::kHeaderSize / 8,
                                          header.payloadLength / sizeof(capnp::word));
    try {
      auto message = proto::openMessage(words);
      auto response = message->getRoot<proto::Response>();
      if (response.getError() != ErrorCode::OK)
        throw Error(ErrorKind::refused, response.getError(),
                    response.getMessage().size() ? std::string(response.getMessage().cStr())
                                                 : errorName(response.getError()),
                    response.getRetryAfterMillis());
      if (read) read(response);
    } catch (const kj::Exception& e) {
      throw transportError(ErrorKind::protocol, std::string("malformed reply from vhsm-keyd: ") +
                                                    e.getDescription().cStr());
    }
    return;
  }
}

bool Client::Impl::exchange(const Build& build, const Read& read, bool noReply) {
  capnp::MallocMessageBuilder message;
  build(message.initRoot<proto::Request>());
  uint64_t id = ++nextRequestId;
  if (!sendFrame(message, id, noReply ? proto::kFlagNoReply : 0)) return false;
  if (!noReply) receiveReply(id, read);
  return true;
}

namespace {

// Requests that change nothing in keyd: when the connection breaks before their reply
// arrives (keyd restarting), asking again on a new connection is safe.
bool changesNothing(const Client::Build& build) {
  capnp::MallocMessageBuilder message;
  build(message.initRoot<proto::Request>());
  using W = proto::Request::Which;
  switch (message.getRoot<proto::Request>().which()) {
    case W::PING:
    case W::WHOAMI:
    case W::USER_LIST:
    case W::CONTAINER_LIST:
    case W::KEY_LIST:
    case W::KEY_INFO:
    case W::KEY_PUBLIC:
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

void Client::Impl::call(const Build& build, const Read& read, bool noReply, bool retry) {
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
      bool again = retry && e.kind() == ErrorKind::disconnected &&
                   std::chrono::steady_clock::now() < giveUp && changesNothing(build);
      if (!again) throw;
      std::this_thread::sleep_for(20ms);
    }
  }
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

void Client::call(const Build& build, const Read& read) {
  std::lock_guard lock(impl_->mutex);
  impl_->call(build, read, false, true);
}

void Client::send(const Build& build) {
  std::lock_guard lock(impl_->mutex);
  impl_->call(build, {}, true, false);
}

uint64_t Client::connectionGeneration() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->generation;
}

Bytes Client::exchangeRaw(ByteView frame) {
  std::lock_guard lock(impl_->mutex);
  impl_->ensureConnected();
  if (::send(impl_->fd, frame.data(), frame.size(), MSG_NOSIGNAL) < 0)
    throw transportError(ErrorKind::disconnected, strerror(errno));
  Bytes reply(proto::kMaxFrame);
  pollfd p{impl_->fd, POLLIN, 0};
  if (poll(&p, 1, int(impl_->options.timeout.count())) <= 0)
    throw transportError(ErrorKind::timeout, "no reply");
  ssize_t n = recv(impl_->fd, reply.data(), reply.size(), 0);
  if (n <= 0) {
    impl_->disconnect();
    throw transportError(ErrorKind::disconnected, "keyd closed the connection");
  }
  reply.resize(size_t(n));
  return reply;
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
  impl_->call(
      [&](proto::Request::Builder r) {
        auto login = r.initLogin();
        login.setUser(user);
        login.setPassword(
            kj::arrayPtr(reinterpret_cast<const kj::byte*>(password.data()), password.size()));
      },
      {}, false, true);
  impl_->loggedIn = true;
  impl_->credentials = Impl::Credentials{user, std::string(password)};
}

void Client::logout() {
  std::lock_guard lock(impl_->mutex);
  impl_->credentials.reset();
  if (impl_->fd >= 0 && impl_->loggedIn && impl_->pid == getpid())
    impl_->call([](proto::Request::Builder r) { r.setLogout(); }, {}, false, false);
  impl_->loggedIn = false;
}

}  // namespace vhsm
