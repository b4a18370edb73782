#include "tests/support/keyd_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "protocol/identity.hpp"

namespace vhsm::test {

namespace fs = std::filesystem;

std::string keydBinary() {
  return VHSM_KEYD_BIN;
}
std::string adminBinary() {
  return VHSM_ADMIN_BIN;
}

namespace {

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  return out;
}

int exitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

// argv and environment (this process's plus additions) as exec wants them, built before
// fork: tests fork from many threads, and a child may only call async-signal-safe functions
// until it execs (a malloc could wait forever on a lock another thread held at fork).
struct ExecArgs {
  ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& env)
      : strings(env) {
    for (char** e = environ; *e; ++e) {
      std::string entry = *e;
      std::string name = entry.substr(0, entry.find('='));
      bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& add) {
        return add.compare(0, name.size() + 1, name + "=") == 0;
      });
      if (!replaced) strings.push_back(entry);
    }
    for (auto& e : strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
  }
  std::vector<std::string> strings;
  std::vector<char*> envp, args;
};

CommandResult runCommand(const std::vector<std::string>& argv, const std::string& input,
                         const std::vector<std::string>& env) {
  TempDir tmp;
  auto outPath = tmp.path() / "out", errPath = tmp.path() / "err";
  ExecArgs exec(argv, env);
  int in[2];
  if (pipe(in) != 0) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[0]);
    close(in[1]);
    int out = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    execve(exec.args[0], exec.args.data(), exec.envp.data());
    _exit(127);
  }
  close(in[0]);
  [[maybe_unused]] auto n = write(in[1], input.data(), input.size());
  close(in[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult r;
  r.status = exitCode(status);
  int fd = open(outPath.c_str(), O_RDONLY);
  r.out = drain(fd);
  close(fd);
  fd = open(errPath.c_str(), O_RDONLY);
  r.err = drain(fd);
  close(fd);
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     const std::filesystem::path& output) {
  ExecArgs exec(argv, env);
  pid_ = fork();
  if (pid_ == 0) {
    int out = open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out, 1);
    dup2(out, 2);
    setpgid(0, 0);  // its own group: servers' worker processes are stopped with it
    execve(exec.args[0], exec.args.data(), exec.envp.data());
    _exit(127);
  }
  setpgid(pid_, pid_);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ <= 0) return;
  // The whole group, whether or not its leader is still there: helpers it started (the
  // agent's PKCS#11 helper, servers' workers) are in it and may outlive it.
  ::kill(-pid_, SIGTERM);
  for (int i = 0; i < 100 && running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(-pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);  // ECHILD when running() reaped it already
}

bool BackgroundProcess::running() {
  int status;
  return pid_ > 0 && waitpid(pid_, &status, WNOHANG) == 0;
}

void BackgroundProcess::signal(int sig) {
  ::kill(pid_, sig);
}

std::vector<Mapping> mappingsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::vector<Mapping> result;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string first, perms, offset, device, inode, name;
    fields >> first;
    if (first.find('-') != std::string::npos && fields >> perms >> offset >> device >> inode) {
      fields >> name;
      result.push_back({name});
    } else if (first == "Rss:" && !result.empty()) {
      fields >> result.back().residentKb;
    } else if (first == "Locked:" && !result.empty()) {
      fields >> result.back().lockedKb;
    }
  }
  return result;
}

MemoryScan scanProcessMemory(pid_t pid, const std::vector<Bytes>& needles) {
  MemoryScan scan;
  scan.found.assign(needles.size(), false);
  size_t longest = 0;
  for (const auto& n : needles) longest = std::max(longest, n.size());
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::ifstream mem("/proc/" + std::to_string(pid) + "/mem", std::ios::binary);
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms;
    fields >> range >> perms;
    if (perms[0] != 'r' || line.find("[vvar]") != std::string::npos) continue;
    auto dash = range.find('-');
    uint64_t from = std::stoull(range.substr(0, dash), nullptr, 16);
    uint64_t to = std::stoull(range.substr(dash + 1), nullptr, 16);
    // Sanitizer shadow regions span terabytes of reserved, never-written memory: skip them.
    if (to - from > (uint64_t(1) << 30)) continue;
    // Read in chunks that overlap by a needle's length, so no match is split between two.
    constexpr uint64_t kChunk = 4 << 20;
    for (uint64_t at = from; at < to; at += kChunk) {
      uint64_t end = std::min(to, at + kChunk + longest);
      std::vector<char> bytes(end - at);
      mem.clear();
      mem.seekg(std::streamoff(at));
      if (!mem.read(bytes.data(), std::streamsize(bytes.size()))) break;
      scan.scannedBytes += bytes.size();
      for (size_t i = 0; i < needles.size(); ++i)
        scan.found[i] = scan.found[i] || std::search(bytes.begin(), bytes.end(), needles[i].begin(),
                                                     needles[i].end(), [](char a, uint8_t b) {
                                                       return uint8_t(a) == b;
                                                     }) != bytes.end();
    }
  }
  return scan;
}

size_t residentKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

int freePort() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &length) != 0)
    throw std::runtime_error("no free port");
  close(s);
  return ntohs(addr.sin_port);
}

