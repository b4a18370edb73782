// Prometheus metrics on a Unix socket of their own (--metrics-socket): one small HTTP/1.0
// responder on one thread, apart from the request path, answering every request with the
// service's metrics text. A client gets at most a second to send its request, so a slow one
// delays the next scrape, never a key operation.
#pragma once

#include <string>
#include <thread>

#include "keyd/service/service.hpp"
#include "keyd/transport/socket_file.hpp"

namespace vhsm::keyd {

class MetricsServer {
 public:
  MetricsServer(Service& service, SocketFile file);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void start();
  void stop();

 private:
  void run();
  void answer(int fd);

  Service& service_;
  SocketFile file_;
  int listenFd_ = -1, stopFd_ = -1;
  std::thread thread_;
};

}  // namespace vhsm::keyd
