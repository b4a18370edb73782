#include "keyd/transport/unix_server.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "keyd/base/log.hpp"
#include "keyd/base/secure_memory.hpp"
#include "keyd/transport/frame_handler.hpp"
#include "keyd/transport/socket_file.hpp"
#include "keyd/transport/unix_peer.hpp"
#include "protocol/frame.hpp"

namespace vhsm::keyd {

namespace {

// A connection starts with the kernel's default send buffer (net.core.wmem_default): enough for
// every small reply, and all an unread connection can pin. A reply too large for it (GCM
// output, key listings) raises the buffer to one maximum-size frame for that connection.
constexpr int kLargeSendBufferBytes = int(proto::kMaxFrame);

// Connections not yet accepted may already hold their requests in the kernel (up to the
// client's send buffer each), so the backlog bounds what a flood of connects can pin before
// keyd has seen them; keyd accepts far faster than 128 at a time, and a client's blocking
// connect waits for room rather than failing.
constexpr int kListenBacklog = 128;

// Markers for the non-connection entries of the epoll set.
char listenTag, stopTag, timerTag;

int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// The per-thread receive buffer: word aligned so Cap'n Proto reads the payload in place, and
// locked like every other secret, since logins and key imports arrive through it.
std::span<std::byte> receiveBuffer() {
  struct Buffer {
    Buffer() : bytes(static_cast<std::byte*>(allocateLocked(proto::kMaxFrame))) {}
    ~Buffer() { freeLocked(bytes, proto::kMaxFrame); }
    std::byte* bytes;
  };
  static thread_local Buffer buffer;
  return {buffer.bytes, proto::kMaxFrame};
}

}  // namespace

struct UnixServer::Connection {
  Connection(int f, Peer peer) : fd(f), session(peer), unauthenticatedSince(nowMillis()) {}
  ~Connection() { ::close(fd); }
  int fd;
  Session session;
  std::deque<std::vector<std::byte>> outbox;  // replies the client has not made room for yet
  unsigned badFrames = 0;
  bool closing = false;
  bool largeSendBuffer = false;
  bool verifyFirstFrame = false;  // see UnixPeers::Arrival
  // For sweep(), which reads them under connectionsMutex_ while the serving worker writes
  // them: its accept or last frame while not logged in, and when its replies went unread (0:
  // logged in, or nothing unread).
  std::atomic<int64_t> unauthenticatedSince, stalledSince{0};
};

UnixServer::UnixServer(Service& service, UnixServerOptions options)
    : service_(service),
      options_(std::move(options)),
      peers_(options_.budget,
             [&service](const proto::NetnsIdentity& netns) { return service.classify(netns); }) {}

UnixServer::~UnixServer() {
  stop();
}

void UnixServer::bindListener() {
  listenFd_ = bindSocketFile(
      {options_.socketPath, SOCK_SEQPACKET, options_.socketGroup, options_.socketMode});
  // Without pidfds, the first frame's credentials are checked (UnixPeers::Arrival). Accepted
  // sockets inherit SO_PASSCRED from the listener, so even a frame sent between accept and
  // any setsockopt carries them.
  int on = 1;
  if (!UnixPeers::kernelHasPeerPidfd() &&
      setsockopt(listenFd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0)
    fail("SO_PASSCRED");
  if (listen(listenFd_, kListenBacklog) != 0) fail("listen");
}

void UnixServer::start() {
  bindListener();
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epollFd_ < 0 || stopFd_ < 0) fail("epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &listenTag;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, listenFd_, &ev) != 0) fail("epoll_ctl listen");
  ev.events = EPOLLIN;  // level-triggered and never re-armed: wakes every worker to exit
  ev.data.ptr = &stopTag;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, stopFd_, &ev) != 0) fail("epoll_ctl stop");
  timerFd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  auto period = std::min(options_.loginTimeout, options_.stallTimeout) / 4;
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::max(period, std::chrono::milliseconds(50)))
                   .count();
  itimerspec tick{{nanos / 1000000000, nanos % 1000000000},
                  {nanos / 1000000000, nanos % 1000000000}};
  if (timerFd_ < 0 || timerfd_settime(timerFd_, 0, &tick, nullptr) != 0) fail("timerfd");
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &timerTag;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, timerFd_, &ev) != 0) fail("epoll_ctl timer");
  for (unsigned i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { workerLoop(); });
  logInfo("listening on " + options_.socketPath + " with " + std::to_string(options_.threads) +
          " workers");
}