bool waitForPort(int port) {
  for (int i = 0; i < 500; ++i) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port));
    bool up = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(s);
    if (up) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("vhsm-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Keyd::Keyd(uint32_t kdfIterations, MemoryLocking memoryLocking, std::vector<std::string> extraArgs)
    : store_(dir_.path() / "store"),
      log_(dir_.path() / "keyd.log"),
      socket_((dir_.path() / "keyd.sock").string()),
      memoryLocking_(memoryLocking),
      extraArgs_(std::move(extraArgs)) {
  std::vector<std::string> init = {keydBinary(),    "--init",      "--store",
                                   store_.string(), "--log-level", "error"};
  if (kdfIterations) init.insert(init.end(), {"--kdf-iterations", std::to_string(kdfIterations)});
  auto r = runCommand(init, kRootPassword);
  if (r.status != 0) throw std::runtime_error("keyd --init failed: " + r.err);
  start();
}

Keyd::Keyd(std::vector<std::string> storeArgs, bool init)
    : store_(dir_.path() / "store"),
      log_(dir_.path() / "keyd.log"),
      socket_((dir_.path() / "keyd.sock").string()),
      memoryLocking_(MemoryLocking::inherited),
      storeArgs_(std::move(storeArgs)) {
  if (init) {
    std::vector<std::string> args = {keydBinary(), "--init",           "--log-level",
                                     "error",      "--kdf-iterations", "1000"};
    args.insert(args.end(), storeArgs_.begin(), storeArgs_.end());
    auto r = runCommand(args, kRootPassword);
    if (r.status != 0) throw std::runtime_error("keyd --init failed: " + r.err);
  }
  start();
}

Keyd::~Keyd() {
  if (pid_ <= 0) return;
  try {
    stop();
  } catch (const std::exception& e) {
    // A keyd that failed to stop cleanly (a sanitizer report, a crash) fails the whole test
    // binary: a destructor cannot throw, and ignoring it would hide the failure.
    std::ifstream log(log_);
    std::cerr << "vhsm-keyd did not stop cleanly: " << e.what() << "\n--- keyd log ---\n"
              << log.rdbuf() << std::endl;
    std::_Exit(3);
  }
}

void Keyd::start() {
  // The test's namespace is the host: pid 1's may be unreadable (a sandbox), and keyd no
  // longer guesses.
  std::vector<std::string> args = {
      keydBinary(),  "--socket", socket_,        "--threads",        "4",
      "--log-level", "debug",    "--host-netns", "/proc/self/ns/net"};
  if (storeArgs_.empty())
    args.insert(args.end(), {"--store", store_.string()});
  else
    args.insert(args.end(), storeArgs_.begin(), storeArgs_.end());
  args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int log = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 2);
    if (memoryLocking_ == MemoryLocking::restricted) {
      rlimit small = {64 * 1024, 64 * 1024};
      setrlimit(RLIMIT_MEMLOCK, &small);
      // Out of the bounding set, root's exec does not grant it either.
      prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Ready once it answers a ping.
  for (int i = 0; i < 500; ++i) {
    try {
      client()->ping();
      return;
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("vhsm-keyd exited at start");
    }
  }
  throw std::runtime_error("vhsm-keyd did not come up");
}

void Keyd::stop() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (exitCode(status) != 0)
    throw std::runtime_error("vhsm-keyd exited with status " + std::to_string(exitCode(status)));
}

void Keyd::kill9() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::unique_ptr<Client> Keyd::client() const {
  ClientOptions options;
  options.socketPath = socket_;
  options.timeout = std::chrono::milliseconds(20000);
  return std::make_unique<Client>(options);
}

std::unique_ptr<Client> Keyd::root() const {
  auto c = client();
  c->login("root", kRootPassword);
  return c;
}

std::unique_ptr<Client> Keyd::newUser(const std::string& name, const std::string& password,
                                      std::vector<std::string> containers, UserFlags flags) {
  UserInfo info;
  info.name = name;
  info.flags = flags;
  info.containers = std::move(containers);
  root()->userCreate(info, password);
  auto c = client();
  if (std::find(info.containers.begin(), info.containers.end(), "host") != info.containers.end())
    c->login(name, password);
  return c;
}

NetnsIdentity netnsOf(pid_t pid) {
  return proto::netnsIdentity("/proc/" + std::to_string(pid) + "/ns/net");
}

int inNewNetns(const std::function<int()>& body, const std::function<void(pid_t)>& registered) {
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);
    char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
    [[maybe_unused]] auto w = write(ready[1], &c, 1);
    if (c != 'y') _exit(200);
    [[maybe_unused]] auto r = read(go[0], &c, 1);
    int rc = 201;
    try {
      rc = body();
    } catch (...) {
      rc = 202;
    }
    _exit(rc);
  }
  close(ready[1]);
  close(go[0]);
  char c = 0;
  [[maybe_unused]] auto r = read(ready[0], &c, 1);
  if (c != 'y') {
    waitpid(pid, nullptr, 0);
    throw std::runtime_error("unshare(CLONE_NEWNET) failed: run the tests as root");
  }
  try {
    if (registered) registered(pid);
  } catch (...) {
    // The child must not wait for a go that never comes.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(go[1]);
    close(ready[0]);
    throw;
  }
  [[maybe_unused]] auto w = write(go[1], "g", 1);
  close(go[1]);
  close(ready[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return exitCode(status);
}

}  // namespace vhsm::test
