// vhsm-keyd: serve a store to clients (default), or create one (--init, used by vhsm-admin).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "keyd/base/log.hpp"
#include "keyd/base/secure_memory.hpp"
#include "keyd/crypto/keyring.hpp"
#include "keyd/service/init_store.hpp"
#include "keyd/service/service.hpp"
#include "keyd/transport/metrics_server.hpp"
#include "keyd/transport/netlink_server.hpp"
#include "keyd/transport/unix_server.hpp"

using namespace vhsm;
using namespace vhsm::keyd;

namespace {

SecretBytes readPasswordFromStdin() {
  SecretBytes password;
  char c;
  while (read(STDIN_FILENO, &c, 1) == 1) password.push_back(uint8_t(c));
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  return password;
}

int runInit(const std::string& dir, uint32_t iterations) {
  if (iterations < kDefaultKdfIterations)
    logWarn("PBKDF2 with " + std::to_string(iterations) + " iterations (default " +
            std::to_string(kDefaultKdfIterations) + "): only for tests, passwords are weak");
  auto password = readPasswordFromStdin();
  if (password.empty()) {
    logError("no password for root on standard input");
    return 1;
  }
  initStore(dir, password, iterations);
  logInfo("created store " + dir + " with security officer root");
  return 0;
}

// One keyd per store: a second would race the first for nothing but confusion.
int lockStore(const std::string& dir) {
  std::string path = dir + "/keyd.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error("store " + dir + " is in use by another vhsm-keyd");
  return fd;
}

constexpr const char* kDefaultHostNetns = "/proc/1/ns/net";

// The namespace the container "host" names. Fails closed: when init's namespace cannot be read
// (keyd without the rights, or in a sandbox that hides pid 1), nothing is the host, rather
// than whatever shares keyd's own namespace. A path the operator names must work.
proto::NetnsIdentity hostNamespace(const std::string& path) {
  std::string problem;
  try {
    auto id = proto::netnsIdentity(path);
    if (id.cookie != 0) {
      logInfo("container host is the network namespace at " + path + " (inode " +
              std::to_string(id.inode) + ")");
      return id;
    }
    problem = "its net cookie cannot be read";
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (path != kDefaultHostNetns) throw std::runtime_error("--host-netns " + path + ": " + problem);
  logError("container host is disabled: cannot read " + path + " (" + problem +
           "); name the host's namespace with --host-netns PATH");
  return {};
}

// Every connection is a descriptor: the soft default (1024) would let a few hundred idle
// clients keep everyone else out long before keyd's own connection limits apply.
void raiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

struct Transports {
  bool unixSocket = true;
  bool netlink = false;
  std::string metricsSocket;  // empty: none
  bool auditSyslog = false;
};

int serve(const std::string& dir, const std::string& hostNetns, UnixServerOptions options,
          Transports transports) {
  // Before any thread starts (the audit writer starts with the Service): threads inherit the
  // mask, and a stop signal delivered to one that does not block it would end keyd at once.
  // Only the main thread takes them, via sigwait.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  hardenProcess();
  raiseDescriptorLimit();
  auto store = store::Store::open(dir);
  int lockFd = lockStore(dir);
  Service service(*store, hostNamespace(hostNetns), {}, std::filesystem::absolute(dir).string());
  if (transports.auditSyslog) service.mirrorAuditToSyslog();

  UnixServer unixServer(service, options);
  NetlinkServerOptions netlinkOptions;
  netlinkOptions.threads = options.threads;
  netlinkOptions.loginTimeout = options.loginTimeout;
  NetlinkServer netlinkServer(service, netlinkOptions);
  MetricsServer metricsServer(
      service, {transports.metricsSocket, SOCK_STREAM, options.socketGroup, options.socketMode});
  if (transports.unixSocket) unixServer.start();
  if (transports.netlink) netlinkServer.start();
  if (!transports.metricsSocket.empty()) metricsServer.start();
  logInfo("vhsm-keyd ready (store " + dir + ")");
  int signal = 0;
  sigwait(&stopSignals, &signal);
  logInfo(std::string("stopping on ") + strsignal(signal));
  metricsServer.stop();
  netlinkServer.stop();
  unixServer.stop();
  close(lockFd);
  logInfo("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // keyd's OpenSSL (AES-GCM) must never read an openssl.cnf: one naming vhsm would load the
  // provider into the daemon that serves it.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
  CLI::App app{"vhsm-keyd: the vhsm key daemon"};
  std::string storeDir, logLevel = "info", hostNetns = kDefaultHostNetns;
  UnixServerOptions options;
  options.socketPath = "/run/vhsm/keyd.sock";
  options.threads = std::max(4u, 2 * std::thread::hardware_concurrency());
  Transports transports;
  bool noSocket = false;
  bool init = false;
  uint32_t iterations = kDefaultKdfIterations;
  app.add_option("--store", storeDir, "store directory")->required();
  app.add_option("--socket", options.socketPath, "Unix socket to serve")->capture_default_str();
  app.add_flag("--netlink", transports.netlink,
               "also serve the netlink transport (the vhsm_transport kernel module)");
  app.add_flag("--no-socket", noSocket, "serve no Unix socket (with --netlink: netlink alone)");
  std::string socketMode = "0660";
  app.add_option("--socket-mode", socketMode, "the socket file's mode (octal)")
      ->capture_default_str();
  app.add_option("--socket-group", options.socketGroup,
                 "the socket file's group (default: keyd's own)");
  unsigned loginTimeout = 10;
  app.add_option("--login-timeout", loginTimeout,
                 "seconds a connection may stay without a login (and a reply unread)")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--host-netns", hostNetns,
                 "the namespace that container host names (/proc/self/ns/net: keyd's own)")
      ->capture_default_str();
  app.add_option("--metrics-socket", transports.metricsSocket,
                 "serve Prometheus metrics over HTTP on this Unix socket (same group and mode as "
                 "--socket)");
  app.add_flag("--audit-syslog", transports.auditSyslog,
               "also send each audit record to syslog (authpriv) as it is committed");
  app.add_option("--threads", options.threads, "worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--log-level", logLevel, "error, warn, info or debug")->capture_default_str();
  app.add_flag("--init", init, "create a new store; root's password comes on standard input");
  app.add_option("--kdf-iterations", iterations, "PBKDF2 iterations for --init")
      ->check(CLI::Range(1000u, 100'000'000u))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  transports.unixSocket = !noSocket;
  char* end = nullptr;
  unsigned long mode = std::strtoul(socketMode.c_str(), &end, 8);
  if (socketMode.empty() || *end || mode > 0777) {
    std::cerr << "vhsm-keyd: --socket-mode takes an octal mode such as 0660\n";
    return 2;
  }
  options.socketMode = mode_t(mode);
  options.loginTimeout = options.stallTimeout = std::chrono::seconds(loginTimeout);
  if (!init && !transports.unixSocket && !transports.netlink) {
    std::cerr << "vhsm-keyd: --no-socket leaves no transport; add --netlink\n";
    return 2;
  }
  LogLevel level;
  if (!parseLogLevel(logLevel, level)) {
    std::cerr << "vhsm-keyd: unknown log level " << logLevel << "\n";
    return 2;
  }
  setLogLevel(level);
  try {
    return init ? runInit(storeDir, iterations) : serve(storeDir, hostNetns, options, transports);
  } catch (const std::exception& e) {
    logError(e.what());
    return 1;
  }
}