void UnixServer::stop() {
  if (stopFd_ < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(stopFd_, &one, sizeof one);
  for (auto& t : workers_) t.join();
  workers_.clear();
  for (auto& [raw, c] : connections_) peers_.leave(c->session.peer);
  connections_.clear();
  ::close(listenFd_);
  ::close(epollFd_);
  ::close(stopFd_);
  ::close(timerFd_);
  stopFd_ = -1;
  unlink(options_.socketPath.c_str());
}

void UnixServer::workerLoop() {
  epoll_event events[8];
  for (;;) {
    int n = epoll_wait(epollFd_, events, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      logError(std::string("epoll_wait: ") + std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &stopTag) return;
      if (tag == &listenTag) {
        acceptAll();
        continue;
      }
      if (tag == &timerTag) {
        sweep();
        continue;
      }
      serve(*static_cast<Connection*>(tag), events[i].events);
    }
  }
}

void UnixServer::acceptAll() {
  for (;;) {
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR)
        logWarn(std::string("accept: ") + std::strerror(errno));
      break;
    }
    UnixPeers::Arrival arrival;
    try {
      arrival = peers_.arrive(fd);
    } catch (const std::exception& e) {
      logWarn(std::string("refusing a connection whose peer cannot be identified: ") + e.what());
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>(fd, arrival.peer);
    Connection* raw = c.get();
    if (const char* refused = arrival.refused) {
      logDebug(std::string(refused) + "; refusing pid " + std::to_string(c->session.peer.pid));
      // Audited within the per-container rate limit, by the audit writer: no reply waits.
      service_.auditConnectionRefusal(c->session, refused);
      continue;
    }
    raw->verifyFirstFrame = arrival.verifyFirstFrame;
    {
      std::lock_guard lock(connectionsMutex_);
      connections_.emplace(raw, std::move(c));
    }
    logDebug("connection from pid " + std::to_string(raw->session.peer.pid) + " netns " +
             std::to_string(raw->session.peer.netns.inode));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = raw;
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) close(*raw);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &listenTag;
  epoll_ctl(epollFd_, EPOLL_CTL_MOD, listenFd_, &ev);
}

void UnixServer::serve(Connection& c, uint32_t events) {
  bool keep = !(events & EPOLLERR) && flush(c);
  if (keep && c.outbox.empty()) keep = readFrames(c);
  if (keep && !c.closing) {
    // Since when its replies have gone unread (0: none are).
    if (c.outbox.empty())
      c.stalledSince.store(0, std::memory_order_relaxed);
    else if (c.stalledSince.load(std::memory_order_relaxed) == 0)
      c.stalledSince.store(nowMillis(), std::memory_order_relaxed);
    rearm(c);
  } else {
    close(c);
  }
}

