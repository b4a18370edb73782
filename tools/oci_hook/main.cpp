// vhsm-oci-hook: an OCI runtime hook that binds a container's network namespace to its vhsm
// container name while the container runs. A restarted container has a new namespace, and a
// dead one's inode is reused by the kernel; so the name is bound again at each start
// (createRuntime: the namespace exists, the container's process has not started) and unbound
// at each stop (poststop), keeping the name, so that users stay bound to it. The runtime passes the
// container's state (pid, annotations) as JSON on standard input; the name is the annotation
// io.vhsm.container (podman
// --annotation, a Kubernetes pod annotation under CRI-O or containerd).
//
// The hook logs in to keyd as a security officer whose password file only root can read
// (/etc/vhsm/oci-hook.conf names it); `containers` there limits which names it may bind, since
// whoever can start a container with the hook can choose its annotation.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vhsm/client.hpp>

namespace {

constexpr const char* kAnnotation = "io.vhsm.container";
constexpr size_t kMaxState = 1 << 20;

struct HookConfig {
  std::string socket = "/run/vhsm/keyd.sock";
  std::string user = "oci-hook";
  std::string passwordFile = "/etc/vhsm/oci-hook.pw";
  std::set<std::string> containers;  // empty: any name
};

std::string trimmed(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  auto last = s.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

HookConfig readConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  HookConfig config;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = trimmed(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected key = value");
    auto key = trimmed(line.substr(0, eq)), value = trimmed(line.substr(eq + 1));
    if (key == "socket") {
      config.socket = value;
    } else if (key == "user") {
      config.user = value;
    } else if (key == "password-file") {
      config.passwordFile = value;
    } else if (key == "containers") {
      std::istringstream names(value);
      for (std::string name; names >> name;) config.containers.insert(name);
    } else {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": unknown key " + key);
    }
  }
  return config;
}

std::string readPassword(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the password file " + path);
  std::string password;
  std::getline(in, password);
  return password;
}

nlohmann::json readState() {
  std::string text(kMaxState + 1, '\0');
  std::cin.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(std::cin.gcount()));
  if (text.size() > kMaxState) throw std::runtime_error("the container state is over 1 MiB");
  return nlohmann::json::parse(text);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vhsm-oci-hook: bind a container's network namespace to its vhsm name"};
  std::string stage, configPath = "/etc/vhsm/oci-hook.conf";
  app.add_option("STAGE", stage, "createRuntime or poststop")
      ->required()
      ->check(CLI::IsMember({"createRuntime", "poststop"}));
  app.add_option("--config", configPath, "the hook's configuration")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::string name;
  try {
    auto state = readState();
    auto annotations = state.value("annotations", nlohmann::json::object());
    if (!annotations.contains(kAnnotation)) return 0;  // not a vhsm container
    name = annotations[kAnnotation].get<std::string>();
    auto config = readConfig(configPath);
    if (!config.containers.empty() && !config.containers.count(name))
      throw std::runtime_error("this hook may not bind the name " + name + " (containers in " +
                               configPath + ")");
    vhsm::ClientOptions options;
    options.socketPath = config.socket;
    vhsm::Client keyd(options);
    keyd.login(config.user, readPassword(config.passwordFile));
    if (stage == "createRuntime") {
      // One transaction replaces whatever the name named before (a container that died
      // without its poststop hook): at no moment does it name a namespace that is not this
      // container's.
      pid_t pid = state.value("pid", 0);
      if (pid <= 0) throw std::runtime_error("the container state has no pid");
      keyd.containerBindPid(name, pid);
    } else {
      keyd.containerUnbind(name);
    }
    return 0;
  } catch (const std::exception& e) {
    // At createRuntime this fails the container's start: better than a container that runs
    // without the name its keys are bound to, or under a stale one.
    std::cerr << "vhsm-oci-hook " << stage << (name.empty() ? "" : " " + name) << ": " << e.what()
              << "\n";
    return 1;
  }
}
