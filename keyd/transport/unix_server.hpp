// The Unix SOCK_SEQPACKET transport: one listening socket, a pool of worker threads that all
// wait on one epoll set (the kernel hands each ready connection to exactly one of them, so a
// request is served on the thread that was woken for it, with no hand-off), and per-connection
// back-pressure: a client that does not read its replies stops being read, and stalls nobody.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keyd/service/service.hpp"
#include "keyd/transport/unix_peer.hpp"

namespace vhsm::keyd {

struct UnixServerOptions {
  std::string socketPath;
  // Who may connect at all: the socket file's mode and group. Not world-writable by default,
  // so that an unrelated local user cannot even reach keyd's login throttle or connection
  // budget; a client group (e.g. "vhsm", with www-data in it) is given --socket-group.
  mode_t socketMode = 0660;
  std::string socketGroup;  // empty: keyd's own group
  unsigned threads = 4;
  ConnectionBudget budget;
  // A connection that has not logged in (or has logged out) this long is closed: unregistered
  // namespaces can do nothing but log in, and an idle connection only holds a budget slot.
  std::chrono::milliseconds loginTimeout{10000};
  // A client that leaves a reply unread this long is closed: its replies pin kernel memory.
  std::chrono::milliseconds stallTimeout{10000};
  unsigned maxBadFramesPerConnection = 16;
  unsigned framesPerWakeup = 16;  // then the connection yields to others
};

class UnixServer {
 public:
  UnixServer(Service& service, UnixServerOptions options);
  ~UnixServer();
  UnixServer(const UnixServer&) = delete;
  UnixServer& operator=(const UnixServer&) = delete;

  void start();
  // Safe from any thread; returns once every worker has stopped and every connection closed.
  void stop();

 private:
  struct Connection;

  void bindListener();
  void workerLoop();
  void acceptAll();
  void serve(Connection& c, uint32_t events);
  // Returns false when the connection must close.
  bool readFrames(Connection& c);
  // recv of a connection's first frame on a kernel without pidfds: 0 (close) unless its
  // sender is the process keyd identified at accept.
  ssize_t receiveFirst(Connection& c, std::span<std::byte> buffer);
  // replied: a reply went out. The client now waits for it, so there is nothing more to read
  // before epoll says so, and trying would cost a recv() per request for nothing.
  bool handleFrame(Connection& c, std::span<std::byte> frame, size_t fullSize, bool& replied);
  bool send(Connection& c, const std::vector<std::span<const std::byte>>& pieces, size_t size);
  bool flush(Connection& c);
  // sendmsg, raising the connection's send buffer once if the message is larger than it.
  ssize_t sendRoomy(Connection& c, const msghdr& msg);
  void rearm(Connection& c);
  void close(Connection& c);
  // Closes (by shutdown, which wakes the connection's own worker) those past a deadline.
  void sweep();

  Service& service_;
  UnixServerOptions options_;
  UnixPeers peers_;
  int listenFd_ = -1;
  int epollFd_ = -1;
  int stopFd_ = -1;
  int timerFd_ = -1;
  std::vector<std::thread> workers_;
  std::mutex connectionsMutex_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

}  // namespace vhsm::keyd
