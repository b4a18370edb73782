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
#include <fstream>
#include <iostream>
#include <thread>

#include "keyd/audit/audit.hpp"
#include "keyd/base/log.hpp"
#include "keyd/base/secure_memory.hpp"
#include "keyd/crypto/keyring.hpp"
#include "keyd/service/init_store.hpp"
#include "keyd/service/service.hpp"
#include "keyd/store_location.hpp"
#include "keyd/transport/metrics_server.hpp"
#include "keyd/transport/netlink_server.hpp"
#include "keyd/transport/unix_server.hpp"
#include "store/backup.hpp"

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

int runInit(const StoreLocation& location, uint32_t iterations) {
  if (iterations < kDefaultKdfIterations)
    logWarn("PBKDF2 with " + std::to_string(iterations) + " iterations (default " +
            std::to_string(kDefaultKdfIterations) + "): only for tests, passwords are weak");
  auto password = readPasswordFromStdin();
  if (password.empty()) {
    logError("no password for root on standard input");
    return 1;
  }
  initStore(*location.open(true), password, iterations);
  logInfo("created store " + location.spec + " with security officer root");
  return 0;
}

// A backup (vhsm-admin backup) into a new store of either kind; the audit chain must verify
// in the store it made, or the restore fails.
int runRestore(const StoreLocation& location, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto backup = store::readBackup(bytes);
  auto store = location.open(true);
  store::restoreBackup(backup, *store);
  store->write([&](store::WriteTxn& txn) {
    appendAudit(txn, {"", "host", "restore", std::filesystem::path(file).filename().string(),
                      proto::ErrorCode::OK,
                      std::to_string(backup.users.size()) + " users, " +
                          std::to_string(backup.keys.size()) + " keys, " +
                          std::to_string(backup.audit.size()) + " audit records"});
  });
  auto verdict = store->read([](const store::ReadTxn& txn) { return verifyAudit(txn); });
  if (!verdict.ok)
    throw std::runtime_error("restored store's audit chain is broken at record " +
                             std::to_string(verdict.firstBadSequence));
  logInfo("restored " + std::to_string(backup.users.size()) + " users, " +
          std::to_string(backup.keys.size()) + " keys and " + std::to_string(verdict.records) +
          " audit records into " + location.spec);
  return 0;
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

int serve(const StoreLocation& location, const std::string& hostNetns, UnixServerOptions options,
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
  auto store = location.open(false);
  std::string storeName =
      location.shared() ? location.spec : std::filesystem::absolute(location.spec).string();
  Service service(*store, hostNamespace(hostNetns), {}, storeName,
                  location.shared() ? location.hostName : "");
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
  if (auto problem = store->problem(); !problem.empty())
    logWarn("vhsm-keyd serving, not ready: " + problem);
  else
    logInfo("vhsm-keyd ready (store " + storeName + ")");
  int signal = 0;
  sigwait(&stopSignals, &signal);
  logInfo(std::string("stopping on ") + strsignal(signal));
  metricsServer.stop();
  netlinkServer.stop();
  unixServer.stop();
  logInfo("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // keyd's OpenSSL (AES-GCM) must never read an openssl.cnf: one naming vhsm would load the
  // provider into the daemon that serves it.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
  CLI::App app{"vhsm-keyd: the vhsm key daemon"};
  StoreLocation location;
  location.hostName = defaultHostName();
  std::string logLevel = "info", hostNetns = kDefaultHostNetns, restoreFile;
  UnixServerOptions options;
  options.socketPath = "/run/vhsm/keyd.sock";
  options.threads = std::max(4u, 2 * std::thread::hardware_concurrency());
  Transports transports;
  bool noSocket = false;
  bool init = false;
  uint32_t iterations = kDefaultKdfIterations;
  app.add_option("--store", location.spec,
                 "store: a directory (LMDB) or etcd://HOST:PORT[,HOST:PORT...]/PREFIX")
      ->required();
  app.add_option("--etcd-cacert", location.etcdCa, "CA certificate of the etcd members (TLS)");
  app.add_option("--etcd-cert", location.etcdCert, "client certificate for etcd");
  app.add_option("--etcd-key", location.etcdKey, "client certificate's key for etcd");
  app.add_option("--etcd-record-key", location.etcdRecordKey,
                 "file holding the cluster's record key (32+ random bytes, mode 0600, the same "
                 "on every host; never stored in etcd)");
  app.add_option("--host-name", location.hostName,
                 "this host's name on a shared store: its container registrations and audit "
                 "records carry it")
      ->capture_default_str();
  app.add_option("--restore", restoreFile,
                 "restore a backup (vhsm-admin backup) into a new store, then exit");
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
  if (!init && restoreFile.empty() && !transports.unixSocket && !transports.netlink) {
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
    if (init) return runInit(location, iterations);
    if (!restoreFile.empty()) return runRestore(location, restoreFile);
    return serve(location, hostNetns, options, transports);
  } catch (const std::exception& e) {
    logError(e.what());
    return 1;
  }
}
