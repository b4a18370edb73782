#include "keyd/transport/netlink_server.hpp"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "keyd/base/log.hpp"
#include "keyd/transport/frame_handler.hpp"
#include "protocol/vhsm_netlink.h"

namespace vhsm::keyd {

namespace {

constexpr int kReceiveBufferBytes = 32 << 20;  // a burst from every client at once
constexpr int kSendBufferBytes = 4 << 20;      // several maximum-size replies
constexpr size_t kSpareBuffersPerWorker = 4;
// The session budget all unregistered namespaces share (no namespace has cookie 0).
constexpr uint64_t kUnregisteredBudget = 0;

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void setBuffer(int fd, int forced, int plain, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
}

std::string registrationFailure(int error) {
  switch (error) {
    case EPERM:
      return "netlink: vhsm_transport refused registration: this network namespace is not the "
             "one it serves (its server_netns parameter), or keyd lacks CAP_NET_ADMIN";
    case EBUSY: return "netlink: another vhsm-keyd is registered with vhsm_transport";
    default:
      return std::string("netlink: registering with vhsm_transport failed: ") + strerror(error);
  }
}

}  // namespace

struct NetlinkServer::Client {
  Client(Peer peer, uint64_t budget) : session(peer), budgetKey(budget) {}
  Session session;
  unsigned badFrames = 0;
  uint64_t budgetKey;  // the namespace's cookie, or kUnregisteredBudget
  std::chrono::steady_clock::time_point lastFrame = std::chrono::steady_clock::now();
};

NetlinkServer::NetlinkServer(Service& service, NetlinkServerOptions options)
    : service_(service), options_(options) {}

NetlinkServer::~NetlinkServer() {
  stop();
}

void NetlinkServer::start() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, VHSM_NETLINK_PROTOCOL);
  if (fd_ < 0 && errno == EPROTONOSUPPORT)
    throw std::runtime_error(
        "netlink: the vhsm_transport kernel module is not loaded (see kmod/README.md)");
  if (fd_ < 0) fail("netlink socket");
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) fail("netlink bind");
  setBuffer(fd_, SO_RCVBUFFORCE, SO_RCVBUF, kReceiveBufferBytes);
  setBuffer(fd_, SO_SNDBUFFORCE, SO_SNDBUF, kSendBufferBytes);
  int one = 1;
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  registerServer();
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) fail("eventfd");
  for (unsigned i = 0; i < options_.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    Worker& w = *workers_.back();
    w.thread = std::thread([this, &w] { workerLoop(w); });
  }
  receiver_ = std::thread([this] { receiveLoop(); });
  logInfo("serving the netlink transport (vhsm_transport) with " +
          std::to_string(options_.threads) + " workers");
}

void NetlinkServer::registerServer() {
  nlmsghdr request{};
  request.nlmsg_len = NLMSG_HDRLEN;
  request.nlmsg_type = VHSM_NL_REGISTER;
  request.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.nlmsg_seq = 1;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, &request, request.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0)
    fail("netlink register");
  alignas(nlmsghdr) char answer[NLMSG_HDRLEN + sizeof(nlmsgerr)];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) throw std::runtime_error("netlink: vhsm_transport did not answer");
    ssize_t n = recv(fd_, answer, sizeof answer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < ssize_t(sizeof answer)) fail("netlink register answer");
    auto* header = reinterpret_cast<nlmsghdr*>(answer);
    if (header->nlmsg_type != NLMSG_ERROR || header->nlmsg_seq != request.nlmsg_seq) continue;
    int error = -static_cast<nlmsgerr*>(NLMSG_DATA(header))->error;
    if (error != 0) throw std::runtime_error(registrationFailure(error));
    return;
  }
}

