// `init`: a new store. Only keyd writes stores, so this runs `vhsm-keyd --init` (found beside
// vhsm-admin, else on PATH) and hands it root's password on a pipe.
#include <sys/wait.h>
#include <unistd.h>

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

void runInit(const std::string& store, const std::string& password, uint32_t iterations) {
  int pipeFds[2];
  if (pipe(pipeFds) != 0) throw std::runtime_error("pipe failed");
  std::string binary = keydBinary();
  std::string iterationsText = std::to_string(iterations);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipeFds[0], STDIN_FILENO);
    close(pipeFds[0]);
    close(pipeFds[1]);
    execlp(binary.c_str(), binary.c_str(), "--init", "--store", store.c_str(), "--kdf-iterations",
           iterationsText.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipeFds[0]);
  [[maybe_unused]] auto n = write(pipeFds[1], password.data(), password.size());
  close(pipeFds[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
    throw std::runtime_error("cannot run " + binary);
  if (WEXITSTATUS(status) != 0) throw std::runtime_error("store creation failed (see above)");
}

}  // namespace

void addInitCommand(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "create a store with the security officer root");
  auto store = std::make_shared<std::string>();
  auto iterations = std::make_shared<uint32_t>(600'000);
  cmd->add_option("--store", *store, "store directory")->required();
  cmd->add_option("--kdf-iterations", *iterations,
                  "PBKDF2 iterations (below 600000 only for tests)")
      ->check(CLI::Range(1000u, 100'000'000u))
      ->capture_default_str();
  cmd->callback([&ctx, store, iterations] {
    std::string password;
    if (!ctx.passwordFile.empty() || std::getenv("VHSM_PASSWORD"))
      password = actingPassword(ctx);
    else
      password = secretFromFileOrPrompt("", "New password for root", true);
    if (password.empty()) throw std::runtime_error("root's password must not be empty");
    runInit(*store, password, *iterations);
    printDone(ctx, "created store " + *store + " with security officer root");
  });
}

}  // namespace vhsm::admin
