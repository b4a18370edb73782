// The netlink transport (kmod/vhsm_transport.ko): keyd registers one netlink socket as the
// server, the module delivers every client's frame to it stamped with the client's network
// namespace, port and socket id, and delivers each reply to the socket those stamps name. There
// are no connections: a client is (namespace cookie, socket id) — never the port, which the
// kernel hands to the next socket before it reports the close — and its session lasts until
// the module reports that the client's socket closed.
//
// One thread receives and hands each frame to the worker that owns the client (chosen by a
// hash of its identity), so one client's frames are served in order and sessions need no
// lock, while a slow request (a login's PBKDF2) holds up only that worker's clients.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keyd/base/secure_memory.hpp"
#include "keyd/service/service.hpp"
#include "protocol/frame.hpp"

namespace vhsm::keyd {

struct NetlinkServerOptions {
  unsigned threads = 4;
  size_t maxSessions = 4096;
  // Per network namespace, so that one container cannot take every session or all the queue.
  size_t maxSessionsPerContainer = 256;
  size_t maxQueuedBytesPerContainer = 16 << 20;
  // Namespaces are free to make: all the unregistered ones together may queue this much and
  // hold this many sessions, so that none of them can take the room of a registered one.
  size_t maxQueuedBytesUnregistered = 16 << 20;
  size_t maxUnregisteredSessions = 64;
  unsigned maxBadFramesPerClient = 16;
  // A session that has not logged in ends this long after its last frame, as an idle Unix
  // connection is closed: a client that only holds sessions holds none for long.
  std::chrono::milliseconds loginTimeout{10000};
};

class NetlinkServer {
 public:
  NetlinkServer(Service& service, NetlinkServerOptions options);
  ~NetlinkServer();
  NetlinkServer(const NetlinkServer&) = delete;
  NetlinkServer& operator=(const NetlinkServer&) = delete;

  // Opens the socket and registers with the module; throws std::runtime_error saying why
  // the module refused (not loaded, another keyd registered, not the server namespace).
  void start();
  // Safe from any thread; returns once every thread has stopped.
  void stop();

 private:
  // Every field stamped by the module.
  struct ClientId {
    uint64_t cookie = 0;  // network namespace cookie
    uint64_t socket = 0;  // the module's id of the client socket, never reused
    uint32_t port = 0;    // netlink port id: the reply's route, not part of the identity
    uint32_t inode = 0;   // network namespace inode
    bool operator==(const ClientId& o) const { return cookie == o.cookie && socket == o.socket; }
  };
  struct ClientIdHash {
    size_t operator()(const ClientId& id) const {
      return id.cookie * 0x9e3779b97f4a7c15 ^ id.socket;
    }
  };
  using FrameBytes = std::vector<std::byte, LockedAllocator<std::byte>>;
  struct Job {
    enum class Kind { frame, overflow, gone } kind = Kind::frame;
    ClientId client;
    uint32_t sequence = 0;
    size_t fullSize = 0;  // the frame's size as received
    uint64_t budget = 0;  // whose queue budget the frame counts against
    FrameBytes frame;
  };
  struct Client;
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Job> jobs;
    std::vector<FrameBytes> spare;  // emptied frame buffers, kept to spare mlock calls
    std::unordered_map<ClientId, std::unique_ptr<Client>, ClientIdHash> clients;
    std::thread thread;
  };

  void registerServer();
  void receiveLoop();
  void enqueue(Job::Kind kind, ClientId client, uint32_t sequence, std::span<const std::byte> frame,
               size_t fullSize);
  void workerLoop(Worker& worker);
  void endIdleSessions(Worker& worker, std::chrono::steady_clock::time_point now);
  void serveFrame(Worker& worker, Job& job, std::chrono::steady_clock::time_point now);
  void refuseOverflow(Worker& worker, const Job& job);
  // Audits (rate-limited) and answers the job's frame with tooManyOperations.
  void refuseBusy(const Job& job, const char* why);
  Client* sessionFor(Worker& worker, const ClientId& id, const Job& job);
  void endSession(Worker& worker, const ClientId& id);
  void reply(const ClientId& client, uint32_t sequence, uint64_t requestId,
             capnp::MessageBuilder& message);
  Worker& workerFor(const ClientId& id);
  void releaseQueued(const Job& job);

  Service& service_;
  NetlinkServerOptions options_;
  int fd_ = -1;
  int stopFd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread receiver_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex countsMutex_;  // the per-container counters below, shared by every thread
  // Queued bytes by budget: a registered namespace's cookie, or kUnregisteredBudget.
  std::unordered_map<uint64_t, size_t> queuedBytes_;
  // The receiving thread's classification of cookies, valid for one containers epoch.
  uint64_t budgetFor(const ClientId& client);
  std::unordered_map<uint64_t, uint64_t> budgetByCookie_;
  uint64_t budgetEpoch_ = 0;
  std::unordered_map<uint64_t, size_t> sessionsPerContainer_;
  size_t sessions_ = 0;
};

}  // namespace vhsm::keyd