void NetlinkServer::stop() {
  if (fd_ < 0) return;
  if (stopFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(stopFd_, &one, sizeof one);
    if (receiver_.joinable()) receiver_.join();
    for (auto& w : workers_) {
      {
        std::lock_guard lock(w->mutex);
        stopping_ = true;
      }
      w->wake.notify_all();
      w->thread.join();
    }
    workers_.clear();
    ::close(stopFd_);
    stopFd_ = -1;
  }
  // Closing the socket ends the registration: the module forgets this keyd.
  ::close(fd_);
  fd_ = -1;
}

NetlinkServer::Worker& NetlinkServer::workerFor(const ClientId& id) {
  return *workers_[ClientIdHash{}(id) % workers_.size()];
}

void NetlinkServer::receiveLoop() {
  // Locked like every buffer that logins and key imports pass through.
  FrameBytes buffer(NLMSG_HDRLEN + proto::kMaxFrame);
  pollfd waits[2] = {{fd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
  uint64_t overflows = 0;
  std::chrono::steady_clock::time_point lastOverflowLog;
  for (;;) {
    if (poll(waits, 2, -1) < 0 && errno != EINTR) {
      logError(std::string("netlink poll: ") + strerror(errno));
      return;
    }
    if (waits[1].revents) return;
    sockaddr_nl from{};
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // MSG_TRUNC: the datagram's full size even when it did not fit.
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      // Each frame the module could not queue is reported: one line a second at most.
      if (errno == ENOBUFS && ++overflows &&
          std::chrono::steady_clock::now() - lastOverflowLog >= std::chrono::seconds(1)) {
        logWarn("netlink: keyd's receive queue overflowed (" + std::to_string(overflows) +
                " times since the last report); frames were lost");
        overflows = 0;
        lastOverflowLog = std::chrono::steady_clock::now();
      }
      continue;
    }
    // Only the module speaks to keyd; a process in keyd's own namespace could try too.
    if (from.nl_pid != 0 || size_t(n) < NLMSG_HDRLEN) continue;
    auto* header = reinterpret_cast<const nlmsghdr*>(buffer.data());
    size_t kept = std::min(size_t(n), buffer.size());
    auto body = std::span<const std::byte>(buffer).subspan(NLMSG_HDRLEN, kept - NLMSG_HDRLEN);
    if (header->nlmsg_type == VHSM_NL_FRAME && body.size() >= proto::kHeaderSize) {
      auto stamp = proto::transportFields(body);
      enqueue(Job::Kind::frame,
              {stamp.containerId, stamp.clientId, stamp.clientPort, stamp.containerInode},
              header->nlmsg_seq, body, size_t(n) - NLMSG_HDRLEN);
      // The worker has its own copy (wiped after use if it carried secrets); this one would
      // otherwise keep a password or an imported key until the next frame overwrites it.
      wipe(buffer.data(), kept);
    } else if (header->nlmsg_type == VHSM_NL_CLIENT_GONE &&
               body.size() >= sizeof(vhsm_nl_client_gone)) {
      vhsm_nl_client_gone gone;
      std::memcpy(&gone, body.data(), sizeof gone);
      enqueue(Job::Kind::gone, {gone.cookie, gone.client, gone.port, gone.inode}, 0, {}, 0);
    }
  }
}

uint64_t NetlinkServer::budgetFor(const ClientId& client) {
  // From the receiving thread only (its own cache, no lock); a store read per new cookie.
  if (uint64_t epoch = service_.containersEpoch();
      epoch != budgetEpoch_ || budgetByCookie_.size() >= options_.maxSessions) {
    budgetByCookie_.clear();
    budgetEpoch_ = epoch;
  }
  auto [it, added] = budgetByCookie_.try_emplace(client.cookie, client.cookie);
  if (added &&
      service_.classify({client.inode, client.cookie}) == Service::NamespaceClass::unregistered)
    it->second = kUnregisteredBudget;
  return it->second;
}

void NetlinkServer::enqueue(Job::Kind kind, ClientId client, uint32_t sequence,
                            std::span<const std::byte> frame, size_t fullSize) {
  uint64_t budget = kind == Job::Kind::frame ? budgetFor(client) : 0;
  if (kind == Job::Kind::frame) {
    std::lock_guard lock(countsMutex_);
    auto& queued = queuedBytes_[budget];
    size_t limit = budget == kUnregisteredBudget ? options_.maxQueuedBytesUnregistered
                                                 : options_.maxQueuedBytesPerContainer;
    if (queued + frame.size() > limit)
      kind = Job::Kind::overflow;
    else
      queued += frame.size();
  }
  Worker& w = workerFor(client);
  Job job{kind, client, sequence, fullSize, budget, {}};
  if (kind == Job::Kind::frame) {
    {
      std::lock_guard lock(w.mutex);
      if (!w.spare.empty()) {
        job.frame = std::move(w.spare.back());
        w.spare.pop_back();
      }
    }
    job.frame.assign(frame.begin(), frame.end());
  } else if (kind == Job::Kind::overflow) {
    job.frame.assign(frame.begin(), frame.begin() + proto::kHeaderSize);  // for the request id
  }
  {
    std::lock_guard lock(w.mutex);
    w.jobs.push_back(std::move(job));
  }
  w.wake.notify_one();
}

void NetlinkServer::workerLoop(Worker& w) {
  auto nextSweep = std::chrono::steady_clock::now() + options_.loginTimeout / 2;
  for (;;) {
    Job job;
    bool haveJob = false;
    {
      std::unique_lock lock(w.mutex);
      w.wake.wait_until(lock, nextSweep, [&] { return stopping_ || !w.jobs.empty(); });
      if (stopping_) break;
      if ((haveJob = !w.jobs.empty())) {
        job = std::move(w.jobs.front());
        w.jobs.pop_front();
      }
    }
    auto now = std::chrono::steady_clock::now();  // one clock read per job: sweep and stamp
    if (now >= nextSweep) {
      endIdleSessions(w, now);
      nextSweep = now + options_.loginTimeout / 2;
    }
    if (!haveJob) continue;
    switch (job.kind) {
      case Job::Kind::frame:
        serveFrame(w, job, now);
        releaseQueued(job);
        break;
      case Job::Kind::overflow: refuseOverflow(w, job); break;
      case Job::Kind::gone: endSession(w, job.client); break;
    }
    if (job.frame.capacity() == 0) continue;
    job.frame.clear();
    std::lock_guard lock(w.mutex);
    if (w.spare.size() < kSpareBuffersPerWorker) w.spare.push_back(std::move(job.frame));
  }
  while (!w.clients.empty()) endSession(w, w.clients.begin()->first);
}

void NetlinkServer::endIdleSessions(Worker& w, std::chrono::steady_clock::time_point now) {
  auto deadline = now - options_.loginTimeout;
  std::vector<ClientId> idle;
  for (auto& [id, client] : w.clients)
    if (!client->session.user && client->lastFrame < deadline) idle.push_back(id);
  for (auto& id : idle) endSession(w, id);
}

void NetlinkServer::releaseQueued(const Job& job) {
  std::lock_guard lock(countsMutex_);
  auto it = queuedBytes_.find(job.budget);
  if (it != queuedBytes_.end() && (it->second -= job.frame.size()) == 0) queuedBytes_.erase(it);
}

void NetlinkServer::serveFrame(Worker& w, Job& job, std::chrono::steady_clock::time_point now) {
  Client* client = sessionFor(w, job.client, job);
  if (!client) return;
  client->lastFrame = now;
  proto::SmallMessageBuilder message;
  auto outcome = handleFrame(service_, client->session, job.frame, job.fullSize, message);
  if (outcome.replyDue) reply(job.client, job.sequence, outcome.requestId, message);
  if (outcome.malformed && ++client->badFrames > options_.maxBadFramesPerClient) {
    logWarn("netlink: ending the session of port " + std::to_string(job.client.port) +
            ": too many malformed frames");
    endSession(w, job.client);
  }
}

NetlinkServer::Client* NetlinkServer::sessionFor(Worker& w, const ClientId& id, const Job& job) {
  auto it = w.clients.find(id);
  if (it != w.clients.end()) return it->second.get();
  Peer peer;
  peer.netns = {id.inode, id.cookie};
  bool unregistered = service_.classify(peer.netns) == Service::NamespaceClass::unregistered;
  uint64_t budget = unregistered ? kUnregisteredBudget : id.cookie;
  const char* refused = nullptr;
  {
    std::lock_guard lock(countsMutex_);
    auto& fromContainer = sessionsPerContainer_[budget];
    if (sessions_ >= options_.maxSessions)
      refused = "session limit reached";
    else if (fromContainer >=
             (unregistered ? options_.maxUnregisteredSessions : options_.maxSessionsPerContainer))
      refused = unregistered ? "too many clients from unregistered namespaces"
                             : "too many clients from this container";
    if (!refused) {
      ++fromContainer;
      ++sessions_;
    } else if (fromContainer == 0) {
      sessionsPerContainer_.erase(budget);
    }
  }
  if (!refused)
    return w.clients.emplace(id, std::make_unique<Client>(peer, budget)).first->second.get();
  refuseBusy(job, refused);
  return nullptr;
}

void NetlinkServer::refuseBusy(const Job& job, const char* why) {
  Session refusedSession(Peer{{job.client.inode, job.client.cookie}, 0, 0});
  service_.auditTransportRefusal(refusedSession, proto::ErrorCode::TOO_MANY_OPERATIONS, why);
  proto::SmallMessageBuilder message;
  auto r = message.initRoot<proto::Response>();
  r.setError(proto::ErrorCode::TOO_MANY_OPERATIONS);
  r.setMessage(why);
  reply(job.client, job.sequence, proto::transportFields(job.frame).requestId, message);
}

// Frames were dropped: a lost no-reply chunk would silently change a stream's result, so the
// client's session ends and its next request starts afresh (and fails if it needed the old).
void NetlinkServer::refuseOverflow(Worker& w, const Job& job) {
  endSession(w, job.client);
  refuseBusy(job, "too many requests queued from this container");
}

void NetlinkServer::endSession(Worker& w, const ClientId& id) {
  auto client = w.clients.find(id);
  if (client == w.clients.end()) return;
  uint64_t budget = client->second->budgetKey;
  w.clients.erase(client);
  std::lock_guard lock(countsMutex_);
  --sessions_;
  auto it = sessionsPerContainer_.find(budget);
  if (it != sessionsPerContainer_.end() && --it->second == 0) sessionsPerContainer_.erase(it);
}

void NetlinkServer::reply(const ClientId& client, uint32_t sequence, uint64_t requestId,
                          capnp::MessageBuilder& message) {
  proto::FrameHeader header;
  header.type = proto::FrameType::response;
  header.requestId = requestId;
  // The module routes the reply by these: to the socket that asked, if it is still open.
  header.clientPort = client.port;
  header.containerInode = client.inode;
  header.containerId = client.cookie;
  header.clientId = client.socket;
  sendReply(header, message, [&](const proto::OutgoingFrame& out) {
    nlmsghdr nl{};
    nl.nlmsg_len = uint32_t(NLMSG_HDRLEN + out.size());
    nl.nlmsg_type = VHSM_NL_FRAME;
    nl.nlmsg_flags = NLM_F_REQUEST;
    nl.nlmsg_seq = sequence;
    std::vector<iovec> iov{{&nl, NLMSG_HDRLEN}};
    for (auto piece : out.pieces())
      iov.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    msghdr msg{};
    msg.msg_name = &kernel;
    msg.msg_namelen = sizeof kernel;
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    if (sendmsg(fd_, &msg, MSG_NOSIGNAL) >= 0) return true;
    logWarn(std::string("netlink: a reply could not be sent: ") + strerror(errno));
    return false;
  });
}

}  // namespace vhsm::keyd
