// A real vhsm-keyd on a temporary store, for integration tests: started on construction,
// stopped (SIGTERM) and its directory removed on destruction.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "client/client_impl.hpp"  // the API, and the protocol beneath it: tests speak both
#include "protocol/identity.hpp"

namespace vhsm::test {

struct CommandResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out, err;
};

// Runs argv[0] with input on standard input; environment additions as NAME=VALUE.
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input = {},
                         const std::vector<std::string>& env = {});

// A server a test starts (s_server, nginx, python): output to a file, SIGTERM then SIGKILL
// and reaped on destruction, so no test leaves one behind.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::filesystem::path& output);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);

 private:
  pid_t pid_;
};

// keyd's resident memory now (kB), from /proc.
size_t residentKb(pid_t pid);
#ifdef VHSM_SANITIZED
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// How much a keyd's resident memory may grow in a test that allows releaseKb in a release
// build: ASan keeps freed memory in a quarantine of up to 256 MB and maps shadow memory.
inline size_t memoryAllowanceKb(size_t releaseKb) {
  return kSanitizedBuild ? releaseKb + 512 * 1024 : releaseKb;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int freePort();
// Waits (up to 10 s) until something accepts connections on 127.0.0.1:port.
bool waitForPort(int port);

// Resident and locked memory of each mapping of a live process, from /proc/PID/smaps.
struct Mapping {
  std::string name;  // path, [heap], [stack], or empty for anonymous memory
  size_t residentKb = 0, lockedKb = 0;
};
std::vector<Mapping> mappingsOf(pid_t pid);

// Searches every readable mapping of a live process (/proc/PID/mem) for each needle.
struct MemoryScan {
  size_t scannedBytes = 0;
  std::vector<bool> found;
};
MemoryScan scanProcessMemory(pid_t pid, const std::vector<Bytes>& needles);

std::string keydBinary();
std::string adminBinary();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class Keyd {
 public:
  static constexpr const char* kRootPassword = "root-password";

  // How keyd may lock memory: as this process may, or as an unprivileged container would
  // (no CAP_IPC_LOCK, RLIMIT_MEMLOCK of 64 KiB).
  enum class MemoryLocking { inherited, restricted };

  // A new store with root, and keyd serving it. Tests use a cheap PBKDF2 (1000 iterations);
  // 0 keeps keyd's default (600 000).
  // extraArgs go to every start of keyd (e.g. --socket-mode 0666 for unprivileged clients).
  explicit Keyd(uint32_t kdfIterations = 1000,
                MemoryLocking memoryLocking = MemoryLocking::inherited,
                std::vector<std::string> extraArgs = {});
  // keyd on a store named by storeArgs (--store etcd://…, --etcd-*, --host-name), given at
  // every start; init: create that store first (root as above, 1000 iterations).
  Keyd(std::vector<std::string> storeArgs, bool init);
  ~Keyd();
  void start();
  void stop();   // SIGTERM and wait
  void kill9();  // SIGKILL and wait
  pid_t pid() const { return pid_; }
  const std::filesystem::path& store() const { return store_; }
  const std::string& socket() const { return socket_; }
  const std::filesystem::path& logFile() const { return log_; }

  std::unique_ptr<Client> client() const;
  std::unique_ptr<Client> root() const;  // logged in as root
  // Creates a key user (flags read,create,modify,delete unless given) and logs in as it.
  std::unique_ptr<Client> newUser(const std::string& name, const std::string& password,
                                  std::vector<std::string> containers = {"host"},
                                  UserFlags flags = {true, true, true, true, false});

 private:
  TempDir dir_;
  std::filesystem::path store_, log_;
  std::string socket_;
  MemoryLocking memoryLocking_;
  std::vector<std::string> extraArgs_;
  std::vector<std::string> storeArgs_;
  pid_t pid_ = -1;
};

// Runs body in a child process inside a new network namespace. `registered` runs in the parent
// with the child's pid once the namespace exists and before body starts (to add a container).
// Returns body's return value (the child's exit code).
// The network namespace identity of a process (for containerAdd in tests).
NetnsIdentity netnsOf(pid_t pid);

int inNewNetns(const std::function<int()>& body, const std::function<void(pid_t)>& registered = {});

}  // namespace vhsm::test
