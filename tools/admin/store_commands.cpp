// `init`, `backup` and `restore`. Only keyd writes stores, so init and restore run
// `vhsm-keyd --init` / `--restore` (found beside vhsm-admin, else on PATH); backup asks the
// running keyd for a snapshot.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tools/admin/context.hpp"

namespace vhsm::admin {
namespace {

std::string keydBinary() {
  if (const char* env = std::getenv("VHSM_KEYD")) return env;
  std::error_code ec;
  auto beside = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "vhsm-keyd";
  if (!ec && std::filesystem::exists(beside)) return beside;
  return "vhsm-keyd";
}

// Where a new store goes: the same options as vhsm-keyd's.
struct StoreTarget {
  std::string spec, etcdCa, etcdCert, etcdKey, etcdRecordKey, hostName;

  void addOptions(CLI::App* cmd) {
    cmd->add_option("--store", spec, "store: a directory (LMDB) or etcd://HOST:PORT[,...]/PREFIX")
        ->required();
    cmd->add_option("--etcd-cacert", etcdCa, "CA certificate of the etcd members");
    cmd->add_option("--etcd-cert", etcdCert, "client certificate for etcd");
    cmd->add_option("--etcd-key", etcdKey, "client certificate's key for etcd");
    cmd->add_option("--etcd-record-key", etcdRecordKey,
                    "file holding the cluster's record key (etcd; the same on every host)");
    cmd->add_option("--host-name", hostName,
                    "the host the store's container registrations belong to (etcd)");
  }
  std::vector<std::string> keydArguments() const {
    std::vector<std::string> args = {"--store", spec, "--log-level", "warn"};
    for (auto [flag, value] : {std::pair{"--etcd-cacert", &etcdCa},
                               {"--etcd-cert", &etcdCert},
                               {"--etcd-key", &etcdKey},
                               {"--etcd-record-key", &etcdRecordKey},
                               {"--host-name", &hostName}})
      if (!value->empty()) args.insert(args.end(), {flag, *value});
    return args;
  }
};

// Runs vhsm-keyd with args, input on its standard input.
void runKeyd(std::vector<std::string> args, const std::string& input, const char* what) {
  int pipeFds[2];
  if (pipe(pipeFds) != 0) throw std::runtime_error("pipe failed");
  std::string binary = keydBinary();
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipeFds[0], STDIN_FILENO);
    close(pipeFds[0]);
    close(pipeFds[1]);
    execvp(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipeFds[0]);
  [[maybe_unused]] auto n = write(pipeFds[1], input.data(), input.size());
  close(pipeFds[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
    throw std::runtime_error("cannot run " + binary);
  if (WEXITSTATUS(status) != 0) throw std::runtime_error(std::string(what) + " failed (see above)");
}

void addInit(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "create a store with the security officer root");
  auto target = std::make_shared<StoreTarget>();
  auto iterations = std::make_shared<uint32_t>(600'000);
  target->addOptions(cmd);
  cmd->add_option("--kdf-iterations", *iterations,
                  "PBKDF2 iterations (below 600000 only for tests)")
      ->check(CLI::Range(1000u, 100'000'000u))
      ->capture_default_str();
  cmd->callback([&ctx, target, iterations] {
    std::string password;
    if (!ctx.passwordFile.empty() || std::getenv("VHSM_PASSWORD"))
      password = actingPassword(ctx);
    else
      password = secretFromFileOrPrompt("", "New password for root", true);
    if (password.empty()) throw std::runtime_error("root's password must not be empty");
    auto args = target->keydArguments();
    args.insert(args.end(), {"--init", "--kdf-iterations", std::to_string(*iterations)});
    runKeyd(args, password, "store creation");
    printDone(ctx, "created store " + target->spec + " with security officer root");
  });
}

void addBackup(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "backup", "write a consistent backup of the whole store while keyd serves (SOs)");
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "the backup file (written whole, then renamed into place)")
      ->required();
  cmd->callback([&ctx, out] {
    auto& client = ctx.session();
    std::string temporary = *out + ".partial";
    // Wrapped records, but still the store: a new file only its owner reads, never one that
    // was there (or a link planted in its place).
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      throw std::runtime_error("cannot create " + temporary + ": " + std::strerror(errno) +
                               (errno == EEXIST ? " (left by an earlier run? remove it)" : ""));
    uint64_t size = 0, offset = 0;
    Bytes chunk;
    bool written = true;
    try {
      do {
        size = client.backupChunk(offset, chunk);
        for (size_t done = 0; written && done < chunk.size();) {
          ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
          if (n < 0 && errno == EINTR) continue;
          written = n > 0;
          done += written ? size_t(n) : 0;
        }
        if (written) offset += chunk.size();
      } while (written && offset < size && !chunk.empty());
      written = written && fsync(fd) == 0;
    } catch (...) {
      ::close(fd);
      std::filesystem::remove(temporary);
      throw;
    }
    written = ::close(fd) == 0 && written;
    if (!written || offset != size) {
      std::filesystem::remove(temporary);
      throw std::runtime_error("backup incomplete: " + std::to_string(offset) + " of " +
                               std::to_string(size) + " bytes written");
    }
    std::filesystem::rename(temporary, *out);
    // The rename itself durable too: the directory's entry.
    auto dir = std::filesystem::absolute(*out).parent_path();
    int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
      fsync(dirFd);
      ::close(dirFd);
    }
    printDone(ctx, "backup of " + std::to_string(size) + " bytes written to " + *out);
  });
}

void addRestore(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "restore", "restore a backup into a new store of either kind (keyd not running on it)");
  auto target = std::make_shared<StoreTarget>();
  auto in = std::make_shared<std::string>();
  cmd->add_option("--in", *in, "the backup file")->required()->check(CLI::ExistingFile);
  target->addOptions(cmd);
  cmd->callback([&ctx, target, in] {
    auto args = target->keydArguments();
    args.insert(args.end(), {"--restore", std::filesystem::absolute(*in).string()});
    runKeyd(args, "", "restore");
    printDone(ctx, "restored " + *in + " into " + target->spec);
  });
}

}  // namespace

void addStoreCommands(CLI::App& app, Context& ctx) {
  addInit(app, ctx);
  addBackup(app, ctx);
  addRestore(app, ctx);
}

}  // namespace vhsm::admin
