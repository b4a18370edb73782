#include "keyd/transport/metrics_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "keyd/base/log.hpp"

namespace vhsm::keyd {

namespace {

constexpr size_t kMaxRequestBytes = 4096;
constexpr int kRequestTimeoutMillis = 1000;

bool sendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += size_t(n);
  }
  return true;
}

}  // namespace

MetricsServer::MetricsServer(Service& service, SocketFile file)
    : service_(service), file_(std::move(file)) {}

MetricsServer::~MetricsServer() {
  stop();
}

void MetricsServer::start() {
  listenFd_ = bindSocketFile(file_);
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0 || listen(listenFd_, 16) != 0)
    throw std::system_error(errno, std::generic_category(), "metrics socket " + file_.path);
  thread_ = std::thread([this] { run(); });
  logInfo("metrics on " + file_.path);
}

void MetricsServer::stop() {
  if (stopFd_ < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(stopFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(listenFd_);
  ::close(stopFd_);
  unlink(file_.path.c_str());
  listenFd_ = stopFd_ = -1;
}

void MetricsServer::run() {
  for (;;) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      logError("metrics: poll failed");
      return;
    }
    if (fds[1].revents) return;
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // A client that does not read the answer holds the thread a second at most.
    timeval timeout{kRequestTimeoutMillis / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    answer(fd);
    ::close(fd);
  }
}

// Reads the request head (whatever it asks, the answer is the metrics), then answers.
void MetricsServer::answer(int fd) {
  std::string request;
  char buffer[512];
  while (request.size() < kMaxRequestBytes && request.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kRequestTimeoutMillis) <= 0) return;
    ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) break;
    request.append(buffer, size_t(n));
  }
  std::string body;
  try {
    body = service_.prometheusMetrics();
  } catch (const std::exception& e) {
    logError(std::string("metrics: ") + e.what());
    sendAll(fd, "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  sendAll(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace vhsm::keyd