void UnixServer::sweep() {
  uint64_t ticks;
  [[maybe_unused]] auto n = read(timerFd_, &ticks, sizeof ticks);
  auto now = nowMillis();
  auto past = [now](int64_t since, std::chrono::milliseconds limit) {
    return since != 0 && now - since > limit.count();
  };
  {
    std::lock_guard lock(connectionsMutex_);
    for (auto& [raw, c] : connections_) {
      const char* why = past(c->unauthenticatedSince, options_.loginTimeout) ? "did not log in"
                        : past(c->stalledSince, options_.stallTimeout)       ? "left replies unread"
                                                                             : nullptr;
      if (!why) continue;
      logDebug(std::string("closing connection from pid ") + std::to_string(c->session.peer.pid) +
               ": " + why);
      // The worker serving it (now or at its next event) sees the end and closes it.
      shutdown(c->fd, SHUT_RDWR);
    }
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &timerTag;
  epoll_ctl(epollFd_, EPOLL_CTL_MOD, timerFd_, &ev);
}

bool UnixServer::readFrames(Connection& c) {
  auto buffer = receiveBuffer();
  for (unsigned i = 0; i < options_.framesPerWakeup && c.outbox.empty(); ++i) {
    // MSG_TRUNC makes recv report a datagram's full size even when it did not fit.
    ssize_t n = c.verifyFirstFrame
                    ? receiveFirst(c, buffer)
                    : recv(c.fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    size_t kept = std::min(size_t(n), buffer.size());
    bool replied = false;
    if (!handleFrame(c, buffer.first(kept), size_t(n), replied)) return false;
    // The login deadline runs from the last frame of a connection that is not logged in, so a
    // login kept waiting behind others (LOGIN_THROTTLED, retry soon) is not cut off.
    // Relaxed: sweep() only compares it with a deadline seconds away; a logged-in connection
    // (the hot path) reads the clock and writes nothing.
    if (!c.session.user)
      c.unauthenticatedSince.store(nowMillis(), std::memory_order_relaxed);
    else if (c.unauthenticatedSince.load(std::memory_order_relaxed) != 0)
      c.unauthenticatedSince.store(0, std::memory_order_relaxed);
    if (replied) break;
  }
  return true;
}

ssize_t UnixServer::receiveFirst(Connection& c, std::span<std::byte> buffer) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(c.fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
  if (n <= 0) return n;
  // Frames sent before keyd accepted carry credentials too: the kernel adds them when the
  // receiving socket has not been accepted yet.
  pid_t sender = 0;
  for (cmsghdr* h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(h), sizeof cred);
      sender = cred.pid;
    }
  if (!UnixPeers::sameSender(c.session.peer, sender)) {
    logWarn("closing a connection whose first frame came from pid " + std::to_string(sender) +
            ", not the connecting pid " + std::to_string(c.session.peer.pid) +
            " in its namespace (the pid may have been reused)");
    return 0;
  }
  c.verifyFirstFrame = false;
  int off = 0;
  setsockopt(c.fd, SOL_SOCKET, SO_PASSCRED, &off, sizeof off);
  return n;
}

bool UnixServer::handleFrame(Connection& c, std::span<std::byte> frame, size_t fullSize,
                             bool& replied) {
  proto::SmallMessageBuilder reply;
  auto outcome = keyd::handleFrame(service_, c.session, frame, fullSize, reply);
  if (outcome.malformed && ++c.badFrames > options_.maxBadFramesPerConnection) {
    logWarn("closing connection from pid " + std::to_string(c.session.peer.pid) +
            ": too many malformed frames");
    c.closing = true;
  }
  if (!outcome.replyDue) return true;
  replied = true;

  proto::FrameHeader replyHeader;
  replyHeader.type = proto::FrameType::response;
  replyHeader.requestId = outcome.requestId;
  return sendReply(replyHeader, reply, [&](const proto::OutgoingFrame& out) {
    return send(c, out.pieces(), out.size());
  });
}

bool UnixServer::send(Connection& c, const std::vector<std::span<const std::byte>>& pieces,
                      size_t size) {
  if (c.outbox.empty()) {
    iovec iov[16];
    size_t count = std::min(pieces.size(), std::size(iov));
    for (size_t i = 0; i < count; ++i)
      iov[i] = {const_cast<std::byte*>(pieces[i].data()), pieces[i].size()};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    if (count == pieces.size()) {
      if (sendRoomy(c, msg) >= 0) return true;
      if (errno != EAGAIN) return false;
    }
  }
  // The client is not reading: keep the reply and stop reading its requests until it does.
  std::vector<std::byte> copy;
  copy.reserve(size);
  for (auto piece : pieces) copy.insert(copy.end(), piece.begin(), piece.end());
  c.outbox.push_back(std::move(copy));
  return true;
}

ssize_t UnixServer::sendRoomy(Connection& c, const msghdr& msg) {
  ssize_t n = sendmsg(c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0 && errno == EMSGSIZE && !c.largeSendBuffer) {
    c.largeSendBuffer = true;
    if (setsockopt(c.fd, SOL_SOCKET, SO_SNDBUFFORCE, &kLargeSendBufferBytes,
                   sizeof kLargeSendBufferBytes))
      setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &kLargeSendBufferBytes, sizeof kLargeSendBufferBytes);
    n = sendmsg(c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  return n;
}

bool UnixServer::flush(Connection& c) {
  while (!c.outbox.empty()) {
    auto& frame = c.outbox.front();
    iovec iov{frame.data(), frame.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (sendRoomy(c, msg) < 0) return errno == EAGAIN;
    c.outbox.pop_front();
  }
  return true;
}

void UnixServer::rearm(Connection& c) {
  epoll_event ev{};
  ev.events = (c.outbox.empty() ? EPOLLIN : EPOLLOUT) | EPOLLONESHOT;
  ev.data.ptr = &c;
  if (epoll_ctl(epollFd_, EPOLL_CTL_MOD, c.fd, &ev) != 0) close(c);
}

void UnixServer::close(Connection& c) {
  epoll_ctl(epollFd_, EPOLL_CTL_DEL, c.fd, nullptr);
  peers_.leave(c.session.peer);
  std::lock_guard lock(connectionsMutex_);
  connections_.erase(&c);
}

}  // namespace vhsm::keyd
